"""links import --verify never calls into private networks: which addresses its client refuses."""

from __future__ import annotations

import httpx2
import pytest

from clypt_mcp.verify import old_destination, refused

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("address", "loopback_allowed", "refuse"),
    [
        ("93.184.215.14", False, False),  # a public address
        ("2606:4700::6810:84e5", False, False),
        ("10.1.2.3", False, True),
        ("172.16.0.9", False, True),
        ("192.168.1.1", False, True),
        ("169.254.169.254", False, True),  # cloud metadata
        ("100.64.0.1", False, True),  # carrier-grade NAT
        ("0.0.0.0", False, True),
        ("224.0.0.1", False, True),
        ("fd00::1", False, True),
        ("fe80::1%eth0", False, True),
        ("::ffff:10.0.0.1", False, True),  # IPv4-mapped private
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("127.0.0.1", True, False),  # CLYPT_DEV_ALLOW_LOOPBACK=true
        ("::1", True, False),
        ("10.1.2.3", True, True),  # loopback only, never the rest
    ],
)
def test_refused_addresses(address: str, loopback_allowed: bool, refuse: bool) -> None:
    assert refused(address, loopback_allowed) is refuse


async def test_a_host_naming_loopback_is_refused_before_any_request() -> None:
    async with httpx2.AsyncClient() as http:
        with pytest.raises(ValueError, match="private or local address"):
            await old_destination(http, "http://localhost:9/x", allow_loopback=False)
        with pytest.raises(ValueError, match="not an http"):
            await old_destination(http, "ftp://example.com/x", allow_loopback=False)
