"""A canary lab: SMTP and IMAP lab servers sharing a mailstore, and accounts that use them."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.core.model import Account, Protocol, Security, ServerSettings
from console.core.secrets import MemorySecrets
from console.lab import ImapScenario, Lab, SmtpScenario
from console.lab.mailstore import Delivery, Mailstore

CANARY_CAPS = ("IMAP4rev1", "SASL-IR", "LITERAL+", "IDLE", "UIDPLUS", "SPECIAL-USE", "AUTH=PLAIN")


@dataclass
class CanaryLab:
    lab: Lab
    store: Mailstore
    smtp_port: int
    imap_port: int
    ca_file: str
    secrets: MemorySecrets = field(default_factory=MemorySecrets)

    def account(
        self,
        email: str,
        *,
        reply: str | None = None,
        mailbox: str = "INBOX",
        hold: float | None = None,
    ) -> Account:
        reply_user = reply or email
        smtp = ServerSettings(
            Protocol.SMTP,
            "localhost",
            self.smtp_port,
            Security.TLS,
            email,
            tls_ca_file=self.ca_file,
        )
        imap = ServerSettings(
            Protocol.IMAP,
            "127.0.0.1",
            self.imap_port,
            Security.TLS,
            reply_user,
            tls_ca_file=self.ca_file,
            mailbox=mailbox,
        )
        self.secrets.set(smtp, "pw-" + email)
        self.secrets.set(imap, "pw-" + reply_user)
        return Account(
            email=email, reply_address=reply, smtp=smtp, imap=imap, canary_hold_minutes=hold
        )


def password_of(user: str) -> str:
    return "pw-" + user


async def start_canary_lab(
    lab: Lab,
    users: dict[str, Delivery],
    *,
    capabilities: tuple[str, ...] = CANARY_CAPS,
    hostile: object = None,
) -> CanaryLab:
    store = Mailstore()
    for user, delivery in users.items():
        store.add_user(user, delivery)
    common = {"users": {}, "password_of": password_of, "mailstore": store}
    smtp = await lab.start(SmtpScenario(**common))  # type: ignore[arg-type]
    imap = await lab.start(
        ImapScenario(capabilities=capabilities, hostile=hostile, **common)  # type: ignore[arg-type]
    )
    return CanaryLab(lab, store, smtp.port, imap.port, str(lab.ca.ca_file))
