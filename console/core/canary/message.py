"""The canary message itself, and what its received copy tells us (RFC 8601 and DKIM headers)."""

from __future__ import annotations

import email.utils
import re
import secrets
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy

import authres

from console.core.canary.model import CANARY_HEADER, AuthResults
from console.core.providers.names import email_domain

TOKEN_PREFIX = "mc-canary-"
"""Every token starts so; one substring search finds every canary in a mailbox."""
_TAG = re.compile(r"\s*([A-Za-z0-9_]+)\s*=\s*([^;]*)")


def new_token() -> str:
    """A unique, search-safe token (letters, digits, dashes: an IMAP atom)."""
    return TOKEN_PREFIX + secrets.token_hex(10)


def build_message(
    sender: str, sender_name: str | None, recipient: str, token: str, now: datetime
) -> bytes:
    """A small plain-text message that says what it is, with the token in header and subject."""
    message = EmailMessage(policy=default_policy)
    message["From"] = email.utils.formataddr((sender_name or "", sender))
    message["To"] = recipient
    message["Subject"] = f"mailconsole reply canary {token}"
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = f"<{token}@{email_domain(sender) or 'mailconsole.invalid'}>"
    message[CANARY_HEADER] = token
    message["Auto-Submitted"] = "auto-generated"  # no auto-replies, no vacation answers
    message.set_content(
        "This is a reply canary sent by mailconsole.\n\n"
        f"It checks that mail to {recipient} arrives in the tracked mailbox and stays there, as "
        "replies to campaigns must. mailconsole deletes it again by itself after the check; you "
        "can ignore or delete it.\n\n"
        f"Token: {token}\n"
    )
    return message.as_bytes()


def token_of(header_bytes: bytes) -> str | None:
    """The canary token in a message's header block (None if it carries none)."""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(header_bytes)
    value = headers.get(CANARY_HEADER)
    return str(value).strip() if value is not None else None


def read_evidence(header_bytes: bytes) -> tuple[AuthResults, tuple[str, ...]]:
    """Authentication results, signing domain and selector, transit time; and the warnings."""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(header_bytes)
    results: dict[str, str] = {}
    props: dict[str, str] = {}
    authserv: str | None = None
    for raw in headers.get_all("Authentication-Results") or []:
        try:
            parsed = authres.AuthenticationResultsHeader.parse(
                "Authentication-Results: " + " ".join(str(raw).split())
            )
        except Exception:  # authres raises its own SyntaxError kinds; an odd header is skipped
            continue
        authserv = authserv or parsed.authserv_id
        for result in parsed.results:
            method = str(result.method).lower()
            if method in results and not (method == "dkim" and result.result == "pass"):
                continue  # the topmost header (our receiver's) wins; a passing DKIM wins
            results[method] = str(result.result).lower()
            for prop in result.properties or []:
                props[f"{method}.{prop.type}.{prop.name}"] = str(prop.value)
        break  # only the receiving server's own (topmost) header is trusted
    signature = headers.get("DKIM-Signature")
    tags = dict(_TAG.findall(" ".join(str(signature).split()))) if signature else {}
    found = AuthResults(
        spf=results.get("spf"),
        dkim=results.get("dkim"),
        dkim_domain=props.get("dkim.header.d") or tags.get("d"),
        dkim_selector=props.get("dkim.header.s") or tags.get("s"),
        dmarc=results.get("dmarc"),
        authserv_id=authserv,
        delivery_seconds=_transit_seconds(headers.get_all("Received") or []),
    )
    warnings: list[str] = []
    if signature is None:
        warnings.append(
            "The canary arrived without a DKIM signature: receivers trust unsigned mail less, "
            "and DMARC can only pass through SPF alignment. Turn on DKIM signing for the domain."
        )
    if found.dmarc is not None and found.dmarc != "pass":
        warnings.append(
            f"The receiving server judged DMARC as '{found.dmarc}': mail from this domain may "
            "be sent to spam or rejected. Check the domain's SPF, DKIM and DMARC records."
        )
    if found.dkim is not None and found.dkim not in ("pass", "none") and signature is not None:
        warnings.append(f"The DKIM signature did not verify at the receiver ('{found.dkim}').")
    return found, tuple(warnings)


def _transit_seconds(received: list[object]) -> float | None:
    moments: list[datetime] = []
    for value in received:
        _, _, date = str(value).rpartition(";")
        try:
            moments.append(email.utils.parsedate_to_datetime(date.strip()))
        except (TypeError, ValueError):
            continue
    if len(moments) < 2:
        return None
    try:
        return max(0.0, (max(moments) - min(moments)).total_seconds())
    except TypeError:  # naive and aware dates mixed
        return None
