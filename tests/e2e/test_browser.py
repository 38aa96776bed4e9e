"""The pages a visitor sees, in a real headless Chromium: the password form, 404 and 410.

Chromium (Debian's `chromium`) is driven through chromedriver's W3C WebDriver HTTP API with
httpx2, so the test needs no browser library. `.ci/run` installs both packages when missing;
without them these tests fail, they do not skip. The app runs under uvicorn on a free
127.0.0.1 port in the test's event loop, and the links lead to a landing page served by a
second small app on another port (another origin, like a real destination).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from clypt_mcp.core.service import ClyptService
from clypt_mcp.models import LinkCreate, Principal
from clypt_mcp.store.base import Store
from tests.conftest import BASE_URL, FakeClock
from tests.http.live import free_port, serving, started
from tests.services import unavailable

pytestmark = pytest.mark.anyio

OWNER = Principal(workspace_id="default")
CHROMIUM = "/usr/bin/chromium"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
CHROMIUM_ARGS = [  # as root, on a machine with no outside network
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
WAIT = 10.0  # seconds any one wait may take
LANDING_TEXT = "Welcome to the landing page"


class WebDriverError(AssertionError):
    pass


class Browser:
    """One WebDriver session: just the calls these tests make."""

    def __init__(self, http: httpx2.AsyncClient, session: str) -> None:
        self.http = http
        self.session = session

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"/session/{self.session}{path}"
        response = await self.http.request(method, url, json=body)
        value = response.json().get("value")
        if response.status_code != 200:
            raise WebDriverError(f"{method} {path}: {response.status_code} {value}")
        return value

    async def open(self, url: str) -> None:
        await self.call("POST", "/url", {"url": url})

    async def url(self) -> str:
        return str(await self.call("GET", "/url"))

    async def find(self, css: str) -> str:
        found = await self.call("POST", "/element", {"using": "css selector", "value": css})
        assert isinstance(found, dict) and ELEMENT in found, f"{css}: {found}"
        return str(found[ELEMENT])

    async def count(self, css: str) -> int:
        found = await self.call("POST", "/elements", {"using": "css selector", "value": css})
        return len(found)

    async def text(self, css: str = "body") -> str:
        return str(await self.call("GET", f"/element/{await self.find(css)}/text"))

    async def type(self, css: str, keys: str) -> None:
        element = await self.find(css)
        await self.call("POST", f"/element/{element}/clear", {})
        await self.call("POST", f"/element/{element}/value", {"text": keys})

    async def click(self, css: str) -> None:
        await self.call("POST", f"/element/{await self.find(css)}/click", {})

    async def wait_until(self, what: str, check: Callable[[], Awaitable[bool]]) -> None:
        """Poll `check` until it holds; fail after WAIT seconds, showing the page."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                if await check():
                    return
            except WebDriverError:
                pass  # e.g. the page is between two documents
            await anyio.sleep(0.05)
        page = f"at {await self.url()}:\n{await self.text()}"
        raise AssertionError(
            f"not within {WAIT} s: {what}; {page}\nconsole: {await self.console()}"
        )

    async def console(self) -> list[str]:
        """What the browser logged (CSP violations among it), oldest first."""
        entries = await self.call("POST", "/se/log", {"type": "browser"})
        return [str(entry.get("message")) for entry in entries]

    async def wait_for_text(self, text: str) -> None:
        async def shown() -> bool:
            return text in await self.text()

        await self.wait_until(f"the page shows {text!r}", shown)


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        unavailable("browser", f"{program} is not installed")
    return path


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    """Headless Chromium through a chromedriver of our own; both end with the test."""
    _require("chromium")
    driver = _require("chromedriver")
    port = free_port()
    log = (tmp_path / "chromedriver.log").open("wb")
    # its own process group, so the browser it starts goes too when the group is killed
    process = await anyio.open_process(
        [driver, f"--port={port}", "--allowed-ips=127.0.0.1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with httpx2.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=httpx2.Timeout(WAIT * 3)
        ) as http:
            with anyio.fail_after(WAIT):
                while True:
                    try:
                        ready = (await http.get("/status")).json()["value"]["ready"]
                    except httpx2.TransportError:
                        ready = False
                    if ready:
                        break
                    if process.returncode is not None:
                        raise AssertionError(f"chromedriver exited with {process.returncode}")
                    await anyio.sleep(0.05)
            options = {
                "binary": CHROMIUM,
                "args": [*CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"],
            }
            capabilities = {
                "browserName": "chrome",
                "goog:chromeOptions": options,
                "goog:loggingPrefs": {"browser": "ALL"},
            }
            response = await http.post(
                "/session", json={"capabilities": {"alwaysMatch": capabilities}}
            )
            value = response.json()["value"]
            assert response.status_code == 200, f"no browser session: {value}"
            browser = Browser(http, value["sessionId"])
            try:
                timeouts = {"pageLoad": int(WAIT * 1000), "script": 5000, "implicit": 0}
                await browser.call("POST", "/timeouts", timeouts)
                yield browser
            finally:
                with anyio.move_on_after(WAIT, shield=True):
                    await http.delete(f"/session/{browser.session}")
    finally:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # chromedriver and what is left of Chromium
            with anyio.move_on_after(5):
                await process.wait()
            await process.aclose()
            log.close()


async def landing_page(request: Request) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>Landing</title><h1>{LANDING_TEXT}</h1>")


@pytest.fixture
async def landing() -> AsyncIterator[str]:
    """A destination on another origin: its own uvicorn on another free port."""
    app = Starlette(routes=[Route("/welcome", landing_page)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await started(server)
        try:
            yield f"http://127.0.0.1:{port}/welcome"
        finally:
            server.should_exit = True


@pytest.fixture
def service(store: Store, clock: FakeClock) -> ClyptService:
    return ClyptService(store, base_url=BASE_URL, clock=clock)


@pytest.fixture
async def origin(service: ClyptService) -> AsyncIterator[str]:
    async with serving(service) as origin:
        yield origin


async def test_the_password_form_turns_away_a_wrong_password_and_lets_the_right_one_in(
    browser: Browser, service: ClyptService, origin: str, landing: str
) -> None:
    link = await service.create_link(OWNER, LinkCreate(url=landing, password="open sesame"))
    await browser.open(f"{origin}/{link.code}")
    assert "Password required" in await browser.text("h1")
    assert await browser.count("form input[type=password]#password") == 1
    assert await browser.count(".error") == 0

    await browser.type("#password", "not it")
    await browser.click("button[type=submit]")
    await browser.wait_for_text("That password is not right")
    assert await browser.url() == f"{origin}/{link.code}"
    assert "Password required" in await browser.text("h1")

    await browser.type("#password", "open sesame")
    await browser.click("button[type=submit]")

    async def landed() -> bool:
        return await browser.url() == landing

    await browser.wait_until(f"the browser lands on {landing}", landed)
    assert await browser.text("h1") == LANDING_TEXT


async def test_an_unknown_code_shows_the_not_found_page(browser: Browser, origin: str) -> None:
    await browser.open(f"{origin}/no-such-link")
    assert await browser.text("h1") == "Link not found"
    assert "There is no short link at clypt.test/no-such-link" in await browser.text()


async def test_deleted_and_expired_links_show_the_gone_page(
    browser: Browser, service: ClyptService, clock: FakeClock, origin: str, landing: str
) -> None:
    deleted = await service.create_link(OWNER, LinkCreate(url=landing))
    await service.delete_link(OWNER, deleted.code)
    await browser.open(f"{origin}/{deleted.code}")
    assert await browser.text("h1") == "This link was deleted"
    assert "no longer leads anywhere" in await browser.text()

    expires = clock.now + timedelta(minutes=5)
    expired = await service.create_link(OWNER, LinkCreate(url=landing, expires_at=expires))
    clock.advance(minutes=10)
    await browser.open(f"{origin}/{expired.code}")
    assert await browser.text("h1") == "This link has expired"
    assert f"It stopped working on {expires:%Y-%m-%d at %H:%M} UTC." in await browser.text()
