"""Plays the person in an OAuth flow: follows the authorization URL to the consent page, signs
in there and answers, and hands the redirect's parameters to the SDK's OAuth client."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx2
from mcp.shared.auth import AuthorizationCodeResult

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page[:2000]
    return found.group(1)


@dataclass
class Person:
    """`key`: what they paste into the key field; `tick`: the scopes they leave ticked.
    `decline_step_up`: refuse any authorization after the first (recording its URL)."""

    key: str
    tick: list[str]
    decline_step_up: bool = True
    urls: list[str] = field(default_factory=list)
    result: AuthorizationCodeResult | None = None
    browser: httpx2.AsyncClient = field(default_factory=lambda: httpx2.AsyncClient(timeout=10))

    async def redirect_handler(self, url: str) -> None:
        self.urls.append(url)
        if self.decline_step_up and len(self.urls) > 1:
            raise RuntimeError("the person declined the step-up")
        self.result = await approve(self.browser, url, self.key, self.tick)

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None
        result, self.result = self.result, None
        return result


async def consent_page(browser: httpx2.AsyncClient, url: str) -> tuple[str, str]:
    """The consent page an authorization URL leads to: (its URL, its HTML)."""
    start = await browser.get(url)
    assert start.status_code == 302, start.text
    location = start.headers["location"]
    page = await browser.get(location)
    assert page.status_code == 200, page.text
    return location, page.text


async def approve(
    browser: httpx2.AsyncClient, url: str, key: str, tick: list[str]
) -> AuthorizationCodeResult:
    location, page = await consent_page(browser, url)
    handle = parse_qs(urlsplit(location).query)["request"][0]
    form = {
        "request": handle,
        "csrf": csrf_of(page),
        "key": key,
        "action": "approve",
        "scope": tick,
    }
    answer = await browser.post(location.split("?")[0], data=form)
    assert answer.status_code == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return AuthorizationCodeResult(
        code=query["code"][0], state=query["state"][0], iss=query.get("iss", [None])[0]
    )
