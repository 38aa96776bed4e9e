"""`serve` fixes glibc's mmap threshold (#20: memory): a large block freed no longer moves
blocks of its size onto the heap, where their holes stay. Checked in a fresh interpreter by
where malloc puts a 512 KiB block after a 1 MiB one was freed: on the heap (`[heap]` in
/proc/self/maps) with glibc's dynamic threshold, in a mapping of its own once tuned."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="malloc tuning is for glibc on Linux"
)

PROBE = """
import ctypes, sys
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "tuned":
    from clypt_mcp.http import memory
    print(",".join(memory.tune_malloc()))
else:
    print("")
big = libc.malloc(1024 * 1024)
libc.free(big)            # glibc now raises its mmap threshold to 1 MiB, unless fixed
block = libc.malloc(512 * 1024)
for line in open("/proc/self/maps"):
    span, *rest = line.split()
    lo, hi = (int(x, 16) for x in span.split("-"))
    if lo <= block < hi:
        print("heap" if line.rstrip().endswith("[heap]") else "mapped")
        break
"""


def where(mode: str) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, timeout=60,
        check=True,
    ).stdout.split("\n")  # fmt: skip
    return out[0], out[1]


def test_a_freed_large_block_does_not_move_the_threshold() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018
    except AttributeError:
        pytest.skip("not glibc: mallopt's options differ")
    applied, tuned = where("tuned")
    assert applied.split(",") == [
        "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"
    ]  # fmt: skip
    assert tuned == "mapped"
    _, untouched = where("plain")
    assert untouched == "heap"  # the probe sees the difference


@pytest.mark.anyio
async def test_each_read_from_a_connection_stays_under_the_mmap_threshold() -> None:
    """asyncio reads up to 256 KiB at a time into a new buffer, above the threshold `serve`
    fixes: every request would map and unmap one. `serve`'s protocol reads into a buffer of
    `READ_BYTES` it keeps, and a request larger than one read still arrives whole."""
    import asyncio
    import socket

    import uvicorn
    from uvicorn.server import ServerState

    from clypt_mcp.http import limits, memory

    assert limits.READ_BYTES < memory.THRESHOLD
    seen: list[bytes] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        body = b""
        while True:
            message = await receive()  # type: ignore[operator]
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(body)
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    config.load()
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, protocol = await loop.connect_accepted_socket(
        lambda: limits.GuardedH11Protocol(config, ServerState(), {}, loop), ours
    )
    assert isinstance(protocol, asyncio.BufferedProtocol)  # asyncio then reads with recv_into
    size = 3 * limits.READ_BYTES + 5
    theirs.setblocking(False)
    payload = bytes(range(256)) * (size // 256) + b"tail!"  # a copy of the wrong bytes shows
    head = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(payload)
    await loop.sock_sendall(theirs, head + payload)
    answer = await asyncio.wait_for(loop.sock_recv(theirs, 1024), 10)
    assert answer.startswith(b"HTTP/1.1 204")
    assert seen == [payload]
    transport.close()
    theirs.close()
