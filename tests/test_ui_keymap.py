"""The user's keymap file rebinds keys by binding id; mistakes are said, not fatal."""

from __future__ import annotations

from pathlib import Path

from ui_support import main_screen

from console.core.secrets import MemorySecrets
from console.ui.app import MailConsoleApp
from console.ui.keymap import binding_ids, load_keymap


def test_unknown_ids_get_a_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "keymap.toml"
    path.write_text('[keymap]\n"table.edt" = "E"\n"table.retest" = "r,f5"\n"app.quit" = 3\n')
    keymap = load_keymap(path, binding_ids())
    assert keymap.keys == {"table.retest": "r,f5"}
    assert any('did you mean "table.edit"' in p for p in keymap.problems)
    assert any("app.quit must be keys" in p for p in keymap.problems)
    assert load_keymap(tmp_path / "none.toml", binding_ids()).keys == {}


def test_known_ids_cover_the_main_keys() -> None:
    assert {"table.edit", "table.filter", "editor.save", "app.quit", "detail.leave"} <= (
        binding_ids()
    )


async def test_a_rebound_key_opens_the_form(tmp_path: Path) -> None:
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keymap]\n"table.edit" = "E"\n"table.bogus" = "x"\n')
    path = tmp_path / "accounts.toml"
    path.write_text('[[account]]\nemail = "a@acme.example"\n')
    app = MailConsoleApp(
        path,
        secrets=MemorySecrets(),
        store_secret=lambda settings, password: None,
        check_on_start=False,
        state_dir=tmp_path,
        keymap_path=keymap,
    )
    async with app.run_test(size=(100, 30)) as pilot:
        screen = main_screen(app)
        await pilot.press("e")
        await pilot.pause()
        assert screen.pane.editor is None  # e no longer edits
        await pilot.press("E")
        await pilot.pause()
        assert screen.pane.editor is not None
        messages = " ".join(n.message for n in app._notifications)
        assert "table.bogus" in messages
