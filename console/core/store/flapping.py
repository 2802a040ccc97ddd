"""Flapping: an account whose state changed `changes` times within `window` is flapping.

Defaults: 4 changes in 24 hours (ok -> broken -> ok -> broken within a day). Both are set in the
account file's [settings] as `flap_changes` and `flap_window_hours`. A flapping account's changes
are not reported as news each time (`check --changed`, the console's "changed" order): it is
marked flapping instead, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

DEFAULT_FLAP_CHANGES = 4
DEFAULT_FLAP_WINDOW_HOURS = 24


@dataclass(frozen=True)
class FlapPolicy:
    changes: int = DEFAULT_FLAP_CHANGES
    window_hours: int = DEFAULT_FLAP_WINDOW_HOURS

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    def flapping(self, changes_in_window: int) -> bool:
        return changes_in_window >= self.changes

    def newly_flapping(self, changes_in_window: int) -> bool:
        """This change is the one that made the account flapping (reported once)."""
        return changes_in_window == self.changes
