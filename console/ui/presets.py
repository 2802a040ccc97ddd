"""Provider presets as the forms offer them: the detected provider first, then all the others."""

from __future__ import annotations

from console.core import providers
from console.core.model import Account, Protocol
from console.ui.widgets.account_editor import Preset


def imap_presets(account: Account) -> list[Preset]:
    """Every provider with an IMAP server, its hosts filled in for this account's addresses
    (the IMAP login for the reply mailbox, the SMTP one for the From address)."""
    mailbox = account.reply_address or account.email
    detected = providers.resolve_provider(account, Protocol.IMAP)
    found: list[Preset] = []
    for provider in providers.all_providers():
        if provider.send_only or provider.imap is None:
            continue
        try:
            imap, _ = providers.presets(provider, mailbox)
            _, smtp = providers.presets(provider, account.email)
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
                smtp=None
                if smtp is None
                else Preset(
                    id=provider.id,
                    name=name,
                    host=smtp.host,
                    port=smtp.port,
                    security=smtp.security,
                    username=smtp.username_for(account.email),
                ),
            )
        )
    found.sort(key=lambda p: (p.id != detected, p.name.casefold()))
    return found
