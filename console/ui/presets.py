"""Provider presets as the forms offer them: the detected provider first, then all the others."""

from __future__ import annotations

from console.core import providers
from console.core.model import Account, Protocol
from console.ui.widgets.account_editor import Preset


def imap_presets(account: Account) -> list[Preset]:
    """Every provider with an IMAP server, its host filled in for this account's address."""
    mailbox = account.reply_address or account.email
    detected = providers.resolve_provider(account, Protocol.IMAP)
    found: list[Preset] = []
    for provider in providers.all_providers():
        if provider.send_only or provider.imap is None:
            continue
        try:
            imap, _ = providers.presets(provider, mailbox)
        except ValueError:
            continue
        if imap is None:
            continue
        name = provider.name + (" (detected)" if provider.id == detected else "")
        found.append(
            Preset(
                id=provider.id,
                name=name,
                host=imap.host,
                port=imap.port,
                security=imap.security,
                username=imap.username_for(mailbox),
            )
        )
    found.sort(key=lambda p: (p.id != detected, p.name.casefold()))
    return found
