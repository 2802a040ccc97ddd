"""Messages from background work to the UI: workers post these, handlers own the widgets."""

from __future__ import annotations

from textual.message import Message


class RunnerEventsPending(Message):
    """The runner queued events for the UI; one of these stands for any number of them.

    Posting one message per event would flood the queue with thousands of accounts; the handler
    drains the whole inbox and repaints the changed rows in one batch.
    """

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunnerEventsPending)
