"""console/core is the engine of both the TUI and the headless CLI: it must never import textual."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import console.core

CORE = Path(console.core.__file__).parent
REPO = CORE.parent.parent


def core_modules() -> list[str]:
    names = []
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def imported_roots(path: Path) -> set[str]:
    """Top-level package names a module imports, anywhere in it (also inside functions)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_walk_finds_the_core() -> None:
    modules = core_modules()
    assert "console.core" in modules
    assert "console.core.model" in modules
    assert "console.core.secrets" in modules


def test_no_core_module_imports_textual() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted(CORE.rglob("*.py"))
        if "textual" in imported_roots(path)
    ]
    assert offenders == []


def test_importing_every_core_module_loads_no_textual() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {core_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
