"""Provider knowledge: the data file, presets, and detection by domain, host and real MX lookups.

MX lookups go to a real DNS server on 127.0.0.1 (tests/dns_server.py); no test ever asks the
system resolver.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dns_server import DnsServer

import console.core.providers.detection as detection_module
from console.core.model import Account, Protocol, Security, ServerSettings
from console.core.providers import (
    STANDARD_PAIRS,
    DetectionSource,
    ProviderDataError,
    ServerPreset,
    UsernameForm,
    all_providers,
    detect,
    detect_offline,
    detect_provider,
    get_provider,
    load_catalog,
    mx_hosts,
    parse_catalog,
    preset_candidates,
    presets,
    provider_for_email,
    provider_for_greeting,
    provider_for_host,
    provider_for_mx,
    resolve_provider,
)

MAILBOX_PROVIDERS = (
    "gmail", "google_workspace", "outlook", "microsoft365", "yahoo", "aol", "icloud", "zoho",
    "fastmail", "yandex", "mailru", "gmx", "webde", "cpanel", "generic",
)  # fmt: skip
RELAYS = ("amazon_ses", "sendgrid", "mailgun", "postmark", "brevo")

MX_RECORDS = {
    "workspace.example": [(1, "aspmx.l.google.com"), (5, "alt1.aspmx.l.google.com")],
    "m365.example": [(0, "m365-example.mail.protection.outlook.com")],
    "zoho.example": [(10, "mx.zoho.eu"), (20, "mx2.zoho.eu")],
    "fastmail.example": [
        (10, "in1-smtp.messagingengine.com"),
        (20, "in2-smtp.messagingengine.com"),
    ],
    "yandex.example": [(10, "mx.yandex.net")],
    "mailru.example": [(10, "mxs.mail.ru")],
    "icloud.example": [(10, "mx01.mail.icloud.com"), (10, "mx02.mail.icloud.com")],
    "gateway.example": [(5, "filter.gateway.example"), (10, "aspmx.l.google.com")],
    "ordered.example": [(20, "mx.zoho.com"), (10, "aspmx.l.google.com")],
    "selfhosted.example": [(10, "mail.selfhosted.example")],
    "nullmx.example": [(0, ".")],
}
A_RECORDS = {"mail.selfhosted.example": ["127.0.0.9"], "noemail.example": ["127.0.0.10"]}


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsServer]:
    async with DnsServer(mx=MX_RECORDS, a=A_RECORDS) as server:
        yield server


@pytest.fixture
async def silent_dns() -> AsyncIterator[DnsServer]:
    async with DnsServer(silent=True) as server:
        yield server


def _unused_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the data file -------------------------------------------------------------------------


def test_the_data_file_holds_exactly_the_agreed_provider_ids() -> None:
    assert [p.id for p in all_providers()] == [*MAILBOX_PROVIDERS, *RELAYS]
    assert load_catalog() is load_catalog()  # read once


@pytest.mark.parametrize("provider_id", [*MAILBOX_PROVIDERS, *RELAYS])
def test_every_provider_has_sane_presets(provider_id: str) -> None:
    provider = get_provider(provider_id)
    assert provider.name
    servers = [provider.imap, provider.smtp, *provider.imap_alternatives]
    servers += [*provider.smtp_alternatives]
    servers += [s for v in provider.variants for s in (v.imap, v.smtp)]
    for preset in (s for s in servers if s is not None):
        assert 1 <= preset.port <= 65535
        assert preset.security in (Security.TLS, Security.STARTTLS)  # no provider wants plain
        assert " " not in preset.host and "://" not in preset.host
    imap, smtp = presets(provider, "alice@acme.example")
    assert smtp is not None and "{" not in smtp.host
    if provider_id in RELAYS:
        assert provider.send_only and imap is None
        assert not provider.imap_alternatives and all(v.imap is None for v in provider.variants)
    else:
        assert not provider.send_only and imap is not None and "{" not in imap.host
    for url in (provider.app_password_url, provider.enable_imap_url, provider.help_url):
        assert url is None or url.startswith("https://")


def test_provider_policy_flags_follow_the_research() -> None:
    off_by_default = {p.id for p in all_providers() if p.imap_off_by_default}
    assert off_by_default == {"zoho", "gmx", "webde", "outlook"}
    assert {p.id for p in all_providers() if p.send_only} == set(RELAYS)
    outlook, m365 = get_provider("outlook"), get_provider("microsoft365")
    assert outlook.oauth2_required(Protocol.IMAP) and outlook.oauth2_required(Protocol.SMTP)
    assert m365.oauth2_required(Protocol.IMAP) and not m365.oauth2_required(Protocol.SMTP)
    for provider_id in ("gmail", "yahoo", "aol", "icloud", "fastmail", "mailru"):
        provider = get_provider(provider_id)
        assert provider.app_password_required and provider.app_password_url


def test_unknown_provider_id_is_a_key_error_naming_the_known_ids() -> None:
    with pytest.raises(KeyError, match="gmail"):
        get_provider("gmial")


VALID = '[p]\nname = "P"\nimap = { host = "imap.p.example", port = 993, security = "tls", username_form = "email" }\nsmtp = { host = "smtp.p.example", port = 465, security = "tls", username_form = "email" }\n'  # noqa: E501


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (VALID + "colour = 'red'\n", r"p: unknown key\(s\): colour"),
        (
            VALID.replace(
                '"tls", username_form = "email" }\nsmtp', '"ssl", username_form = "email" }\nsmtp'
            ),
            r"p\.imap\.security: 'ssl' is not one of",
        ),
        (VALID.replace("port = 993", "port = 0"), r"p\.imap\.port: 0 is not a port"),
        (VALID.replace("port = 993", "port = 70000"), r"p\.imap\.port: 70000"),
        (VALID.replace("port = 993", 'port = "993"'), r"p\.imap\.port: expected a whole number"),
        (VALID.replace("port = 993", "port = 993, secure = true"), r"p\.imap: unknown key"),
        (VALID.replace('"email" }\nsmtp', '"user" }\nsmtp'), r"p\.imap\.username_form: 'user'"),
        (VALID.replace("imap.p.example", "imap.{tld}"), r"unknown placeholder"),
        (VALID.replace("imap.p.example", "imap.{region}.example"), r"no default_region"),
        (VALID + "send_only = true\n", r"p\.imap: a send_only provider has no IMAP"),
        (VALID + "imap_off_by_default = true\n", r"needs imap_switch = true"),
        (VALID + 'domains = ["Gmail.com"]\n', r"p\.domains: 'Gmail.com' label"),
        (VALID + 'hosts = ["*"]\n', r"p\.hosts: '\*' needs at least two labels"),
        (VALID + 'help_url = "http://p.example"\n', r"p\.help_url: .* not an https"),
        (VALID + 'custom_domain_provider = "q"\n', r"unknown provider 'q'"),
        (VALID + "app_password_required = 1\n", r"expected true or false"),
        (VALID.replace("[p]", "[P-1]"), r"'P-1' is not an id"),
        (
            VALID
            + 'domains = ["p.example"]\n'
            + VALID.replace("[p]", "[q]")
            + 'domains = ["p.example"]\n',
            r"domain 'p.example' is listed twice \(p and q\)",
        ),
        ("[p\n", r"providers.toml: "),
    ],
)
def test_invalid_provider_data_is_refused_at_load_naming_the_key(text: str, message: str) -> None:
    assert parse_catalog(VALID).providers["p"].imap == ServerPreset(
        "imap.p.example", 993, Security.TLS, UsernameForm.EMAIL
    )
    with pytest.raises(ProviderDataError, match=message):
        parse_catalog(text)


# --- detection without the network --------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("alice@gmail.com", "gmail"), ("Alice@GoogleMail.COM", "gmail"),
        ("a@outlook.com", "outlook"), ("a@hotmail.co.uk", "outlook"), ("a@live.com", "outlook"),
        ("a@msn.com", "outlook"), ("a@contoso.onmicrosoft.com", "microsoft365"),
        ("a@yahoo.com", "yahoo"), ("a@yahoo.co.uk", "yahoo"), ("a@ymail.com", "yahoo"),
        ("a@aol.com", "aol"), ("a@icloud.com", "icloud"), ("a@me.com", "icloud"),
        ("a@mac.com", "icloud"), ("a@zoho.com", "zoho"), ("a@zohomail.eu", "zoho"),
        ("a@fastmail.com", "fastmail"), ("a@fastmail.fm", "fastmail"), ("a@yandex.ru", "yandex"),
        ("a@yandex.com", "yandex"), ("a@ya.ru", "yandex"), ("a@mail.ru", "mailru"),
        ("a@inbox.ru", "mailru"), ("a@list.ru", "mailru"), ("a@bk.ru", "mailru"),
        ("a@gmx.de", "gmx"), ("a@gmx.net", "gmx"), ("a@gmx.com", "gmx"), ("a@web.de", "webde"),
        ("a@acme.example", None), ("gmail.com", None), ("a@notgmail.com", None),
        ("a@gmail.com.evil.example", None), ("", None),
    ],
)  # fmt: skip
def test_provider_for_email_uses_the_domain_table(email: str, expected: str | None) -> None:
    found = provider_for_email(email)
    assert (found.id if found else None) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("smtp.gmail.com", "gmail"), ("IMAP.GMAIL.COM.", "gmail"),
        ("outlook.office365.com", "microsoft365"), ("smtp.office365.com", "microsoft365"),
        ("smtp-mail.outlook.com", "outlook"), ("imap.mail.yahoo.com", "yahoo"),
        ("smtp.aol.com", "aol"), ("imap.mail.me.com", "icloud"), ("imappro.zoho.eu", "zoho"),
        ("smtp.fastmail.com", "fastmail"), ("imap.yandex.com", "yandex"),
        ("smtp.mail.ru", "mailru"), ("mail.gmx.net", "gmx"), ("imap.web.de", "webde"),
        ("email-smtp.eu-west-1.amazonaws.com", "amazon_ses"), ("smtp.sendgrid.net", "sendgrid"),
        ("smtp.eu.mailgun.org", "mailgun"), ("smtp.postmarkapp.com", "postmark"),
        ("smtp-relay.brevo.com", "brevo"), ("mail.acme.example", None),
        ("smtp.gmail.com.evil.example", None), ("evil-office365.com", None),
        ("email-smtp.amazonaws.com", None), ("", None),
    ],
)  # fmt: skip
def test_provider_for_host_recognises_configured_servers(host: str, expected: str | None) -> None:
    found = provider_for_host(host)
    assert (found.id if found else None) == expected


def test_a_consumer_host_with_a_custom_domain_means_the_business_product() -> None:
    workspace = detect_offline("alice@acme.example", smtp_host="smtp.gmail.com")
    assert workspace is not None and workspace.provider.id == "google_workspace"
    assert workspace.source is DetectionSource.HOST and workspace.evidence == "smtp.gmail.com"
    personal = detect_offline("alice@gmail.com", smtp_host="smtp.gmail.com")
    assert personal is not None and personal.provider.id == "gmail"
    assert personal.source is DetectionSource.DOMAIN
    m365 = detect_offline("bob@acme.example", imap_host="smtp-mail.outlook.com")
    assert m365 is not None and m365.provider.id == "microsoft365"


@pytest.mark.parametrize(
    ("greeting", "expected"),
    [
        ("* OK Gimap ready for requests from 197.49.123.47 x2mb241876667wmk", "gmail"),
        ("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] iSCREAM ready to rumble (1B)", "icloud"),
        ("* OK Yandex IMAP4rev1 at sas2-1e59ad28a72c.qloud-c.yandex.net:993 ready", "yandex"),
        (
            "220 LO4P302CA0005.outlook.office365.com Microsoft ESMTP MAIL Service ready at Thu",
            "microsoft365",
        ),
        ("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready.", None),
    ],
)
def test_provider_for_greeting(greeting: str, expected: str | None) -> None:
    found = provider_for_greeting(greeting)
    assert (found.id if found else None) == expected


# --- MX lookups against a real DNS server ----------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("workspace.example", "google_workspace"),
        ("m365.example", "microsoft365"),
        ("zoho.example", "zoho"),
        ("fastmail.example", "fastmail"),
        ("yandex.example", "yandex"),
        ("mailru.example", "mailru"),
        ("icloud.example", "icloud"),
        ("gateway.example", "google_workspace"),  # the first MX that we know, in preference order
        ("ordered.example", "google_workspace"),  # preference 10 before 20, whatever the order
        ("selfhosted.example", None),
        ("nullmx.example", None),
        ("noemail.example", None),  # the name exists, it has no MX (NODATA)
        ("missing.example", None),  # NXDOMAIN
    ],
)
async def test_provider_for_mx_reads_the_domains_mx_records(
    dns_server: DnsServer, domain: str, expected: str | None
) -> None:
    found = await provider_for_mx(domain, nameserver=dns_server.address)
    assert (found.id if found else None) == expected
    assert dns_server.queries == [(domain, "MX")]


async def test_mx_hosts_are_ranked_by_preference(dns_server: DnsServer) -> None:
    hosts = await mx_hosts("ordered.example", nameserver=dns_server.address)
    assert hosts == ("aspmx.l.google.com", "mx.zoho.com")
    assert await mx_hosts("nullmx.example", nameserver=dns_server.address) == ()


async def test_detect_names_the_evidence_and_the_regional_variant(dns_server: DnsServer) -> None:
    found = await detect("ceo@zoho.example", nameserver=dns_server.address)
    assert found is not None and found.source is DetectionSource.MX
    assert (found.provider.id, found.evidence) == ("zoho", "mx.zoho.eu")
    assert found.variant is not None and found.variant.id == "eu_pro"
    imap, smtp = presets(found.provider, "ceo@zoho.example", variant=found.variant.id)
    assert imap is not None and smtp is not None
    assert (imap.host, smtp.host) == ("imappro.zoho.eu", "smtppro.zoho.eu")


async def test_detect_provider_asks_dns_only_when_offline_evidence_is_missing(
    dns_server: DnsServer,
) -> None:
    ns = dns_server.address
    gmail = await detect_provider("alice@gmail.com", nameserver=ns)
    hosted = await detect_provider("a@workspace.example", smtp_host="smtp.mail.ru", nameserver=ns)
    assert (gmail and gmail.id, hosted and hosted.id) == ("gmail", "mailru")
    assert dns_server.queries == []
    by_mx = await detect_provider("a@workspace.example", nameserver=ns)
    assert by_mx is not None and by_mx.id == "google_workspace"
    assert dns_server.queries == [("workspace.example", "MX")]


async def test_use_dns_false_never_queries(dns_server: DnsServer) -> None:
    ns = dns_server.address
    assert await detect_provider("a@workspace.example", use_dns=False, nameserver=ns) is None
    found = await detect_provider("a@hotmail.com", use_dns=False, nameserver=ns)
    assert found is not None and found.id == "outlook"
    assert dns_server.queries == []


# --- graceful degradation --------------------------------------------------------------------


async def test_a_nameserver_that_never_answers_gives_none_within_the_timeout(
    silent_dns: DnsServer,
) -> None:
    started = time.monotonic()
    found = await detect_provider("a@workspace.example", nameserver=silent_dns.address, timeout=0.3)
    elapsed = time.monotonic() - started
    assert found is None
    assert silent_dns.queries and silent_dns.queries[0] == ("workspace.example", "MX")
    assert elapsed < 1.3


async def test_a_port_with_nothing_listening_gives_none_within_the_timeout() -> None:
    started = time.monotonic()
    found = await provider_for_mx(
        "workspace.example", nameserver=("127.0.0.1", _unused_udp_port()), timeout=0.3
    )
    assert found is None
    assert time.monotonic() - started < 1.3


async def test_no_resolver_configuration_gives_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "resolv.conf"
    empty.write_text("# no nameserver lines\n")
    monkeypatch.setattr(detection_module, "RESOLV_CONF", str(empty))
    assert await provider_for_mx("workspace.example", timeout=0.3) is None
    assert await mx_hosts("workspace.example", timeout=0.3) == ()


@pytest.mark.parametrize("domain", ["", "a" * 64 + ".example", "bad..example"])
async def test_malformed_domains_give_none_without_a_query(
    dns_server: DnsServer, domain: str
) -> None:
    assert await provider_for_mx(domain, nameserver=dns_server.address) is None
    assert dns_server.queries == []


async def test_the_test_dns_server_also_serves_a_records(dns_server: DnsServer) -> None:
    import dns.asyncresolver
    import dns.nameserver

    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(*dns_server.address)]
    answer = await resolver.resolve("mail.selfhosted.example", "A")
    assert [record.to_text() for record in answer] == ["127.0.0.9"]


# --- presets ----------------------------------------------------------------------------------


def test_presets_fill_templated_hosts_from_the_address() -> None:
    imap, smtp = presets("cpanel", "alice@acme.example")
    assert imap == ServerPreset("mail.acme.example", 993, Security.TLS, UsernameForm.EMAIL)
    assert smtp == ServerPreset("mail.acme.example", 465, Security.TLS, UsernameForm.EMAIL)
    imap, smtp = presets("generic", "alice@Acme.Example")
    assert imap is not None and smtp is not None
    assert (imap.host, smtp.host) == ("imap.acme.example", "smtp.acme.example")
    assert presets("cpanel", "not-an-address") == (None, None)


def test_presets_for_known_providers_and_their_variants() -> None:
    imap, smtp = presets("gmail", "alice@gmail.com")
    assert imap == ServerPreset("imap.gmail.com", 993, Security.TLS, UsernameForm.EMAIL)
    assert smtp == ServerPreset("smtp.gmail.com", 465, Security.TLS, UsernameForm.EMAIL)
    imap, smtp = presets("gmx", "bob@gmx.co.uk")
    assert imap is not None and smtp is not None
    assert (imap.host, smtp.host, smtp.port) == ("imap.gmx.com", "mail.gmx.com", 587)
    imap, smtp = presets("webde", "carl@web.de")
    assert imap is not None and imap.username_for("carl@web.de") == "carl"
    imap, smtp = presets("sendgrid", "ops@acme.example")
    assert imap is None and smtp is not None and smtp.username_for("ops@acme.example") == "apikey"
    _, ses = presets("amazon_ses", "ops@acme.example")
    _, ses_eu = presets("amazon_ses", "ops@acme.example", region="eu-west-1")
    assert ses is not None and ses.host == "email-smtp.us-east-1.amazonaws.com"
    assert ses_eu is not None and ses_eu.host == "email-smtp.eu-west-1.amazonaws.com"
    assert ses.username_for("ops@acme.example") is None  # SES issues its own SMTP login
    with pytest.raises(ValueError, match="region"):
        presets("amazon_ses", "ops@acme.example", region="eu-west-1.evil.example")
    with pytest.raises(KeyError, match="no variant"):
        presets("zoho", "a@zoho.com", variant="mars")


def test_preset_candidates_keep_the_variants_host_first_and_have_no_repeats() -> None:
    candidates = preset_candidates("zoho", "a@zohomail.eu", Protocol.SMTP)
    assert [(c.host, c.port) for c in candidates[:3]] == [
        ("smtp.zoho.eu", 465), ("smtp.zoho.eu", 587), ("smtp.zoho.com", 465),
    ]  # fmt: skip
    keys = [(c.host, c.port, c.security) for c in candidates]
    assert len(keys) == len(set(keys))
    generic = preset_candidates("generic", "a@acme.example", Protocol.IMAP)
    assert [(c.host, c.port) for c in generic] == [
        ("imap.acme.example", 993), ("imap.acme.example", 143),
        ("mail.acme.example", 993), ("mail.acme.example", 143),
    ]  # fmt: skip
    assert preset_candidates("postmark", "a@acme.example", Protocol.IMAP) == ()


def test_standard_pairs_put_implicit_tls_first() -> None:
    assert STANDARD_PAIRS[Protocol.IMAP] == ((993, Security.TLS), (143, Security.STARTTLS))
    assert STANDARD_PAIRS[Protocol.SMTP] == ((465, Security.TLS), (587, Security.STARTTLS))


# --- resolve_provider (offline, used by the runner and the TUI) -------------------------------


def _server(protocol: Protocol, host: str) -> ServerSettings:
    return ServerSettings(protocol, host, 993, Security.TLS, "alice@acme.example")


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        (
            Account(
                "a@acme.example", provider="zoho", smtp=_server(Protocol.SMTP, "smtp.gmail.com")
            ),
            "zoho",
        ),
        (Account("a@gmail.com", smtp=_server(Protocol.SMTP, "smtp.office365.com")), "gmail"),
        (
            Account("a@acme.example", smtp=_server(Protocol.SMTP, "smtp.gmail.com")),
            "google_workspace",
        ),
        (Account("a@acme.example", imap=_server(Protocol.IMAP, "imap.mail.me.com")), "icloud"),
        (
            Account(
                "a@acme.example", provider="gmial", smtp=_server(Protocol.SMTP, "smtp.gmail.com")
            ),
            "google_workspace",
        ),
        (Account("a@acme.example", smtp=_server(Protocol.SMTP, "mail.acme.example")), None),
        (Account("a@acme.example"), None),
    ],
)
def test_resolve_provider_precedence(account: Account, expected: str | None) -> None:
    assert resolve_provider(account) == expected


def test_resolve_provider_for_imap_follows_the_reply_mailbox() -> None:
    relay = Account(
        "a@acme.example",
        provider="sendgrid",
        smtp=_server(Protocol.SMTP, "smtp.sendgrid.net"),
        imap=_server(Protocol.IMAP, "imap.gmail.com"),
    )
    assert resolve_provider(relay) == "sendgrid"
    assert resolve_provider(relay, Protocol.IMAP) == "google_workspace"
    replies = Account("a@acme.example", reply_address="replies@outlook.com")
    assert resolve_provider(replies, Protocol.IMAP) == "outlook"
    assert resolve_provider(replies) is None
    assert resolve_provider(Account("a@acme.example", provider="sendgrid"), Protocol.IMAP) is None
