"""What `serve` shows agents: Markdown on request, the API index, and the icons MCP lists."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx2
import pytest
from mcp import Client

from clypt_mcp.assets import full_guide_text, guide_text
from clypt_mcp.config import Settings
from clypt_mcp.core.clicks import ClickRecorder
from clypt_mcp.core.service import ClyptService
from clypt_mcp.http.app import create_app
from clypt_mcp.models import ALL_SCOPES
from tests.conftest import BASE_URL, ServerFactory

pytestmark = pytest.mark.anyio

SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/svg+xml": b"<svg "}


@pytest.fixture
async def http(service: ClyptService) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(service, Settings(base_url=BASE_URL), ClickRecorder(service.store),
                     with_mcp=False, store=service.store)  # fmt: skip
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("accept", "markdown"),
    [
        ("text/markdown", True),
        ("text/markdown, text/html;q=0.5", True),
        ("text/html, text/markdown;q=0.9", False),
        ("text/html", False),
        ("*/*", False),
        ("", False),
    ],
)
async def test_home_answers_markdown_to_clients_asking_for_it_first(
    http: httpx2.AsyncClient, accept: str, markdown: bool
) -> None:
    r = await http.get("/", headers={"accept": accept} if accept else {})
    assert r.status_code == 200
    assert "accept" in r.headers["vary"].lower()
    if markdown:
        assert r.headers["content-type"].startswith("text/markdown")
        assert "/llms.txt" in r.text and f"{BASE_URL}/mcp" in r.text and "<" not in r.text
    else:
        assert r.headers["content-type"].startswith("text/html")
        assert '<a href="/llms.txt">' in r.text and f"{BASE_URL}/mcp" in r.text


@pytest.mark.parametrize(
    ("path", "body"), [("/llms.txt", guide_text), ("/llms-full.txt", full_guide_text)]
)
async def test_guides_are_served_as_markdown(
    http: httpx2.AsyncClient, path: str, body: object
) -> None:
    r = await http.get(path, headers={"accept": "text/markdown"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert callable(body) and r.text == body()


@pytest.mark.parametrize("path", ["/api/v1", "/api/v1/"])
async def test_api_root_answers_json_with_or_without_the_slash(
    http: httpx2.AsyncClient, path: str
) -> None:
    r = await http.get(path)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["openapi"] == "/api/v1/openapi.json"
    document = (await http.get(r.json()["openapi"])).json()
    assert "get" in document["paths"]["/"]


async def _icons_listed(server_factory: ServerFactory) -> list[tuple[str, str]]:
    """(src, mimeType) of every icon the server and its tools list."""
    async with Client(await server_factory(ALL_SCOPES)) as client:
        assert client.server_info is not None and client.server_info.icons
        icons = list(client.server_info.icons)
        tools = (await client.list_tools()).tools
        assert tools
        for tool in tools:
            assert tool.icons, f"{tool.name} lists no icon"
            assert {i.mime_type for i in tool.icons} == {"image/png", "image/svg+xml"}
            icons.extend(tool.icons)
    return [(i.src, str(i.mime_type)) for i in icons]


async def test_every_listed_icon_answers_with_its_image(
    make_server: ServerFactory, http: httpx2.AsyncClient
) -> None:
    listed = await _icons_listed(make_server)
    for src, mime in listed:
        if src.startswith("data:"):
            head, _, payload = src.partition(",")
            assert head == f"data:{mime};base64"
            data = base64.b64decode(payload, validate=True)
        else:
            assert src.startswith(BASE_URL + "/"), src
            r = await http.get(src.removeprefix(BASE_URL))
            assert r.status_code == 200 and r.headers["content-type"] == mime
            data = r.content
        assert data.startswith(SIGNATURES[mime]), src[:60]


async def test_serve_answers_each_shipped_icon_with_an_image_type(http: httpx2.AsyncClient) -> None:
    from clypt_mcp.assets import ICON_NAMES

    for name in ICON_NAMES:
        for ext, mime in (("png", "image/png"), ("svg", "image/svg+xml")):
            r = await http.get(f"/icons/{name}.{ext}")
            assert r.status_code == 200, name
            assert r.headers["content-type"] == mime
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.content.startswith(SIGNATURES[mime])
    for bad in ("/icons/nope.png", "/icons/clypt.exe", "/icons/..%2Fllms.txt"):
        assert (await http.get(bad)).status_code == 404
