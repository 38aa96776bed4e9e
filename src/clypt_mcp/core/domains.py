"""Custom domains (#14): a workspace's domains, their DNS verification, and which domain a
link is on.

A domain is added pending; it serves nothing and takes no links until its owner publishes a
TXT record `_clypt-challenge.<domain>` whose value is the domain's token and asks Clypt to
verify it. The record is looked up with dnspython, at `CLYPT_DNS_RESOLVER` (`host:port`) when
set, else at the system's resolvers. A name may be pending in several workspaces; the first to
verify it owns it, and the others are refused from then on.

Links store the id of their domain; none (NULL) is the server's own host, CLYPT_BASE_URL's,
which is every workspace's default until it picks one of its own verified domains.
"""

from __future__ import annotations

from clypt_mcp.models import (
    TXT_PREFIX,
)

DNS_TIMEOUT = 5.0  # seconds for one verification's lookup, every try included
TOKEN_BYTES = 24


def host_name(host: str | None) -> str:
    """A `Host` header's (or a URL's) name alone: lower case, no port, no trailing dot."""
    if not host:
        return ""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal, with or without a port
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def txt_name(domain: str) -> str:
    return f"{TXT_PREFIX}{domain}"


def parse_resolver(value: str) -> tuple[str, int]:
    """`host:port` (an IP address; IPv6 in brackets) as a pair. Raises ValueError."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"CLYPT_DNS_RESOLVER: '{value}' is not host:port, e.g. 127.0.0.1:53")
    host = host.removeprefix("[").removesuffix("]")
    from ipaddress import ip_address

    try:
        ip_address(host)
    except ValueError:
        raise ValueError(
            f"CLYPT_DNS_RESOLVER: '{host}' is not an IP address — give the resolver's address"
        ) from None
    return host, int(port)


async def lookup_txt(name: str, resolver: str | None, lifetime: float = DNS_TIMEOUT) -> list[str]:
    """Every TXT value at `name` (a record's strings joined, as DNS splits long ones).

    Raises: DomainNotVerifiedError-friendly `LookupError` with a reason when DNS does not
    answer; an empty list when the name has no TXT record."""
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    if resolver:
        host, port = parse_resolver(resolver)
        res = dns.asyncresolver.Resolver(configure=False)
        res.nameservers = [host]
        res.port = port
    else:
        res = dns.asyncresolver.Resolver()
    res.lifetime = lifetime
    res.cache = None
    try:
        answer = await res.resolve(name, "TXT", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        raise LookupError(f"DNS did not answer for {name} ({type(exc).__name__})") from exc
    except dns.exception.DNSException as exc:
        raise LookupError(f"DNS lookup of {name} failed ({type(exc).__name__})") from exc
    values = []
    for rdata in answer.rrset or []:
        values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
    return values
