"""Flapping: an account whose state changed `flap_changes` times within `flap_window_hours`.

Defaults (model.Settings): 4 changes in 24 hours, i.e. ok -> broken -> ok -> broken within a day.
Both are set in the account file's [settings]. A flapping account's changes are not reported as
news each time (`check --changed`, the console's "changed" order): it is reported once, when it
starts flapping, and marked flapping while it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from console.core.model import Settings


@dataclass(frozen=True)
class FlapPolicy:
    changes: int = Settings.flap_changes
    window_hours: int = Settings.flap_window_hours

    @classmethod
    def of(cls, settings: Settings) -> FlapPolicy:
        return cls(settings.flap_changes, settings.flap_window_hours)

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    def flapping(self, changes_in_window: int) -> bool:
        return changes_in_window >= self.changes

    def news(self, changes_in_window: int) -> bool:
        """A change is news unless the account flaps (the change that starts it is news)."""
        return changes_in_window <= self.changes
