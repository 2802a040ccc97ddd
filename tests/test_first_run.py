"""First run with no account file: the console says where it belongs and offers ways to start."""

from __future__ import annotations

import stat
from functools import partial
from pathlib import Path

from ui_support import main_screen, row, settle, shown_emails

from console import cli
from console.core.config import load_config
from console.core.runner import Runner
from console.core.secrets import MemorySecrets
from console.ui.app import MailConsoleApp
from console.ui.screens.main import START_DEMO

EXAMPLE = Path(__file__).parent.parent / "accounts.example.toml"


def footer_keys(app: MailConsoleApp) -> set[str]:
    return {b.binding.action for b in app.active_bindings.values() if b.enabled and b.binding.show}


async def test_no_file_explains_where_and_offers_three_ways(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "accounts.toml"
    app = MailConsoleApp(path, state_dir=tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        text = " ".join(main_screen(app).pane.text.split())
        assert str(path) in text
        assert "a add the first account" in text
        assert "c copy the documented example (accounts.example.toml)" in text
        assert "D try the demo" in text
        assert {"copy_example", "start_demo"} <= footer_keys(app)


async def test_copying_the_example_puts_it_in_place_opens_and_checks_it(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "accounts.toml"
    # the example names real providers' servers: this session may reach none of them
    nowhere = partial(Runner, allowed_hosts=frozenset({"127.0.0.1"}))
    app = MailConsoleApp(
        path, state_dir=tmp_path, runner_factory=nowhere, secrets=MemorySecrets({})
    )
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        screen = main_screen(app)
        expected = [a.email for a in load_config(EXAMPLE).accounts]
        assert shown_emails(app) == expected
        assert {"copy_example", "start_demo"}.isdisjoint(footer_keys(app))
        await settle(app, pilot)  # checked as start-up would have checked them
        for email in expected:
            assert row(app, email)["state"] != "○ unchecked"
        assert "was not contacted" in " ".join(screen.pane.text.split())
    assert path.read_bytes() == EXAMPLE.read_bytes()  # comments and all
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_the_demo_key_leaves_for_the_demo(tmp_path: Path) -> None:
    app = MailConsoleApp(tmp_path / "accounts.toml", state_dir=tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("D")
        await pilot.pause()
    assert app.return_value == START_DEMO == cli.START_DEMO


async def test_an_existing_file_offers_no_first_run_keys(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text('[[account]]\nemail = "a@acme.example"\n', encoding="utf-8")
    app = MailConsoleApp(path, state_dir=tmp_path, check_on_start=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("c", "D")
        await pilot.pause()
        assert app.is_running
        assert {"copy_example", "start_demo"}.isdisjoint(footer_keys(app))
    assert path.read_text(encoding="utf-8") == '[[account]]\nemail = "a@acme.example"\n'
