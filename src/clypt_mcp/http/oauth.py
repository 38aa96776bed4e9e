"""OAuth 2.1 for /mcp: Clypt's own authorization server, built on the MCP SDK's handlers.

The SDK (`mcp.server.auth`) parses and answers the protocol: `/authorize`, `/token`,
`/register`, `/revoke`. `ClyptOAuthProvider` is its provider protocol over the OAuth tables
(`store/oauth.py`); what the SDK leaves out or gets wrong for Clypt is done here:

- metadata is served as fixed JSON, so `issuer` is exactly `CLYPT_BASE_URL` (no trailing slash)
  and `client_id_metadata_document_supported` is there;
- client ids that are HTTPS URLs are Client ID Metadata Documents, fetched (`oauth_fetch`);
- redirect URIs are compared exactly, but a loopback one may change its port (RFC 8252), and
  registration refuses `javascript:`, `data:`, `file:` and off-loopback `http` ones;
- a missing PKCE verifier and a token request for another resource are refused before the SDK
  sees them (it would call the first `invalid_request` and ignore the second);
- there are two protected resources, `/mcp` and the older SSE transport `/sse`, each with its own
  metadata document: a client discovers the one it connects to, and its tokens are bound to that
  resource (RFC 8707) and refused at the other;
- client secrets, codes and tokens are kept as SHA-256 hashes; the SDK compares secrets in
  clear, so `HashedClientAuthenticator` compares hashes instead.

There are no user accounts: the consent page (`consent.py`) signs the person in with an API key
of the workspace, or a one-time sign-in link, and the grant takes the ticked scopes capped by
that key's.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.handlers.register import RegistrationHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.server.auth.settings import ClientRegistrationOptions
from mcp.shared.auth import InvalidRedirectUriError, InvalidScopeError, OAuthClientInformationFull
from mcp.shared.auth import OAuthToken as SdkToken
from pydantic import AnyUrl, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clypt_mcp.core.visitors import client_ip
from clypt_mcp.http.oauth_fetch import FetchError, fetch_document, is_document_url
from clypt_mcp.http.oauth_names import (
    ACCESS_PREFIX,
    CODE_PREFIX,
    REFRESH_PREFIX,
    REQUEST_PREFIX,
    SIGNIN_PREFIX,
    digest,
)
from clypt_mcp.http.ratelimit import RateLimiter
from clypt_mcp.http.state import AppState
from clypt_mcp.models import Scope
from clypt_mcp.store.oauth import GrantRecord, OAuthStore, TokenRow

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]

ACCESS_SECONDS = 3600  # access tokens live an hour ...
REFRESH_SECONDS = 30 * 86400  # ... refresh tokens a month, rotating at every use
CODE_SECONDS = 60
REQUEST_SECONDS = 600  # a consent page may stay open ten minutes
SIGNIN_SECONDS = 600
DOCUMENT_TTL = 3600  # a metadata document is fetched again after an hour
TOUCH_EVERY = 60  # seconds between lastUsedAt writes of a grant

SCOPE_NAMES = [s.value for s in Scope]
OAUTH_HEADERS = {"cache-control": "no-store", "pragma": "no-cache"}


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """An RFC 6749 error answer."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers=OAUTH_HEADERS,
    )


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redirect_uri_problem(uri: str) -> str | None:
    """Why a redirect URI may not be registered; None when it may."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("javascript", "data", "file", "vbscript", "blob", "about"):
        return f"redirect URI scheme '{scheme}:' is not allowed"
    if parts.fragment:
        return "a redirect URI must not have a #fragment"
    if scheme == "http" and not is_loopback_host(parts.hostname):
        return "an http:// redirect URI must be on loopback (127.0.0.1, [::1] or localhost)"
    if scheme in ("http", "https") and not parts.hostname:
        return "the redirect URI has no host"
    if not scheme:
        return "the redirect URI has no scheme"
    return None


def redirect_matches(registered: str, asked: str) -> bool:
    """Exact match, except that a loopback `http` redirect URI may use any port (RFC 8252)."""
    if registered == asked:
        return True
    a, b = urlsplit(registered), urlsplit(asked)
    if a.scheme != "http" or b.scheme != "http" or not is_loopback_host(a.hostname):
        return False
    return (a.hostname, a.path, a.query) == (b.hostname, b.path, b.query)


class ClyptClient(OAuthClientInformationFull):
    """A client as the SDK handlers see it, with Clypt's redirect and scope rules."""

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        registered = [str(u) for u in self.redirect_uris or []]
        if redirect_uri is None:
            if len(registered) == 1:
                return AnyUrl(registered[0])
            raise InvalidRedirectUriError(
                "redirect_uri is required: this client registered several"
            )
        asked = str(redirect_uri)
        if any(redirect_matches(r, asked) for r in registered):
            return redirect_uri
        raise InvalidRedirectUriError(f"redirect_uri '{asked}' is not registered for this client")

    def validate_scope(self, requested_scope: str | None) -> list[str] | None:
        if requested_scope is None or not requested_scope.strip():
            return None
        asked = requested_scope.split()
        unknown = [s for s in asked if s not in SCOPE_NAMES]
        if unknown:
            raise InvalidScopeError(
                f"unknown scope {', '.join(unknown)}; Clypt's scopes are {' '.join(SCOPE_NAMES)}"
            )
        return asked


@dataclass
class Session:
    """Who approved: the workspace and the most they may grant."""

    workspace_id: str
    scopes: frozenset[str]
    key_id: str | None


class ClyptOAuthProvider:
    """The SDK's OAuthAuthorizationServerProvider over the OAuth tables."""

    def __init__(self, state: AppState, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.settings = state.settings
        self.store = state.store.oauth
        self.clock = clock
        self.issuer = state.settings.base
        self.resource = f"{state.settings.base}/mcp"
        self.resources = (self.resource, f"{state.settings.base}/sse")
        self._touched: dict[str, int] = {}

    @property
    def resource_list(self) -> str:
        return " and ".join(self.resources)

    def resource_named(self, asked: str | None) -> str | None:
        """The resource a `resource` parameter names (`/mcp` when it is absent); None when it
        names none of this server's."""
        if asked is None:
            return self.resource
        asked = asked.rstrip("/")
        return asked if asked in self.resources else None

    @property
    def allow_loopback(self) -> bool:
        return self.settings.dev_allow_loopback

    def now_us(self) -> int:
        return _us(self.clock())

    # --- clients ------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> ClyptClient | None:
        if len(client_id) > 2048:
            return None
        row = await self.store.get_client(client_id)
        now = self.now_us()
        if is_document_url(client_id, self.allow_loopback):
            if row is not None and now - row.fetched_at < _us(DOCUMENT_TTL):
                return ClyptClient.model_validate_json(row.info)
            try:
                client = await self.fetch_client(client_id)
            except FetchError as exc:
                log.info("client metadata document refused: %s", exc)
                return None
            await self.store.put_client(client_id, client.model_dump_json(), "cimd", now)
            return client
        if row is None:
            return None
        return ClyptClient.model_validate_json(row.info)

    async def fetch_client(self, url: str) -> ClyptClient:
        """A client from its metadata document. Raises: FetchError."""
        document = await fetch_document(url, self.allow_loopback)
        if document.get("client_id") != url:
            raise FetchError("the document's client_id is not the URL it was fetched from")
        uris = document.get("redirect_uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
            raise FetchError("the document needs redirect_uris, a list of URLs")
        for uri in uris:
            problem = redirect_uri_problem(uri)
            if problem:
                raise FetchError(problem)
        method = document.get("token_endpoint_auth_method", "none")
        if method != "none":
            raise FetchError("a metadata-document client must use token_endpoint_auth_method none")
        fields = {
            k: document[k]
            for k in ("client_name", "client_uri", "logo_uri", "redirect_uris", "scope")
            if k in document
        }
        try:
            return ClyptClient.model_validate(
                {
                    **fields,
                    "client_id": url,
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                }
            )
        except ValidationError as exc:
            raise FetchError(f"the document is not valid client metadata: {exc}") from exc

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        for uri in client_info.redirect_uris or []:
            problem = redirect_uri_problem(str(uri))
            if problem:
                raise RegistrationError("invalid_redirect_uri", problem)
        stored = ClyptClient.model_validate(client_info.model_dump())
        if stored.client_secret:
            stored.client_secret = digest(stored.client_secret)
        await self.store.put_client(
            stored.client_id, stored.model_dump_json(), "dcr", self.now_us()
        )

    # --- authorization -------------------------------------------------------------------

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", params.code_challenge):
            raise AuthorizeError(
                "invalid_request", "code_challenge must be a PKCE S256 challenge (43 characters)"
            )
        if self.resource_named(params.resource) is None:
            raise AuthorizeError("invalid_target", "the resources here are " + self.resource_list)
        handle = REQUEST_PREFIX + secrets.token_urlsafe(24)
        await self.store.put_request(
            digest(handle),
            client.client_id,
            params.model_dump_json(),
            self.now_us() + _us(REQUEST_SECONDS),
        )
        return f"{self.issuer}/oauth/consent?request={handle}"

    async def pending(self, handle: str) -> tuple[ClyptClient, AuthorizationParams] | None:
        """The client and parameters of a consent page's request, while it waits."""
        found = await self.store.get_request(digest(handle), self.now_us())
        if found is None:
            return None
        client = await self.get_client(found[0])
        if client is None:
            return None
        return client, AuthorizationParams.model_validate_json(found[1])

    async def approve(
        self,
        handle: str,
        client: ClyptClient,
        params: AuthorizationParams,
        session: Session,
        scopes: list[str],
    ) -> str | None:
        """Record the grant and issue a code; None when the request was answered already."""
        if not await self.store.take_request(digest(handle)):
            return None
        now = self.now_us()
        redirect = urlsplit(str(params.redirect_uri))
        grant_id = await self.store.upsert_grant(
            GrantRecord(
                id="app_" + secrets.token_hex(8),
                workspace_id=session.workspace_id,
                client_id=client.client_id,
                client_name=(client.client_name or redirect.hostname or client.client_id)[:200],
                redirect_host=(redirect.hostname or redirect.scheme)[:200],
                scopes=scopes,
                key_id=session.key_id,
                created_at=now,
                last_used_at=None,
                revoked_at=None,
            )
        )
        code = CODE_PREFIX + secrets.token_urlsafe(32)
        data = {
            "code_challenge": params.code_challenge,
            "redirect_uri": str(params.redirect_uri),
            "explicit": params.redirect_uri_provided_explicitly,
        }
        await self.store.insert_token(
            digest(code),
            "code",
            grant_id=grant_id,
            family=secrets.token_hex(12),
            client_id=client.client_id,
            scopes=scopes,
            resource=self.resource_named(params.resource) or self.resource,
            data=json.dumps(data),
            now=now,
            expires=now + _us(CODE_SECONDS),
        )
        return code

    async def deny(self, handle: str) -> bool:
        return await self.store.take_request(digest(handle))

    # --- codes and tokens ---------------------------------------------------------------

    def _usable(self, row: TokenRow | None) -> bool:
        now = self.now_us()
        return (
            row is not None
            and row.revoked_at is None
            and not row.grant_revoked
            and not row.key_revoked
            and row.expires_at > now
            and (row.key_usable_until is None or row.key_usable_until > now)
        )

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        row = await self.store.token(digest(authorization_code), "code")
        if row is None:
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice revokes what it was exchanged for.
            await self.store.revoke_family(row.family, self.now_us())
            return None
        if not self._usable(row) or row.data is None:
            return None
        data = json.loads(row.data)
        return AuthorizationCode(
            code=authorization_code,
            scopes=row.scopes,
            expires_at=row.expires_at / 1_000_000,
            client_id=row.client_id,
            code_challenge=data["code_challenge"],
            redirect_uri=AnyUrl(data["redirect_uri"]),
            redirect_uri_provided_explicitly=bool(data["explicit"]),
            resource=row.resource,
            subject=row.workspace_id,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> SdkToken:
        code_hash = digest(authorization_code.code)
        row = await self.store.token(code_hash, "code")
        if row is None or not await self.store.spend(code_hash, self.now_us()):
            raise TokenError("invalid_grant", "the authorization code was used already")
        return await self._issue(row, row.scopes)

    async def _issue(self, row: TokenRow, scopes: list[str]) -> SdkToken:
        now = self.now_us()
        access = ACCESS_PREFIX + secrets.token_urlsafe(32)
        refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
        common: dict[str, Any] = {
            "grant_id": row.grant_id,
            "family": row.family,
            "client_id": row.client_id,
            "scopes": scopes,
            "resource": row.resource or self.resource,  # the code's, then the family's
            "data": None,
            "now": now,
        }
        await self.store.insert_token(
            digest(access), "access", expires=now + _us(ACCESS_SECONDS), **common
        )
        await self.store.insert_token(
            digest(refresh), "refresh", expires=now + _us(REFRESH_SECONDS), **common
        )
        return SdkToken(
            access_token=access,
            token_type="Bearer",
            expires_in=ACCESS_SECONDS,
            scope=" ".join(scopes),
            refresh_token=refresh,
        )

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        row = await self.store.token(digest(refresh_token), "refresh")
        if row is None:
            return None
        if row.used_at is not None:
            # A refresh token presented again after it was rotated: someone holds a copy.
            # End the whole family, the current holder's tokens included.
            log.warning("a rotated refresh token was reused; its token family is revoked")
            await self.store.revoke_family(row.family, self.now_us())
            return None
        if not self._usable(row):
            return None
        return RefreshToken(
            token=refresh_token,
            client_id=row.client_id,
            scopes=row.scopes,
            expires_at=row.expires_at // 1_000_000,
            resource=row.resource,
            subject=row.workspace_id,
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> SdkToken:
        token_hash = digest(refresh_token.token)
        row = await self.store.token(token_hash, "refresh")
        if row is None or not await self.store.spend(token_hash, self.now_us()):
            if row is not None:
                await self.store.revoke_family(row.family, self.now_us())
            raise TokenError("invalid_grant", "the refresh token was used already")
        return await self._issue(row, scopes)

    async def load_access_token(self, token: str) -> AccessToken | None:
        if not token.startswith(ACCESS_PREFIX):
            return None
        row = await self.store.token(digest(token), "access")
        if row is None or not self._usable(row):
            return None
        now = self.now_us()
        if now - self._touched.get(row.grant_id, 0) > _us(TOUCH_EVERY):
            self._touched[row.grant_id] = now  # a write a minute per grant, not per request
            if len(self._touched) > 10_000:
                self._touched.clear()
            await self.store.touch_grant(row.grant_id, now, _us(TOUCH_EVERY))
        return AccessToken(
            token=token,
            client_id=row.client_id,
            scopes=row.scopes,
            expires_at=row.expires_at // 1_000_000,
            resource=row.resource,
            subject=row.workspace_id,
            claims={"iss": self.issuer, "grant_id": row.grant_id},
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        kind = "access" if isinstance(token, AccessToken) else "refresh"
        row = await self.store.token(digest(token.token), kind)
        if row is not None:
            await self.store.revoke_family(row.family, self.now_us())

    async def exchange_identity_assertion(self, client: Any, params: Any) -> SdkToken:
        raise TokenError("unsupported_grant_type", "only authorization_code and refresh_token")

    # --- housekeeping --------------------------------------------------------------------

    # --- sign-in links ----------------------------------------------------------------

    async def create_signin_link(self, workspace_id: str, scopes: list[str]) -> str:
        return await create_signin_link(self.store, self.issuer, workspace_id, scopes)


async def create_signin_link(
    store: OAuthStore, base: str, workspace_id: str, scopes: list[str]
) -> str:
    """A one-time sign-in URL under `base`, valid SIGNIN_SECONDS; only its hash is kept."""
    token = SIGNIN_PREFIX + secrets.token_urlsafe(32)
    now = _us(time.time())
    await store.insert_signin(digest(token), workspace_id, scopes, now, now + _us(SIGNIN_SECONDS))
    return f"{base}/oauth/signin?token={token}"


class HashedClientAuthenticator(ClientAuthenticator):
    """The SDK's client authentication, comparing the hash of the presented secret with the
    stored hash (the SDK compares clear secrets)."""

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        form = await request.form()
        client_id = form.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise AuthenticationError("Missing client_id")
        client = await self.provider.get_client(client_id)
        if client is None:
            raise AuthenticationError("Invalid client_id")
        method = client.token_endpoint_auth_method or "none"
        presented: str | None = None
        if method == "client_secret_basic":
            header = request.headers.get("authorization", "")
            if not header.startswith("Basic "):
                raise AuthenticationError("Missing Basic authentication")
            try:
                decoded = base64.b64decode(header[6:]).decode()
                basic_id, _, presented = decoded.partition(":")
            except (ValueError, UnicodeDecodeError, binascii.Error):
                raise AuthenticationError("Invalid Basic authentication header") from None
            if unquote(basic_id) != client_id:
                raise AuthenticationError("Client ID mismatch in Basic auth")
            presented = unquote(presented)
        elif method == "client_secret_post":
            value = form.get("client_secret")
            presented = value if isinstance(value, str) else None
        elif method != "none":
            raise AuthenticationError(f"Unsupported auth method: {method}")
        if method != "none":
            if not client.client_secret or not presented:
                raise AuthenticationError("Client secret is required")
            if not hmac.compare_digest(client.client_secret, digest(presented)):
                raise AuthenticationError("Invalid client_secret")
        return client


class Limits:
    """Per-client-address limits on the authorization endpoints (never global)."""

    def __init__(self) -> None:
        self.requests = RateLimiter(60, 60)
        self.registrations = RateLimiter(20, 3600)


def client_address(request: Request, state: AppState) -> str:
    peer = request.client.host if request.client else None
    forwarded = request.headers.getlist("x-forwarded-for")
    address = client_ip(peer, forwarded, state.settings.trusted_proxies)
    return str(address) if address is not None else "unknown"


def per_address(state: AppState, limiter: RateLimiter, handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        verdict = limiter.hit(client_address(request, state))
        if not verdict.allowed:
            response = oauth_error(
                "slow_down", f"too many requests — retry after {verdict.retry_after} s", 429
            )
            response.headers.update(verdict.headers())
            return response
        return await handler(request)

    return endpoint


def metadata(state: AppState) -> dict[str, Any]:
    """RFC 8414 metadata; `issuer` is CLYPT_BASE_URL exactly."""
    base = state.settings.base
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "registration_endpoint": f"{base}/register",
        "revocation_endpoint": f"{base}/revoke",
        "scopes_supported": SCOPE_NAMES,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_post",
            "client_secret_basic",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "none",
            "client_secret_post",
            "client_secret_basic",
        ],
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": True,
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": f"{base}/llms.txt",
    }


def resource_metadata(state: AppState, path: str = "/mcp") -> dict[str, Any]:
    """RFC 9728 metadata of /mcp (or of /sse)."""
    base = state.settings.base
    return {
        "resource": f"{base}{path}",
        "authorization_servers": [base],
        "scopes_supported": SCOPE_NAMES,
        "bearer_methods_supported": ["header"],
        "resource_name": "Clypt MCP",
        "resource_documentation": f"{base}/llms.txt",
    }


def resource_metadata_url(state: AppState, path: str = "/mcp") -> str:
    return f"{state.settings.base}/.well-known/oauth-protected-resource{path}"


CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": "authorization, content-type, mcp-protocol-version",
}


def _json_document(
    document: Callable[[], dict[str, Any]],
) -> Handler:
    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=CORS)
        return JSONResponse(document(), headers={**CORS, "cache-control": "public, max-age=300"})

    return endpoint


def _cors(
    handler: Handler,
) -> Handler:
    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=CORS)
        response = await handler(request)
        response.headers.update(CORS)
        return response

    return endpoint


MAX_FORM = 16 * 1024


def _small(
    handler: Handler,
) -> Handler:
    async def endpoint(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_FORM):
            return oauth_error("invalid_request", f"the request body is over {MAX_FORM} bytes", 413)
        return await handler(request)

    return endpoint


def routes(state: AppState, provider: ClyptOAuthProvider) -> list[Route]:
    """The authorization server's routes and both metadata documents."""
    limits = Limits()
    authenticator = HashedClientAuthenticator(provider)
    token_handler = TokenHandler(provider, authenticator)
    registration = RegistrationHandler(
        provider, ClientRegistrationOptions(enabled=True, valid_scopes=SCOPE_NAMES)
    )
    authorize = AuthorizationHandler(provider)

    async def token(request: Request) -> Response:
        form = await request.form()
        grant_type = form.get("grant_type")
        resource = form.get("resource")
        if isinstance(resource, str):
            named = provider.resource_named(resource)
            if named is None:
                return oauth_error(
                    "invalid_target", "the resources here are " + provider.resource_list
                )
            # RFC 8707 §2.2: a token request may not widen the grant to another resource.
            kind = "code" if grant_type == "authorization_code" else "refresh"
            secret = form.get("code" if kind == "code" else "refresh_token")
            row = None
            if isinstance(secret, str):
                row = await provider.store.token(digest(secret), kind)
            if row is not None and row.resource and row.resource != named:
                return oauth_error(
                    "invalid_target", f"this grant is for {row.resource}, not {named}"
                )
        if grant_type == "authorization_code" and not form.get("code_verifier"):
            return oauth_error("invalid_grant", "code_verifier is missing (PKCE S256 is required)")
        response: Response = await token_handler.handle(request)
        return response

    async def register(request: Request) -> Response:
        response: Response = await registration.handle(request)
        return response

    async def revoke(request: Request) -> Response:
        # RFC 7009 by hand: the SDK's handler wants a client_secret field even from public
        # clients, which send none.
        try:
            client = await authenticator.authenticate_request(request)
        except AuthenticationError as exc:
            return oauth_error("invalid_client", exc.message, 401)
        form = await request.form()
        token = form.get("token")
        if not isinstance(token, str) or not token:
            return oauth_error("invalid_request", "token is required")
        found: AccessToken | RefreshToken | None = await provider.load_access_token(token)
        if found is None:
            found = await provider.load_refresh_token(client, token)
        if found is not None and found.client_id == client.client_id:
            await provider.revoke_token(found)
        return Response(status_code=200, headers=OAUTH_HEADERS)

    async def authorize_endpoint(request: Request) -> Response:
        response: Response = await authorize.handle(request)
        if response.status_code == 400:
            # Unknown client or redirect URI: a person is looking at this, and it must not
            # redirect anywhere. Show the SDK's reason on a page.
            from clypt_mcp.http.consent import error_page

            try:
                reason = json.loads(bytes(response.body)).get("error_description") or ""
            except ValueError:
                reason = ""
            return error_page(f"This app's authorization request is not valid: {reason}", 400)
        return response

    def guarded(handler: Handler) -> Handler:
        return per_address(state, limits.requests, _small(handler))

    out = [
        Route(
            "/.well-known/oauth-authorization-server",
            _json_document(lambda: metadata(state)),
            methods=["GET", "OPTIONS"],
        ),
        Route(
            "/.well-known/oauth-protected-resource",
            _json_document(lambda: resource_metadata(state)),
            methods=["GET", "OPTIONS"],
        ),
        Route(
            "/.well-known/oauth-protected-resource/mcp",
            _json_document(lambda: resource_metadata(state)),
            methods=["GET", "OPTIONS"],
        ),
        Route(
            "/.well-known/oauth-protected-resource/sse",
            _json_document(lambda: resource_metadata(state, "/sse")),
            methods=["GET", "OPTIONS"],
        ),
        Route("/authorize", guarded(authorize_endpoint), methods=["GET", "POST"]),
        Route("/token", _cors(guarded(token)), methods=["POST", "OPTIONS"]),
        Route(
            "/register",
            _cors(per_address(state, limits.registrations, guarded(register))),
            methods=["POST", "OPTIONS"],
        ),
        Route("/revoke", _cors(guarded(revoke)), methods=["POST", "OPTIONS"]),
    ]
    from clypt_mcp.http import consent

    out.extend(consent.routes(state, provider, limits))
    return out
