# ruff: noqa: F811 — test functions take the fixtures imported from test_browser by name
"""The home page and the dashboard in a real headless Chromium, as a person would use them.

One walk through the acceptance list of #18: open `/`, follow it to the sign-in, sign in with an
API key, create a link with a tag and a folder, find it by search, edit its destination, visit
the short link, see the click on the link's page, download its QR code and decode it (zxing-cpp)
to the short URL, create and revoke an API key, delete and restore the link. axe-core (vendored
under tests/e2e/vendor/axe-core, MPL-2.0, with its licence) is injected into every page and must
find no serious or critical violation. A screenshot of each page is saved under
`.ci/artifacts/dashboard/` (git-ignored) for CI to keep.

Chromium is driven as in test_browser.py, whose fixtures this file shares.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from clypt_mcp.core.service import ClyptService
from clypt_mcp.errors import AuthenticationError
from clypt_mcp.models import ALL_SCOPES, ApiKeyCreate, LinkQuery, Principal
from clypt_mcp.store.base import Store
from tests.conftest import FakeClock
from tests.e2e.test_browser import Browser, browser, landing  # noqa: F401 (fixtures)
from tests.http.live import free_port, serving

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / ".ci" / "artifacts" / "dashboard"
AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]}).then(
  (r) => done(r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.impact + " " + v.id + ": " + v.help + " at " +
         v.nodes.map((n) => n.target.join(" ")).join(", "))),
  (e) => done(["axe failed: " + e]));
"""


@pytest.fixture
async def site(store: Store, clock: FakeClock) -> AsyncIterator[tuple[ClyptService, str]]:
    """The whole app on a free port, its base URL that very origin (short links work)."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    service = ClyptService(store, base_url=origin)
    async with serving(service, port=port):
        yield service, origin


async def check_page(browser: Browser, name: str) -> None:
    """No serious or critical axe-core violation here; a screenshot for the artefacts."""
    shot = await browser.call("GET", "/screenshot")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(shot))
    await browser.call("POST", "/execute/sync", {"script": AXE.read_text(), "args": []})
    found = await browser.call("POST", "/execute/async", {"script": AXE_RUN, "args": []})
    assert found == [], f"{name} at {await browser.url()}: {json.dumps(found, indent=1)}"


async def prop(browser: Browser, css: str, name: str) -> str:
    element = await browser.find(css)
    return str(await browser.call("GET", f"/element/{element}/property/{name}"))


async def test_a_person_manages_links_in_the_dashboard(
    browser: Browser, site: tuple[ClyptService, str], landing: str
) -> None:
    service, origin = site
    await browser.call("POST", "/timeouts", {"script": 60_000})
    data = ApiKeyCreate(name="laptop", scopes=sorted(ALL_SCOPES))
    key = (await service.create_api_key("default", data)).secret
    owner = Principal(workspace_id="default")

    # the home page, and its way to the sign-in
    await browser.open(f"{origin}/")
    assert (await browser.text("h1")).startswith("Clypt")
    assert f"{origin}/mcp" in await browser.text("#mcp-url")
    await check_page(browser, "home")
    await browser.click('main a[href="/app"]')
    await browser.wait_until("the sign-in page", _at(browser, f"{origin}/app/signin"))
    await check_page(browser, "signin")

    await browser.type("#api_key", key)
    await browser.click("form button[type=submit]")
    await browser.wait_until("the links page", _at(browser, f"{origin}/app"))
    assert key not in await browser.url()
    await check_page(browser, "links-empty")

    # create a link with a tag and a folder
    await browser.click('nav a[href="/app/links/new"]')
    await browser.wait_for_text("Destination URL")
    await check_page(browser, "link-new")
    await browser.type("#url", landing)
    await browser.type("#title", "Spring launch")
    await browser.type("#tags", "launch")
    await browser.type("#folder", "Marketing/2026")
    await browser.click("form.card button[type=submit]")
    await browser.wait_for_text("Link created.")
    made = (await service.list_links(owner, LinkQuery())).links
    assert len(made) == 1 and made[0].tags == ["launch"] and made[0].folder == "Marketing/2026"
    link = made[0]

    # find it by search
    await browser.open(f"{origin}/app")
    await browser.type("#q", "Spring")
    await browser.click("form[role=search] button[type=submit]")
    await browser.wait_for_text("1 link")
    assert await browser.text("table.links a.code") == link.code
    await check_page(browser, "links-search")

    # edit its destination
    await browser.click(f'a[href="/app/links/{link.id}/edit"]')
    await browser.wait_for_text("Edit link")
    await check_page(browser, "link-edit")
    moved = landing + "?from=dashboard"
    await browser.type("#url", moved)
    await browser.click("form.card button[type=submit]")
    await browser.wait_for_text("Saved.")
    assert await browser.text("#destination") == moved

    # visit the short link; the click shows on the link's page
    short = await browser.text("#short-url")
    # as a person's browser: a headless Chromium names itself HeadlessChrome, which is a bot
    person = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36"
    )
    await browser.call(
        "POST",
        "/goog/cdp/execute",
        {"cmd": "Network.setUserAgentOverride", "params": {"userAgent": person}},
    )
    await browser.open(short)
    await browser.wait_until(f"the browser lands on {moved}", _at(browser, moved))

    async def counted() -> bool:
        await browser.open(f"{origin}/app/links/{link.id}")
        return await browser.text("#total-clicks") == "1"

    await browser.wait_until("the link page counts the click", counted)
    assert await browser.count('svg.chart circle.point[data-clicks="1"]') == 1
    await check_page(browser, "link-page")

    # the QR code downloads and decodes to the short URL
    qr_url = await prop(browser, 'a[href$="/qr.png"]', "href")
    cookies = await browser.call("GET", "/cookie")
    jar = {c["name"]: c["value"] for c in cookies}
    async with httpx2.AsyncClient(cookies=jar) as http:
        image = await http.get(qr_url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert _decode_qr(image.content) == short

    # workspace analytics
    await browser.click('nav a[href="/app/analytics"]')
    await browser.wait_for_text("Analytics of workspace default")
    await check_page(browser, "analytics")

    # create an API key, then revoke it
    await browser.click('nav a[href="/app/keys"]')
    await browser.wait_for_text("Create a key")
    await check_page(browser, "keys")
    await browser.type("#key-name", "ci-bot")
    await browser.click("form.card button[type=submit]")
    await browser.wait_for_text("shown this once")
    secret = await browser.text("#new-key")
    assert (await service.authenticate(secret)).workspace_id == "default"
    await check_page(browser, "key-created")
    await browser.click('button[aria-label="Revoke ci-bot"]')
    await browser.wait_for_text("Key revoked.")
    with pytest.raises(AuthenticationError):
        await service.authenticate(secret)

    # delete the link, then restore it
    await browser.open(f"{origin}/app/links/{link.id}")
    await browser.click("button.danger")
    await browser.wait_for_text("You can restore it.")
    assert await browser.text("#status") == "deleted"
    await check_page(browser, "link-deleted")
    await browser.open(f"{origin}/app?status=deleted")
    assert await browser.text("table.links a.code") == link.code
    await browser.open(f"{origin}/app/links/{link.id}")
    await browser.click('form[action$="/restore"] button')
    await browser.wait_for_text("Link restored.")
    assert await browser.text("#status") == "active"
    console = [line for line in await browser.console() if "Content Security Policy" in line]
    assert console == [], console


def _at(browser: Browser, url: str):  # type: ignore[no-untyped-def]
    async def there() -> bool:
        return await browser.url() == url

    return there


def _decode_qr(png: bytes) -> str:
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1, found
    return str(found[0].text)
