"""Destination URLs: whether one points back at this server (the URL rules: models.py)."""

from __future__ import annotations

import socket
import unicodedata
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import urlsplit


def points_at(url: str, base_url: str) -> bool:
    """True when `url` is on the host and port of `base_url`, as a browser resolves both
    (`browser_host`; any two loopback addresses count as one host): a short link to it would
    loop."""
    a, b = urlsplit(url), urlsplit(base_url)
    host_a, host_b = browser_host(a.hostname or ""), browser_host(b.hostname or "")
    if host_a != host_b and not (_loopback(host_a) and _loopback(host_b)):
        return False
    return _effective_port(a.scheme, a.port) == _effective_port(b.scheme, b.port)


def _effective_port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else {"http": 80, "https": 443}.get(scheme.lower())


# --- hosts as a browser resolves them -----------------------------------------------------

_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def browser_host(host: str) -> str:
    """`host` as a browser will resolve it: NFKC (fullwidth digits and letters), ideographic
    dots as dots, lower case, no trailing dot, IDN labels in punycode; an IP literal in any
    form a browser takes (`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`, `[::ffff:7f00:1]`)
    as its address; `localhost` and `*.localhost` as `127.0.0.1`."""
    name = unicodedata.normalize("NFKC", host).translate(_DOTS).strip("[]").lower().rstrip(".")
    try:
        address = ip_address(name.partition("%")[0])
    except ValueError:
        address = None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address is None and name and name.rsplit(".", 1)[-1].replace("x", "").isalnum():
        last = name.rsplit(".", 1)[-1]
        if last.isdigit() or last.startswith("0x"):
            try:  # the legacy IPv4 forms browsers accept, as inet_aton reads them
                address = IPv4Address(socket.inet_aton(name))
            except OSError:
                address = None
    if address is not None:
        return str(address)
    if name == "localhost" or name.endswith(".localhost"):
        return "127.0.0.1"
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
