"""The reply canary in the console: it asks first (naming how many messages), shows the phase in
the table and the pane, then the verdict with its fix; a declined question sends nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed
from ui_support import highlight, main_screen, row, settle

from console.core.runner import Runner
from console.lab.demo import DEMO_HOSTS, DemoLab
from console.ui.app import MailConsoleApp
from console.ui.screens.confirm import ConfirmScreen


@pytest.fixture
def demo() -> Iterator[DemoLab]:
    with DemoLab() as lab:
        yield lab


def demo_app(demo: DemoLab, state_dir: Path) -> MailConsoleApp:
    return MailConsoleApp(
        demo.config_path,
        secrets=demo.secrets,
        store_secret=demo.secrets.set,
        runner_factory=partial(Runner, allowed_hosts=DEMO_HOSTS),
        allowed_hosts=DEMO_HOSTS,  # as `mailconsole --demo` does: the demo's short arrival wait
        state_dir=state_dir,
    )


async def canaries_done(app: MailConsoleApp, pilot: Pilot[None]) -> None:
    for worker in list(main_screen(app).canary.workers):
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await worker.wait()
    await pilot.pause()


async def test_the_console_asks_first_and_a_no_sends_nothing(demo: DemoLab, tmp_path: Path) -> None:
    app = demo_app(demo, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        await highlight(app, pilot, "kim@initech.example")
        await pilot.press("C")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "Send 1 reply canary message (from kim@initech.example)" in str(
            dialog.query_one("#question").render()
        )
        await pilot.press("n")
        await pilot.pause()
        assert not main_screen(app).canary.workers
        assert demo.mailstore.delivered == []


async def test_the_selection_gets_canaries_with_phase_and_verdict(
    demo: DemoLab, tmp_path: Path
) -> None:
    app = demo_app(demo, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        screen = main_screen(app)
        for email in ("kim@initech.example", "lou@initech.example"):
            screen.table.move_to(email)
            await pilot.press("space")
        await pilot.press("C")
        await pilot.pause()
        assert "Send 2 reply canary messages" in str(app.screen.query_one("#question").render())
        await pilot.press("y")
        for _ in range(100):  # the phase shows while it runs (the hold is 6 s in the demo)
            await pilot.pause(0.1)
            if "holding" in row(app, "kim@initech.example")["cause"]:
                break
        assert "left" in row(app, "kim@initech.example")["cause"]
        await canaries_done(app, pilot)
        assert row(app, "kim@initech.example")["cause"] == "canary ok"
        assert "Reply landed in Spam" in row(app, "lou@initech.example")["cause"]
        assert "conditional" in row(app, "lou@initech.example")["state"]
        await highlight(app, pilot, "lou@initech.example")
        shown = str(screen.pane.query_one("#detail-view").render())
        assert "Reply canary: Reply landed in Spam" in shown
        assert "How to fix it" in shown
        assert len(demo.mailstore.delivered) == 2


async def test_the_console_records_the_canary(demo: DemoLab, tmp_path: Path) -> None:
    from console.core.store import ResultsStore, results_path

    app = demo_app(demo, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        main_screen(app).start_canary([main_screen(app).board["ned@initech.example"].account])
        await canaries_done(app, pilot)
    with ResultsStore.open(results_path(folder=tmp_path)) as store:
        last = store.last_known(["ned@initech.example"])["ned@initech.example"]
    assert last.check.canary is not None
    assert last.check.canary["cause"] == "reply_not_received"
