"""The lab's OAuth2 authorization server: Microsoft-shaped endpoints on 127.0.0.1, over TLS.

Built on Authlib's server components (RFC 6749 grants, RFC 8628 device authorization, RFC 7636
PKCE, RFC 7662 introspection); this module only supplies storage (in memory), a small HTTP/1.1
front end on asyncio, and Microsoft-like access tokens (JWTs whose `aud`, `scp`, `tid` and `exp`
claims `console.core.oauth.explain` reads). Nothing here listens beyond loopback.

    ca = LabCA()
    async with LabAuthServer(ca=ca, users={"ana@lab.test"}) as auth:
        auth.authority                      # https://localhost:PORT/<tenant>: MSAL's authority
        auth.client_id                      # a public client allowed every grant (Microsoft)
        auth.google_client_id, auth.google_client_secret   # a Google-style installed app
        auth.approve(user_code, "ana@lab.test")   # what the user does in the browser
        auth.introspection_url(resource)    # for Dovecot's oauth2 passdb and the lab SMTP

Endpoints (paths as Microsoft's identity platform names them, so MSAL finds them by its own
OpenID discovery):

    GET  /<tenant>/v2.0/.well-known/openid-configuration
    POST /<tenant>/oauth2/v2.0/devicecode      device authorization (RFC 8628)
    POST /<tenant>/oauth2/v2.0/token           device_code, authorization_code (+PKCE), refresh
    GET  /<tenant>/oauth2/v2.0/authorize       authorization code; the `login_hint` user consents
    GET  /device?user_code=CODE&user=EMAIL     the user's approval, as a browser would send it
    GET  /.well-known/openid-configuration     Google's shape: /o/oauth2/v2/auth and /token
                                               (the Google-style client gets opaque tokens)
    POST /introspect                           RFC 7662, for resource servers (basic auth)

Resource servers ("imap", "smtp") introspect with their own client credentials; a token is
active for a resource only when its audience is Exchange Online and its scopes include the one
that protocol needs, the way Exchange refuses a Graph token or a token without IMAP scope.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import (
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialDict,
)
from requests.structures import CaseInsensitiveDict

from console.lab.ca import CertKind, LabCA
from console.lab.scenario import TokenIntrospection
from console.lab.server import HOST

EXCHANGE = "https://outlook.office.com"
GRAPH = "https://graph.microsoft.com"
SCOPES = {"imap": "IMAP.AccessAsUser.All", "smtp": "SMTP.Send"}
"""The delegated scope each resource server needs (Exchange Online's names)."""
SCOPE_URLS = tuple(f"{EXCHANGE}/{scope}" for scope in SCOPES.values())
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
LAB_TENANT = "11111111-2222-3333-4444-555555555555"
LAB_CLIENT_ID = "lab-mailconsole-public-client"
LAB_GOOGLE_CLIENT_ID = "lab-mailconsole.apps.googleusercontent.lab"
GMAIL = "https://mail.google.com/"
MAX_BODY = 64 * 1024


@dataclass
class LabClient(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str = ""
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = (
        DeviceCodeGrant.GRANT_TYPE,
        "authorization_code",
        "refresh_token",
    )

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 8252 7.3: a loopback redirect may use any port.
        parts = urlsplit(redirect_uri)
        return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost"}

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.client_secret) and hmac.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client_secret:
            return method in {"client_secret_basic", "client_secret_post"}
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class LabToken(TokenMixin):  # type: ignore[misc]
    client_id: str
    user: str
    scope: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    issued_at: float = 0.0
    expires_in: int = 3600
    audience: str = EXCHANGE
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: ClientMixin) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> str:
        return self.user

    def get_client(self) -> ClientMixin:  # pragma: no cover (Authlib's revocation endpoint only)
        raise NotImplementedError


@dataclass
class LabCode(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str = field(repr=False)
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str | None = None
    code_challenge_method: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class _Issued:
    """What `_save` reads of a token request, for tokens issued without one."""

    client: LabClient
    user: str


@dataclass
class _HttpRequest:
    method: str
    target: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    base: str

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))

    @property
    def form(self) -> dict[str, str]:
        kind = self.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in kind:
            return {}
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, data: dict[str, str]) -> None:
        self._data = data

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: [value] for key, value in self._data.items()}


class _OAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: _HttpRequest) -> None:
        super().__init__(request.method, request.base + request.target, headers=request.headers)
        self._args = request.query
        self._form = request.form
        self.payload = _Payload({**self._args, **self._form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Authlib(AuthorizationServer):  # type: ignore[misc]
    """Authlib's server with in-memory storage owned by the lab server."""

    def __init__(self, lab: LabAuthServer) -> None:
        super().__init__()
        self.lab = lab

    def query_client(self, client_id: str) -> LabClient | None:
        return self.lab.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.lab._save(token, request)

    def create_oauth2_request(self, request: _HttpRequest) -> OAuth2Request:
        return _OAuth2Request(request)

    def create_json_request(self, request: _HttpRequest) -> Any:  # pragma: no cover (unused)
        raise NotImplementedError

    def handle_response(
        self, status: int, body: Any, headers: Iterable[tuple[str, str]]
    ) -> tuple[int, Any, dict[str, str]]:
        return status, body, dict(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class _DeviceEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    USER_CODE_TYPE = "string"
    INTERVAL = 1  # the lab answers at once; MSAL polls at this interval

    def get_verification_uri(self) -> str:
        return f"{self.server.lab.base}/device"

    def save_device_credential(self, client_id: str, scope: str, data: dict[str, Any]) -> None:
        lab = self.server.lab
        lab._devices[data["device_code"]] = DeviceCredentialDict(
            client_id=client_id,
            scope=scope,
            user_code=data["user_code"],
            expires_at=time.time() + data["expires_in"],
        )
        lab.pending_user_codes.append(data["user_code"])
        lab._device_event.set()


class _DeviceGrant(DeviceCodeGrant):  # type: ignore[misc]
    def query_device_credential(self, device_code: str) -> DeviceCredentialDict | None:
        return self.server.lab._devices.get(device_code)

    def query_user_grant(self, user_code: str) -> tuple[str, bool] | None:
        lab: LabAuthServer = self.server.lab
        return lab._grants.get(user_code)

    def should_slow_down(self, credential: DeviceCredentialDict) -> bool:
        return False


_ANY_CLIENT_AUTH = ["client_secret_basic", "client_secret_post", "none"]


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _ANY_CLIENT_AUTH

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        challenge = request.payload.data
        self.server.lab._codes[code] = LabCode(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            user=request.user,
            code_challenge=challenge.get("code_challenge"),
            code_challenge_method=challenge.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: ClientMixin) -> LabCode | None:
        lab: LabAuthServer = self.server.lab
        item = lab._codes.get(code)
        if item is not None and item.client_id == client.get_client_id():
            return item
        return None

    def delete_authorization_code(self, authorization_code: LabCode) -> None:
        self.server.lab._codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: LabCode) -> str:
        return authorization_code.user


class _RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _ANY_CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True  # Microsoft rotates refresh tokens

    def authenticate_refresh_token(self, refresh_token: str) -> LabToken | None:
        lab: LabAuthServer = self.server.lab
        token = lab._by_refresh.get(refresh_token)
        if token is None or token.refresh_revoked:
            return None
        return token

    def authenticate_user(self, refresh_token: LabToken) -> str:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: LabToken) -> None:
        refresh_token.refresh_revoked = True


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> LabToken | None:
        lab: LabAuthServer = self.server.lab
        return lab._by_access.get(token_string)

    def check_permission(self, token: LabToken, client: LabClient, request: Any) -> bool:
        return client.client_id in self.server.lab.resources

    def authenticate_token(self, request: OAuth2Request, client: LabClient) -> LabToken | None:
        """The token, unless it is not for the asking resource (RFC 7662 2.2: then inactive)."""
        token: LabToken | None = super().authenticate_token(request, client)
        resource = self.server.lab.resources.get(client.client_id)
        if token is None or resource is None:
            return None
        if token.audience == GMAIL and GMAIL in token.scope.split():
            return token  # Google: one scope for IMAP and SMTP
        if token.audience != EXCHANGE or SCOPES[resource] not in _scopes(token.scope):
            return None
        return token

    def introspect_token(self, token: LabToken) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": token.client_id,
            "token_type": "Bearer",
            "username": token.user,
            "scope": token.scope,
            "aud": token.audience,
            "exp": int(token.issued_at + token.expires_in),
            "iat": int(token.issued_at),
        }


class LabAuthServer:
    """An OAuth2 authorization server for tests and the demo (see the module docstring)."""

    def __init__(
        self,
        *,
        ca: LabCA | None = None,
        users: Iterable[str] = (),
        tenant: str = LAB_TENANT,
        access_lifetime: int = 3600,
        port: int = 0,
        resource_secret: str | None = None,
    ) -> None:
        self.ca = ca if ca is not None else LabCA.default()
        self.users = set(users)
        self.tenant = tenant
        self.access_lifetime = access_lifetime
        self.port = port
        self.audience = EXCHANGE
        """The audience of the next tokens (set GRAPH to issue a Microsoft Graph token)."""
        self.scope_override: str | None = None
        """Grant these scopes instead of those requested (a registration missing a permission)."""
        self.google_client_secret = secrets.token_urlsafe(18)
        self.clients: dict[str, LabClient] = {
            LAB_CLIENT_ID: LabClient(LAB_CLIENT_ID),
            LAB_GOOGLE_CLIENT_ID: LabClient(
                LAB_GOOGLE_CLIENT_ID,
                client_secret=self.google_client_secret,
                grant_types=("authorization_code", "refresh_token"),
            ),
        }
        self.resources: dict[str, str] = {}  # client id -> "imap" | "smtp"
        self._resource_secrets: dict[str, str] = {}
        self.pending_user_codes: list[str] = []
        self.issued: list[LabToken] = []
        self.requests: list[tuple[str, str]] = []  # (method, path), for tests
        self._devices: dict[str, DeviceCredentialDict] = {}
        self._grants: dict[str, tuple[str, bool]] = {}
        self._codes: dict[str, LabCode] = {}
        self._by_access: dict[str, LabToken] = {}
        self._by_refresh: dict[str, LabToken] = {}
        self._signing_key = secrets.token_bytes(32)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._device_event = asyncio.Event()
        self._authlib = _Authlib(self)
        self._authlib.register_token_generator("default", self._generate)
        self._authlib.register_grant(_DeviceGrant)
        self._authlib.register_grant(_CodeGrant, [CodeChallenge(required=True)])
        self._authlib.register_grant(_RefreshGrant)
        self._authlib.register_endpoint(_DeviceEndpoint(self._authlib))
        self._authlib.register_endpoint(_Introspection)
        for resource in SCOPES:
            self._add_resource(resource, resource_secret or secrets.token_urlsafe(16))

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Self:
        if self._server is None:
            context = self.ca.server_context(CertKind.GOOD)
            self._server = await asyncio.start_server(
                self._serve, HOST, self.port, ssl=context, limit=MAX_BODY
            )
            self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()
        for _ in range(3):  # let connection_lost callbacks close the sockets
            await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- what clients and tests use ----------------------------------------------------

    @property
    def base(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def authority(self) -> str:
        """The MSAL authority: the instance and the tenant."""
        return f"{self.base}/{self.tenant}"

    @property
    def client_id(self) -> str:
        return LAB_CLIENT_ID

    @property
    def google_client_id(self) -> str:
        return LAB_GOOGLE_CLIENT_ID

    def introspection_url(self, resource: str, *, with_credentials: bool = True) -> str:
        """The RFC 7662 endpoint, with the resource server's credentials in it (Dovecot's form)."""
        if not with_credentials:
            return f"{self.base}/introspect"
        return f"https://{resource}:{self._resource_secrets[resource]}@localhost:{self.port}/introspect"

    def introspection_for(self, resource: str) -> TokenIntrospection:
        """What a lab server needs to check tokens here as `resource` ("imap" or "smtp")."""
        return TokenIntrospection(
            url=self.introspection_url(resource, with_credentials=False),
            client_id=resource,
            client_secret=self._resource_secrets[resource],
            ca_file=str(self.ca.ca_file),
        )

    def approve(self, user_code: str, user: str, *, approved: bool = True) -> None:
        """The user signs in on the verification page and consents (or declines)."""
        if user not in self.users:
            raise ValueError(f"unknown lab user {user!r}")
        self._grants[user_code] = (user, approved)

    async def next_user_code(self, timeout: float = 10.0) -> str:
        """The next device code's user code, once a client has asked for one."""
        while not self.pending_user_codes:
            self._device_event.clear()
            await asyncio.wait_for(self._device_event.wait(), timeout)
        return self.pending_user_codes.pop(0)

    def issue(
        self,
        user: str,
        scope: str = " ".join((*SCOPE_URLS, "offline_access")),
        *,
        issued_ago: float = 0.0,
    ) -> LabToken:
        """A sign-in made earlier (no flow): tokens for `user` as the public client got them,
        `issued_ago` seconds ago (its `exp` claim and lifetime count from then)."""
        client = self.clients[LAB_CLIENT_ID]
        token = self._generate("refresh_token", client, user=user, scope=scope)
        if issued_ago:
            claims = token_claims(token["access_token"])
            for name in ("iat", "nbf", "exp"):
                claims[name] -= int(issued_ago)
            token["access_token"] = self._jwt(claims)
        self._save(token, _Issued(client, user))
        item = self.issued[-1]
        item.issued_at -= issued_ago
        return item

    def tokens_of(self, user: str) -> list[LabToken]:
        return [t for t in self.issued if t.user == user]

    def expire_access_tokens(self, user: str) -> None:
        """Every access token issued to `user` is past its lifetime from now on."""
        for token in self.tokens_of(user):
            token.issued_at = time.time() - token.expires_in - 1

    def revoke_refresh_tokens(self, user: str) -> None:
        """What a password reset or an admin's "revoke sessions" does."""
        for token in self.tokens_of(user):
            token.refresh_revoked = True

    def every_secret(self) -> list[str]:
        """Every access and refresh token and device code issued so far (tests grep artefacts
        for them)."""
        found: list[str] = list(self._devices)
        for token in self.issued:
            found.append(token.access_token)
            if token.refresh_token:
                found.append(token.refresh_token)
        return found

    # ---- tokens ------------------------------------------------------------------------

    def _add_resource(self, resource: str, secret: str) -> None:
        self.clients[resource] = LabClient(resource, client_secret=secret, grant_types=())
        self.resources[resource] = resource
        self._resource_secrets[resource] = secret

    def _generate(
        self,
        grant_type: str,
        client: LabClient,
        user: str | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        granted = self.scope_override if self.scope_override is not None else (scope or "")
        lifetime = expires_in or self.access_lifetime
        if client.client_id == LAB_GOOGLE_CLIENT_ID:  # Google: opaque tokens, always a refresh
            return {
                "token_type": "Bearer",
                "access_token": f"ya29.{secrets.token_urlsafe(48)}",
                "expires_in": lifetime,
                "scope": granted,
                "refresh_token": f"1//{secrets.token_urlsafe(40)}",
            }
        now = int(time.time())
        short = " ".join(s.rsplit("/", 1)[-1] for s in _scopes(granted) if s not in OIDC_SCOPES)
        claims = {
            "aud": self.audience,
            "iss": f"{self.base}/{self.tenant}/v2.0",
            "tid": self.tenant,
            "upn": user,
            "scp": short,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(8),
        }
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self._jwt(claims),
            "expires_in": lifetime,
            "scope": granted,
        }
        if include_refresh_token and "offline_access" in _scopes(scope or ""):
            token["refresh_token"] = secrets.token_urlsafe(48)
        return token

    def _jwt(self, claims: Mapping[str, Any]) -> str:
        def part(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

        head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = part(json.dumps(claims).encode())
        mac = hmac.new(self._signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{part(mac)}"

    def _save(self, token: dict[str, Any], request: OAuth2Request) -> None:
        item = LabToken(
            client_id=request.client.get_client_id(),
            user=request.user,
            scope=token.get("scope", ""),
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            issued_at=time.time(),
            expires_in=int(token["expires_in"]),
            audience=GMAIL
            if request.client.get_client_id() == LAB_GOOGLE_CLIENT_ID
            else self.audience,
        )
        self.issued.append(item)
        self._by_access[item.access_token] = item
        if item.refresh_token:
            self._by_refresh[item.refresh_token] = item

    # ---- HTTP --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await self._read(reader)
            if request is not None:
                self.requests.append((request.method, request.path))
                status, body, headers = self._route(request)
                writer.write(_response(status, body, headers))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _read(self, reader: asyncio.StreamReader) -> _HttpRequest | None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            return None
        body = await reader.readexactly(length) if length else b""
        return _HttpRequest(method.upper(), target, headers, body, self.base)

    def _route(self, request: _HttpRequest) -> tuple[int, Any, dict[str, str]]:
        path = request.path
        if path == "/.well-known/openid-configuration":  # Google's shape: no tenant
            return 200, self._discovery(google=True), {}
        if path == "/o/oauth2/v2/auth":
            path = f"/{self.tenant}/oauth2/v2.0/authorize"
        if path == "/token":
            path = f"/{self.tenant}/oauth2/v2.0/token"
        prefix = f"/{self.tenant}"
        if path == f"{prefix}/v2.0/.well-known/openid-configuration":
            return 200, self._discovery(), {}
        if path == f"{prefix}/oauth2/v2.0/devicecode" and request.method == "POST":
            return self._authlib.create_endpoint_response("device_authorization", request)  # type: ignore[no-any-return]
        if path == f"{prefix}/oauth2/v2.0/token" and request.method == "POST":
            return self._authlib.create_token_response(request)  # type: ignore[no-any-return]
        if path == f"{prefix}/oauth2/v2.0/authorize" and request.method == "GET":
            user = request.query.get("login_hint") or next(iter(sorted(self.users)), None)
            if user not in self.users:
                return 400, {"error": "access_denied", "error_description": "unknown user"}, {}
            try:  # the user (login_hint) consents at once
                grant = self._authlib.get_consent_grant(request, end_user=user)
            except OAuth2Error as error:
                return 400, dict(error.get_body()), {}
            return self._authlib.create_authorization_response(  # type: ignore[no-any-return]
                grant.request, grant_user=user, grant=grant
            )
        if path == "/device" and request.method == "GET":
            code, user = request.query.get("user_code", ""), request.query.get("user", "")
            if (
                code not in {c.get_user_code() for c in self._devices.values()}
                or user not in self.users
            ):
                return 400, {"error": "invalid_request"}, {}
            self.approve(code, user)
            return 200, {"signed_in": user}, {}
        if path == "/introspect" and request.method == "POST":
            return self._authlib.create_endpoint_response("introspection", request)  # type: ignore[no-any-return]
        return 404, {"error": "not_found"}, {}

    def _discovery(self, *, google: bool = False) -> dict[str, Any]:
        root = f"{self.base}/{self.tenant}"
        if google:
            return {
                "issuer": self.base,
                "authorization_endpoint": f"{self.base}/o/oauth2/v2/auth",
                "token_endpoint": f"{self.base}/token",
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", GMAIL],
            }
        return {
            "issuer": f"{root}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "introspection_endpoint": f"{self.base}/introspect",
            "response_types_supported": ["code"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                DeviceCodeGrant.GRANT_TYPE,
            ],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "offline_access", *SCOPES.values()],
        }


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a lab JWT (the lab's own tokens only)."""
    body = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return claims


def _scopes(scope: str) -> set[str]:
    """Scope words, with Microsoft's resource prefix removed ("https://x/IMAP..." -> "IMAP...")."""
    return {
        word.rsplit("/", 1)[-1] if word.startswith("https://") else word for word in scope.split()
    }


_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


def _response(status: int, body: Any, headers: Mapping[str, str]) -> bytes:
    data = json.dumps(body).encode() if isinstance(body, dict | list) else str(body or "").encode()
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    merged = {"Content-Type": "application/json", "Cache-Control": "no-store", **headers}
    merged["Content-Length"] = str(len(data))
    merged["Connection"] = "close"
    lines += [f"{name}: {value}" for name, value in merged.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data
