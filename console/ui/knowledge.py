"""The diagnosis knowledge as the console shows it; titles are cached (every repaint asks)."""

from __future__ import annotations

from functools import lru_cache

from console.core.diagnosis import REPLY_TRACKING_CHECKLIST, STATE_MEANING, Advice, advise
from console.core.model import Account, Cause, CheckResult, Protocol, State
from console.core.oauth.explain import TOKEN_TITLES
from console.core.providers import resolve_provider
from console.core.runner import SESSION_HOSTS_ONLY


@lru_cache(maxsize=2048)
def explain(cause: Cause, protocol: Protocol, provider: str | None) -> Advice:
    return advise(cause, protocol, provider)


OUTSIDE_SESSION = "Not contacted (demo)"
"""The title of a check the demo refused to make: the settings were never tried."""


def cause_title(result: CheckResult) -> str:
    """The short title for a failed check (the table's cause column); no provider needed."""
    if result.cause is None:
        return ""
    if SESSION_HOSTS_ONLY in result.facts:
        return OUTSIDE_SESSION
    token_title = TOKEN_TITLES.get(str(result.facts.get("oauth2_problem", "")))
    if token_title is not None:  # the token's own claims said more (core/oauth/explain.py)
        return token_title
    return explain(result.cause, result.protocol, None).title


def state_meaning(state: State) -> str:
    return STATE_MEANING.get(state, "")


def reply_tracking_checklist() -> tuple[str, ...]:
    return REPLY_TRACKING_CHECKLIST


@lru_cache(maxsize=4096)
def provider_for(account: Account, protocol: Protocol) -> str | None:
    """The provider whose advice applies: for IMAP, the reply mailbox's provider."""
    return resolve_provider(account, protocol)


def server_provider(account: Account, result: CheckResult) -> str | None:
    """The provider of the server behind `result`: as the check decided it (the same rule as
    `provider_for`, carried in the result), so the pane, the CLI and the reports agree."""
    if result.provider_rule is not None:
        return result.provider
    return provider_for(account, result.protocol)
