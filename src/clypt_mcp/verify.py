"""`links import --verify`: does each old short URL still lead where its imported link does?

The old short URL is asked with HEAD and its redirect read, never followed. The client refuses
any host that resolves to a private, link-local, multicast, reserved or loopback address (an
export file is data from elsewhere: it must not make this machine call into its own network);
`CLYPT_DEV_ALLOW_LOOPBACK=true` lets loopback through, for tests and local development. It then
connects to the address it checked (the name stays in `Host` and TLS's SNI), so a second DNS
answer cannot steer it elsewhere.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import anyio
import httpx2  # noqa: TID251 (the CLI's links import --verify asks old short URLs)

HEAD_SECONDS = 10.0
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class Check:
    row: int
    code: str
    verdict: str  # match, mismatch or error
    old: str | None  # where the old short URL leads (or why it could not be told)
    new: str  # where the Clypt link leads

    def line(self) -> str:
        if self.verdict == "match":
            return f"row {self.row} {self.code}: match {self.new}"
        if self.verdict == "mismatch":
            return f"row {self.row} {self.code}: mismatch old {self.old} new {self.new}"
        return f"row {self.row} {self.code}: error {self.old} (new {self.new})"


def refused(address: str, allow_loopback: bool) -> bool:
    """Whether an address is one an import never calls."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return not allow_loopback
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order.

    Raises: OSError when it does not resolve."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def old_destination(http: httpx2.AsyncClient, url: str, allow_loopback: bool) -> str:
    """Where `url` redirects to (HEAD, not followed).

    Raises: ValueError with why it could not be told.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolve(parts.hostname, port)
    except OSError:
        raise ValueError(f"the host {parts.hostname} does not resolve") from None
    if not addresses or any(refused(a, allow_loopback) for a in addresses):
        raise ValueError(
            f"refused: {parts.hostname} is a private or local address (loopback only with "
            "CLYPT_DEV_ALLOW_LOOPBACK=true)"
        )
    address = addresses[0]
    netloc = f"[{address}]" if ":" in address else address
    if parts.port:
        netloc += f":{parts.port}"
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    headers = {"host": parts.netloc.rsplit("@", 1)[-1]}
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    try:
        response = await http.head(target, headers=headers, extensions=extensions)
    except httpx2.HTTPError as exc:
        raise ValueError(f"no answer from {parts.hostname} ({type(exc).__name__})") from None
    location = response.headers.get("location")
    if response.status_code not in REDIRECTS or not location:
        raise ValueError(f"answered HTTP {response.status_code}, not a redirect")
    return urljoin(url, location)


async def verify(
    items: list[tuple[int, str, str, str]],
    allow_loopback: bool,
    sample: int | None = None,
    seed: int | None = None,
) -> list[Check]:
    """Check `(row, code, old short URL, new destination)` items (all, or `sample` of them
    chosen at random), in row order."""
    chosen = list(items)
    if sample is not None and sample < len(chosen):
        chosen = sorted(random.Random(seed).sample(chosen, sample))
    checks: list[Check] = []
    async with httpx2.AsyncClient(follow_redirects=False, timeout=HEAD_SECONDS) as http:
        for row, code, old_url, new in chosen:
            try:
                old = await old_destination(http, old_url, allow_loopback)
            except ValueError as exc:
                checks.append(Check(row, code, "error", str(exc), new))
                continue
            verdict = "match" if _same(old, new) else "mismatch"
            checks.append(Check(row, code, verdict, old, new))
    return checks


def _same(a: str, b: str) -> bool:
    """The same destination: equal but for the letter case of scheme and host."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme.lower(), (pa.netloc or "").lower(), pa.path or "/", pa.query) == (
        pb.scheme.lower(),
        (pb.netloc or "").lower(),
        pb.path or "/",
        pb.query,
    )
