"""Scripted IMAP and SMTP servers on 127.0.0.1 with their own CA, for tests, demo and benchmarks.

A correct client passes and a sloppy one fails: the servers speak the protocols strictly (IMAP
tags, quoting, literals, SASL-IR, LOGINDISABLED; SMTP EHLO/STARTTLS/AUTH sequencing) and answer
whatever the scenario scripts, including hostile behaviour. Nothing here listens beyond loopback.

    ca = LabCA()                                    # ca.ca_file -> tls_ca_file for clients
    scenario = ImapScenario(security="starttls", users={"bob@lab.test": 'p"w\\\\ö'})
    async with LabImapServer(scenario, ca=ca) as srv:   # or: await srv.start() / await srv.stop()
        ...connect to srv.host ("127.0.0.1") / "localhost", srv.port...
        srv.received              # [Received(conn, tls, data)]: every line/literal, raw
        srv.credentials_seen()    # [Credential(conn, tls, mechanism, username, secret, accepted)]
        srv.saw_auth_before_tls() # an auth command or credential on a plaintext connection?
        srv.connections_total, srv.connections_current, srv.max_concurrent
        srv.logins_accepted, srv.logins_rejected, srv.errors (lab bugs: should stay empty)
        await srv.wait_until(lambda s: s.connections_current == 3)

    async with Lab() as lab:                        # many servers, one CA (the demo)
        imap = await lab.start(ImapScenario(...))   # -> LabImapServer
        smtp = await lab.start(SmtpScenario(...))   # -> LabSmtpServer
        servers = await lab.start_all([...])

A connection counts in `connections_current` from accept until the server sees the client's
EOF or ends the conversation itself (LOGOUT/QUIT/BYE/421), so `max_concurrent` measures a
client's real parallelism. `record=False` keeps counters and credentials but not raw lines.
`stop()` closes every connection at once (silent and dripping ones too) and leaves no task,
transport or socket behind; idle connections are closed after `idle_timeout` seconds anyway.
Scenario fields are documented in `console.lab.scenario`; certificate kinds in `console.lab.ca`.
"""

from __future__ import annotations

from console.lab.ca import LAB_HOSTS, VERIFY_CODES, CertKind, LabCA
from console.lab.imap_server import LabImapServer
from console.lab.lab import Lab
from console.lab.link import DEFAULT_GARBAGE
from console.lab.scenario import (
    GMAIL_BAD_CREDENTIALS,
    GMAIL_XOAUTH2_CHALLENGE,
    IMAP_CAPABILITIES,
    LAB_PASSWORD,
    LAB_TOKEN,
    LAB_USER,
    PRIVACY_REQUIRED,
    SMTP_EXTENSIONS,
    Action,
    Hostile,
    ImapScenario,
    SmtpScenario,
    derived_password,
)
from console.lab.server import HOST, Credential, LabServer, Received
from console.lab.smtp_server import LabSmtpServer

__all__ = [
    "DEFAULT_GARBAGE",
    "GMAIL_BAD_CREDENTIALS",
    "GMAIL_XOAUTH2_CHALLENGE",
    "HOST",
    "IMAP_CAPABILITIES",
    "LAB_HOSTS",
    "LAB_PASSWORD",
    "LAB_TOKEN",
    "LAB_USER",
    "PRIVACY_REQUIRED",
    "SMTP_EXTENSIONS",
    "VERIFY_CODES",
    "Action",
    "CertKind",
    "Credential",
    "Hostile",
    "ImapScenario",
    "Lab",
    "LabCA",
    "LabImapServer",
    "LabServer",
    "LabSmtpServer",
    "Received",
    "SmtpScenario",
    "derived_password",
]
