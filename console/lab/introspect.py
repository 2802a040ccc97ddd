"""How the lab's mail servers check an OAuth2 token: RFC 7662 introspection over HTTPS, as a
resource server does (Dovecot's oauth2 passdb does the same for the tests' Dovecot)."""

from __future__ import annotations

import asyncio
from typing import Any

import requests

from console.lab.scenario import TokenIntrospection


async def token_is_active(where: TokenIntrospection, user: str, token: str) -> bool:
    """Ask an introspection endpoint (over HTTPS, as a resource server) whether `token` is good
    for `user`: active, and issued to that user."""

    def ask() -> dict[str, Any]:
        with requests.Session() as session:
            answer = session.post(
                where.url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=(where.client_id, where.client_secret),
                verify=where.ca_file,
                timeout=10,
            )
        answer.raise_for_status()
        payload: dict[str, Any] = answer.json()
        return payload

    try:
        payload = await asyncio.to_thread(ask)
    except (requests.RequestException, ValueError):
        return False
    return payload.get("active") is True and payload.get("username") == user
