"""The pure rules of the authorization server: redirect URIs, and where a client metadata
document may be fetched from."""

from __future__ import annotations

import pytest

from clypt_mcp.http.oauth import redirect_matches, redirect_uri_problem
from clypt_mcp.http.oauth_fetch import FetchError, check_host, fetch_document, is_document_url

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("registered", "asked", "ok"),
    [
        ("https://app.example/cb", "https://app.example/cb", True),
        ("https://app.example/cb", "https://app.example/cb/", False),
        ("https://app.example/cb", "https://app.example:444/cb", False),
        ("https://app.example/cb", "https://APP.example.evil/cb", False),
        ("http://127.0.0.1:9/cb", "http://127.0.0.1:51000/cb", True),
        ("http://localhost/cb", "http://localhost:8123/cb", True),
        ("http://127.0.0.1:9/cb", "http://127.0.0.1:9/other", False),
        ("http://127.0.0.1:9/cb", "http://127.0.0.2:9/cb", False),
    ],
)
def test_redirect_uris_match_exactly_but_a_loopback_port(
    registered: str, asked: str, ok: bool
) -> None:
    assert redirect_matches(registered, asked) is ok


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "data:text/html,x",
        "file:///etc/passwd",
        "http://app.example/cb",
        "https://app.example/cb#frag",
    ],
)
def test_dangerous_redirect_uris_are_named(uri: str) -> None:
    assert redirect_uri_problem(uri)


@pytest.mark.parametrize(
    "uri", ["https://app.example/cb", "http://127.0.0.1:3000/cb", "cursor://anysphere/cb"]
)
def test_ordinary_redirect_uris_pass(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


def test_only_https_client_ids_are_documents_unless_loopback_is_allowed() -> None:
    assert is_document_url("https://app.example/client.json", False)
    assert not is_document_url("http://127.0.0.1:8000/client.json", False)
    assert is_document_url("http://127.0.0.1:8000/client.json", True)
    assert not is_document_url("http://app.example/client.json", True)
    assert not is_document_url("5f0c-uuid", True)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/c.json",
        "https://10.1.2.3/c.json",
        "https://192.168.0.7/c.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/c.json",
        "https://[fd00::1]/c.json",
        "https://0.0.0.0/c.json",
    ],
)
async def test_document_fetches_refuse_private_and_local_addresses(url: str) -> None:
    with pytest.raises(FetchError, match="private or local"):
        await check_host(url, allow_loopback=False)
    with pytest.raises(FetchError):
        await fetch_document(url, allow_loopback=False)


async def test_allowing_loopback_lets_loopback_through_and_nothing_else() -> None:
    await check_host("https://127.0.0.1/c.json", allow_loopback=True)
    with pytest.raises(FetchError):
        await check_host("https://10.1.2.3/c.json", allow_loopback=True)
