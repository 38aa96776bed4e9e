"""Fetching a Client ID Metadata Document: HTTPS only, public addresses only, small, quick.

The client id of a client that uses a metadata document is the URL of a JSON document the
server fetches. That URL is chosen by whoever starts an authorization, so the fetch must not
become a way to reach the server's own network: the host's every address is checked after DNS
and loopback, private, link-local, multicast and reserved ones are refused (loopback alone is let
through by `CLYPT_DEV_ALLOW_LOOPBACK=true`, for tests and local development, which also allows
`http://` on loopback); redirects are not followed at all; the body is cut at MAX_DOCUMENT bytes
and the whole fetch at FETCH_SECONDS.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2  # noqa: TID251 (fetches OAuth client metadata documents)

MAX_DOCUMENT = 16 * 1024
FETCH_SECONDS = 5.0


class FetchError(Exception):
    """Why a document could not be used, in words fit for an error page."""


def is_document_url(client_id: str, allow_loopback: bool) -> bool:
    """Whether `client_id` names a metadata document rather than a registered client."""
    parts = urlsplit(client_id)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return allow_loopback and parts.scheme == "http" and _is_loopback_name(parts.hostname or "")


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refused(address: str, allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return not allow_loopback
    return (
        ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def check_host(url: str, allow_loopback: bool) -> None:
    """Refuse a URL whose host resolves to an address this server must not call.

    Raises: FetchError.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise FetchError("the client id URL has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"the client id host '{host}' does not resolve") from exc
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or any(_refused(a, allow_loopback) for a in addresses):
        raise FetchError(
            f"the client id host '{host}' resolves to a private or local address, "
            "which this server does not call"
        )


async def fetch_document(url: str, allow_loopback: bool) -> dict[str, Any]:
    """The JSON object at `url`.

    Raises: FetchError.
    """
    if not is_document_url(url, allow_loopback):
        raise FetchError("a client id URL must be https://")
    await check_host(url, allow_loopback)
    try:
        with anyio.fail_after(FETCH_SECONDS):
            async with (
                httpx2.AsyncClient(follow_redirects=False, timeout=FETCH_SECONDS) as http,
                http.stream("GET", url, headers={"accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise FetchError(
                        f"the client metadata document answered HTTP {response.status_code} "
                        "(redirects are not followed)"
                    )
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT:
                        raise FetchError(
                            f"the client metadata document is over {MAX_DOCUMENT} bytes"
                        )
    except TimeoutError as exc:
        raise FetchError("the client metadata document took too long to fetch") from exc
    except httpx2.HTTPError as exc:
        raise FetchError("the client metadata document could not be fetched") from exc
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise FetchError("the client metadata document is not JSON") from exc
    if not isinstance(document, dict):
        raise FetchError("the client metadata document is not a JSON object")
    return document
