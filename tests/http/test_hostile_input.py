"""Hostile input at the edges, against a real `clypt-mcp serve` process on 127.0.0.1.

One test (or a few) per item of issue 7's "Hostile input" list, each failing if the protection it
names is taken away: destinations with CR/LF, `javascript:`/`data:` schemes, userinfo tricks, IDN
homographs shown in punycode, very long query strings, pages that escape what they show, headers
that try to smuggle or overflow, slow clients and oversized bodies. Malformed HTTP goes over raw
sockets. After each test the server must still answer and its log must hold no traceback.
"""

from __future__ import annotations

import re
import resource
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import quote

import httpx2
import pytest

from clypt_mcp.core.redirects import CompiledLink
from clypt_mcp.http import limits, pages
from clypt_mcp.http.wire import MAX_BODY
from clypt_mcp.models import MAX_URL_LENGTH
from tests.http.live import make_key, start_serve

IDN_BASE = "клипт.example"  # the base URL's host, as an operator might write it
IDN_BASE_ASCII = "xn--h1addrp.example"
HOMOGRAPH = "аррӏе.com"  # Cyrillic letters that look like "apple.com"
HOMOGRAPH_ASCII = "xn--80ak6aa92e.com"
HOSTILE_CODE = '<img src=x onerror="alert(1)">&'  # no `/`, so it is one path segment
HOSTILE_SHOWN = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;"


@dataclass
class Served:
    origin: str
    port: int
    key: str
    db: Path
    log: Path
    api: httpx2.Client  # the REST API with a key that has every scope
    http: httpx2.Client  # the origin, no key, no redirects followed

    def link(self, url: str = "https://example.com/", **fields: Any) -> dict[str, Any]:
        r = self.api.post("/links", json={"url": url, **fields})
        assert r.status_code == 201, r.text
        made: dict[str, Any] = r.json()
        return made

    def rename(self, code: str, new_code: str) -> None:
        """Give a link a code the API would refuse, as a damaged or foreign row might hold."""
        with sqlite3.connect(self.db) as conn:
            conn.execute("UPDATE links SET code = ? WHERE code = ?", (new_code, code))

    def assert_alive(self) -> None:
        assert self.http.get("/healthz").status_code == 200
        assert "Traceback" not in self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # the concurrency test holds MAX_CONCURRENCY sockets open; the server inherits this limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.MAX_CONCURRENCY * 2 + 200
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    db = tmp_path_factory.mktemp("hostile") / "clypt.db"
    key = make_key(db)
    # 127.0.0.1 as a trusted proxy: its connections are not held to limits.MAX_PER_CLIENT,
    # so the concurrency test reaches the server-wide limit
    proc, origin = start_serve(
        db, CLYPT_BASE_URL=f"http://{IDN_BASE}", CLYPT_TRUSTED_PROXIES="127.0.0.1/32"
    )
    port = int(origin.rsplit(":", 1)[1])
    try:
        with (
            httpx2.Client(
                base_url=f"{origin}/api/v1", headers={"authorization": f"Bearer {key}"}, timeout=10
            ) as api,
            httpx2.Client(base_url=origin, timeout=10) as http,
        ):
            log = db.with_name(f"{db.name}.serve-{port}.log")
            yield Served(origin, port, key, db, log, api, http)
    finally:
        proc.terminate()
        proc.wait(30)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- raw HTTP -------------------------------------------------------------------------------


def connect(served: Served, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=timeout)


def read_until_closed(sock: socket.socket, wait: float) -> tuple[bytes, bool]:
    """What the server sends within `wait` seconds, and whether it closed the connection."""
    got = bytearray()
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return bytes(got), False
        except ConnectionResetError:
            return bytes(got), True
        if not chunk:
            return bytes(got), True
        got.extend(chunk)
    return bytes(got), False


def statuses(data: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"(?:^|\r\n)HTTP/1\.1 (\d{3}) ", data)]


def talk(served: Served, request: bytes, wait: float = 3.0) -> tuple[list[int], bytes, bool]:
    """Send raw bytes on a new connection: the statuses answered, the bytes, and whether the
    server closed the connection within `wait` seconds."""
    with connect(served) as sock:
        sock.sendall(request)
        data, closed = read_until_closed(sock, wait)
    return statuses(data), data, closed


def response_head(sock: socket.socket, wait: float = 5.0) -> bytes:
    """The status line and headers of the next response."""
    got = bytearray()
    deadline = time.monotonic() + wait
    while b"\r\n\r\n" not in got:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer: {bytes(got)!r}"
        got.extend(chunk)
    return bytes(got).split(b"\r\n\r\n", 1)[0]


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


# --- destinations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        lambda url: {"url": url},
        lambda url: {"url": "https://example.com/", "variants": [{"url": url}]},
        lambda url: {"url": "https://example.com/", "geo": {"US": url}},
        lambda url: {"url": "https://example.com/", "devices": {"ios": url}},
    ],
    ids=["url", "variant", "geo", "device"],
)
@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a\r\nSet-Cookie: stolen=1",
        "https://example.com/a\nLocation: https://evil.example/",
        "https://example.com/a\rb",
        "https://example.com/\x00",
        "https://example.com/a\tb",
    ],
    ids=["crlf", "lf", "cr", "nul", "tab"],
)
def test_destinations_with_line_breaks_or_controls_are_refused(
    served: Served, field: Any, url: str
) -> None:
    code = f"crlf-{time.monotonic_ns()}"
    r = served.api.post("/links", json={**field(url), "code": code})
    assert r.status_code == 422, r.text
    assert "line breaks or control characters" in r.json()["error"]
    assert served.api.get(f"/links/{code}").status_code == 404
    made = served.link()
    r = served.api.patch(f"/links/{made['code']}", json=field(url))
    assert r.status_code == 422, r.text
    assert served.api.get(f"/links/{made['code']}").json()["url"] == "https://example.com/"


def test_escaped_line_breaks_stay_escaped_in_the_location(served: Served) -> None:
    made = served.link("https://example.com/a%0d%0aSet-Cookie:%20stolen=1?b=%0A")
    with connect(served) as sock:
        sock.sendall(f"GET /{made['code']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = response_head(sock).split(b"\r\n")
    assert head[0] == b"HTTP/1.1 302 Found"
    locations = [h for h in head if h.lower().startswith(b"location:")]
    assert locations == [b"location: https://example.com/a%0d%0aSet-Cookie:%20stolen=1?b=%0A"]
    assert not [h for h in head if h.lower().startswith(b"set-cookie")]


def test_a_stored_destination_with_crlf_never_reaches_the_location_raw(served: Served) -> None:
    """A row written past validation (by hand, by an old version) still cannot split headers."""
    made = served.link("https://example.com/placeholder")
    with sqlite3.connect(served.db) as conn:
        conn.execute(
            "UPDATE links SET url = ? WHERE code = ?",
            ("https://example.com/a\r\nSet-Cookie: stolen=1 x", made["code"]),
        )
    with connect(served) as sock:
        sock.sendall(f"GET /{made['code']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = response_head(sock).split(b"\r\n")
    assert head[0] == b"HTTP/1.1 302 Found"
    assert b"location: https://example.com/aSet-Cookie:%20stolen=1%20x" in head
    assert not [h for h in head if h.lower().startswith(b"set-cookie")]
    served.assert_alive()


@pytest.mark.parametrize(
    "url",
    [
        "javascript://example.com/%0Aalert(document.cookie)",
        "JaVaScRiPt://example.com/%0Aalert(1)",
        "data://example.com/text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript://example.com/msgbox",
        "file://example.com/etc/passwd",
        "ftp://example.com/",
    ],
)
def test_only_http_and_https_destinations_are_taken(served: Served, url: str) -> None:
    # each has a host name, so only the scheme rule stops it
    scheme = url.split(":", 1)[0].lower()
    for body in ({"url": url}, {"url": "https://example.com/", "variants": [{"url": url}]}):
        r = served.api.post("/links", json=body)
        assert r.status_code == 422, r.text
        assert f"scheme '{scheme}:' is not allowed" in r.json()["error"]
    made = served.link()
    assert served.api.patch(f"/links/{made['code']}", json={"url": url}).status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "https://good.example@evil.example/",
        "https://good.example:443@evil.example/",
        "https://good.example%40x@evil.example/",
        "https://user:pass@good.example/",
        "https://evil.example\\@good.example/",  # browsers read `\` as `/`: host evil.example
        "https://@good.example/",
    ],
)
def test_destinations_with_userinfo_are_refused(served: Served, url: str) -> None:
    for body in ({"url": url}, {"url": "https://example.com/", "geo": {"DE": url}}):
        r = served.api.post("/links", json=body)
        assert r.status_code == 422, r.text
        assert "user name or password" in r.json()["error"]


def test_idn_homographs_are_sent_and_shown_in_punycode(served: Served) -> None:
    made = served.link(f"https://{HOMOGRAPH}/login")
    hop = served.http.get(f"/{made['code']}")
    assert hop.headers["location"] == f"https://{HOMOGRAPH_ASCII}/login"
    assert made["shortUrl"].startswith(f"http://{IDN_BASE_ASCII}/")
    page = served.http.get("/no-such-link")
    assert page.status_code == 404
    assert f"{IDN_BASE_ASCII}/no-such-link" in page.text and IDN_BASE not in page.text
    # pages label short links in punycode even when handed a Unicode base URL
    assert pages.short_label(f"https://{HOMOGRAPH}:8443/s", "x") == f"{HOMOGRAPH_ASCII}:8443/s/x"
    shown = bytes(pages.not_found(pages.short_label(f"https://{HOMOGRAPH}", "x")).body).decode()
    assert HOMOGRAPH_ASCII in shown and HOMOGRAPH not in shown


def test_very_long_query_strings(served: Served) -> None:
    # a destination may hold a long query, up to MAX_URL_LENGTH in all, and keeps it exactly
    base = "https://example.com/?q="
    longest = base + "a" * (MAX_URL_LENGTH - len(base))
    made = served.link(longest)
    assert served.http.get(f"/{made['code']}").headers["location"] == longest
    r = served.api.post("/links", json={"url": longest + "a"})
    assert r.status_code == 422 and f"at most {MAX_URL_LENGTH}" in r.json()["error"]
    # a visitor's query string is not passed on
    hop = served.http.get(f"/{made['code']}", params={"x": "y" * 8000})
    assert hop.status_code == 302 and hop.headers["location"] == longest
    # a search that long is refused, not a 5xx
    assert served.api.get("/links", params={"q": "z" * 8000}).status_code in (400, 422)
    # a request line over the header limit never reaches the app
    query = "y" * (limits.MAX_HEADER_BYTES + 1024)
    request = f"GET /{made['code']}?x={query} HTTP/1.1\r\nHost: x\r\n\r\n"
    codes, _, closed = talk(served, request.encode())
    assert codes in ([431], [400]) and closed
    served.assert_alive()


# --- pages ----------------------------------------------------------------------------------


def assert_escaped(response: httpx2.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert HOSTILE_SHOWN in response.text, response.text
    assert "<img" not in response.text and 'onerror="' not in response.text


def test_pages_escape_everything_they_show(served: Served) -> None:
    # what a visitor controls on a page is the path: 404 pages, one segment or deeper
    path = "/" + quote(HOSTILE_CODE, safe="")
    assert_escaped(served.http.get(path), 404)
    assert_escaped(served.http.get("/deeper" + path + "/"), 404)
    # a row holding a code the API refuses (damaged, or written by hand) is never served
    made = served.link()
    served.rename(made["code"], HOSTILE_CODE + "x")
    assert_escaped(served.http.get(path + "x"), 404)
    # 410, password and too-many-tries pages show a short label too: escaped the same way
    link = cast(CompiledLink, SimpleNamespace(starts_at=None, expires_at=None))
    for page in (
        pages.unavailable(HOSTILE_CODE, link, "disabled"),
        pages.password_form(HOSTILE_CODE, wrong=False),
        pages.password_form(HOSTILE_CODE, wrong=True),
        pages.too_many_tries(HOSTILE_CODE, 30),
        pages.render(HOSTILE_CODE, "<p>safe</p>", 200),
    ):
        text = bytes(page.body).decode()
        assert HOSTILE_SHOWN in text and "<img" not in text, text
    served.assert_alive()


def test_header_injection_through_the_short_code_path(served: Served) -> None:
    for method in ("GET", "HEAD", "POST"):
        for path in (
            "/x%0d%0aSet-Cookie:%20stolen=1",
            "/x%0D%0ALocation:%20https://evil.example/",
            "/x%0aSet-Cookie:%20stolen=1/",
            "/a/b%0d%0a%0d%0a<script>alert(1)</script>",
        ):
            body = "Content-Length: 0\r\n" if method == "POST" else ""
            request = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{body}Connection: close\r\n\r\n"
            codes, data, _ = talk(served, request.encode())
            lines = data.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
            # 404 or 405; Starlette answers a path with a line break and a trailing slash
            # with a 307 to the path without it, percent-encoded
            assert len(codes) == 1 and codes[0] in (404, 405, 307), data
            assert not [h for h in lines if h.startswith(b"set-cookie")], data
            locations = [h for h in lines if h.startswith(b"location:")]
            assert all(b"%0a" in h and b"evil" not in h for h in locations), data
            assert b"<script>" not in data
    served.assert_alive()


# --- headers that smuggle or overflow -------------------------------------------------------


def test_transfer_encoding_with_content_length_is_refused_and_closed(served: Served) -> None:
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (
        b"POST /api/v1/tags HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
    )
    codes, data, closed = talk(served, request)
    assert codes == [400] and closed, data
    assert b"/smuggled" not in data
    served.assert_alive()


SMUGGLING = {
    "two-lengths": b"Content-Length: 5\r\nContent-Length: 50\r\n",
    "length-list": b"Content-Length: 5, 50\r\n",
    "negative-length": b"Content-Length: -5\r\n",
    "hex-length": b"Content-Length: 0x10\r\n",
    "two-codings": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
    "gzip-chunked": b"Transfer-Encoding: gzip, chunked\r\n",
    "xchunked": b"Transfer-Encoding: xchunked\r\n",
    "space-before-colon": b"Transfer-Encoding : chunked\r\n",
    "bare-cr": b"X-Split: a\rTransfer-Encoding: chunked\r\n",
    "nul": b"X-Nul: a\x00b\r\n",
    "no-colon": b"X-Nothing\r\n",
}


@pytest.mark.parametrize("headers", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_headers_are_refused_and_the_connection_closed(
    served: Served, headers: bytes
) -> None:
    request = b"POST /api/v1/tags HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n0\r\n\r\nhello"
    codes, data, closed = talk(served, request + b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
    assert codes == [400] and closed, data
    served.assert_alive()


def test_header_blocks_over_the_limit_are_refused(served: Served) -> None:
    def request(pad: int, count: int = 1) -> bytes:
        headers = "".join(f"X-Pad-{i}: {'a' * pad}\r\n" for i in range(count))
        return f"GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode()

    # just under the limit is served; one header or many small ones over it are not
    fits = limits.MAX_HEADER_BYTES - len(request(0)) - 64
    assert talk(served, request(fits))[0] == [200]
    for pad, count in ((limits.MAX_HEADER_BYTES, 1), (20, limits.MAX_HEADER_BYTES // 20)):
        codes, data, closed = talk(served, request(pad, count))
        assert codes in ([431], [400]) and closed, data[:200]
    # a header block that never ends is cut off at the limit, not buffered
    with connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        sent = 0
        with pytest.raises(OSError):  # reset once the server has refused it
            while sent < 100 * limits.MAX_HEADER_BYTES:
                sock.sendall(b"a" * 4096)
                sent += 4096
                time.sleep(0.001)
    served.assert_alive()


# --- slow clients, many clients, big bodies -------------------------------------------------


def closed_after(served: Served, opening: bytes, drip: bytes, every: float = 0.5) -> float:
    """Seconds until the server closes a connection that sent `opening`, then `drip` every
    `every` seconds; at most REQUEST_SECONDS + 10 (a connection never cut off)."""
    start = time.monotonic()
    with connect(served) as sock:
        if opening:
            sock.sendall(opening)
        while time.monotonic() - start < limits.REQUEST_SECONDS + 10:
            readable, _, _ = select.select([sock], [], [], every)
            if readable:
                try:
                    if not sock.recv(65536):
                        return time.monotonic() - start
                except ConnectionResetError:
                    return time.monotonic() - start
            if drip:
                try:
                    sock.sendall(drip)
                except (BrokenPipeError, ConnectionResetError):
                    return time.monotonic() - start
    return time.monotonic() - start


@pytest.mark.serial  # a wall-clock bound
def test_slow_and_silent_clients_are_cut_off_at_the_request_deadline(served: Served) -> None:
    auth = f"Authorization: Bearer {served.key}\r\n".encode()
    body_head = b"POST /api/v1/tags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    mcp_head = (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\n"
    )
    form_head = b"POST /any-code HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"
    clients = {
        "silent": (b"", b""),
        "slow headers": (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-A: b\r\n"),
        "slow body": (body_head + auth + b"Content-Length: 5000\r\n\r\n{", b" "),
        "slow MCP body": (mcp_head + auth + b"Content-Length: 5000\r\n\r\n{", b" "),
        "slow password form": (form_head + b"password=", b"a"),
        # answered 413 at 100 KB, then keeps streaming what it will never be read for
        "endless body": (
            body_head + auth + b"Transfer-Encoding: chunked\r\n\r\n",
            chunk(b" " * 65536),
        ),
    }
    took: dict[str, float] = {}

    def run(name: str) -> None:
        opening, drip = clients[name]
        took[name] = closed_after(served, opening, drip, 0.05 if name == "endless body" else 0.5)

    threads = [threading.Thread(target=run, args=(name,)) for name in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(limits.REQUEST_SECONDS + 15)
    for name, seconds in took.items():  # slack above for a loaded machine; never cut off is +10
        assert limits.REQUEST_SECONDS - 0.5 < seconds < limits.REQUEST_SECONDS + 6, (name, took)
    assert len(took) == len(clients)
    served.assert_alive()


@pytest.mark.serial  # a wall-clock bound
def test_an_idle_kept_alive_connection_is_closed(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        data, closed = read_until_closed(sock, limits.KEEP_ALIVE_SECONDS + 8)
    took = time.monotonic() - start
    assert statuses(data) == [200] and closed
    assert limits.KEEP_ALIVE_SECONDS - 0.5 < took < limits.KEEP_ALIVE_SECONDS + 4


def test_connections_over_the_concurrency_limit_get_503(served: Served) -> None:
    probe = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    held: list[socket.socket] = []
    try:
        for _ in range(limits.MAX_CONCURRENCY - 50):
            held.append(connect(served))
        assert talk(served, probe)[0] == [200]
        for _ in range(50):
            held.append(connect(served))
        codes, data, closed = talk(served, probe)
        assert codes == [503] and closed, data
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while talk(served, probe)[0] != [200]:
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.1)
    served.assert_alive()


def test_a_declared_body_over_100_kb_is_refused_unread(served: Served) -> None:
    for path, extra in (("/api/v1/links", ""), ("/mcp", "Accept: application/json\r\n")):
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {served.key}\r\n"
            f"Content-Type: application/json\r\n{extra}Expect: 100-continue\r\n"
            f"Content-Length: {100 * MAX_BODY}\r\n\r\n"
        )
        with connect(served) as sock:
            sock.sendall(request.encode())  # and no body at all
            head = response_head(sock)
        assert head.startswith(b"HTTP/1.1 413"), head
    served.assert_alive()


@pytest.mark.parametrize("path", ["/api/v1/links", "/mcp", "/api/v1/links/bulk"])
def test_a_chunked_body_over_100_kb_is_refused_before_it_ends(served: Served, path: str) -> None:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {served.key}\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    with connect(served) as sock:
        sock.sendall(request.encode() + chunk(b'{"url": "https://example.com/", "title": "'))
        sent = 0
        while sent <= MAX_BODY + 8192:
            sock.sendall(chunk(b"x" * 8192))
            sent += 8192
        head = response_head(sock)  # the body has not ended: no final chunk was sent
    assert head.startswith(b"HTTP/1.1 413"), head
    served.assert_alive()


def test_an_oversized_password_form_is_answered_without_reading_it(served: Served) -> None:
    locked = served.link(password="open sesame")
    request = (
        f"POST /{locked['code']} HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with connect(served) as sock:
        sock.sendall(request.encode() + chunk(b"password=" + b"a" * 8192))
        head = response_head(sock)
    assert head.startswith(b"HTTP/1.1 403"), head
    served.assert_alive()
