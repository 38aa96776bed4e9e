"""Play the person in an OAuth authorization flow, for scripts/conformance.

Waits until a line of LOG holds an authorization URL under ORIGIN (what a client prints for a
human to open), opens it as a browser would, signs in on Clypt's consent page with KEY, leaves
the scopes of --tick ticked (all offered ones when none is named), approves, and follows the
redirect to the client's loopback callback. Exits 0 once the callback answered 2xx, 1 otherwise
(with the reason on stderr; the key, code and tokens are never printed).

Usage: python scripts/consent_person.py LOG ORIGIN KEY [--tick SCOPE ...] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from urllib.parse import parse_qs, urlsplit

import httpx2  # noqa: TID251 (a script outside the package: it plays the person at the consent page)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
OFFERED = re.compile(r'<input type="checkbox" name="scope" value="([^"]+)"')


def wait_for_url(log: str, origin: str, timeout: float) -> str:
    pattern = re.compile(re.escape(origin) + r"/authorize\?\S+")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(log, errors="replace") as f:
                found = pattern.search(re.sub(r"\x1b\][^\x07]*\x07|\x1b\[[0-9;]*m", " ", f.read()))
        except FileNotFoundError:
            found = None
        if found:
            return found.group(0)
        time.sleep(0.2)
    raise SystemExit(f"consent_person: no authorization URL under {origin} in {log}")


def approve(url: str, origin: str, key: str, tick: list[str]) -> None:
    with httpx2.Client(timeout=30) as browser:
        start = browser.get(url)
        consent = start.headers.get("location", "")
        if start.status_code != 302 or not consent.startswith(f"{origin}/oauth/consent?"):
            raise SystemExit(f"consent_person: /authorize answered {start.status_code}, no consent")
        page = browser.get(consent)
        csrf = CSRF.search(page.text)
        if page.status_code != 200 or csrf is None:
            raise SystemExit(
                f"consent_person: the consent page answered {page.status_code}, no form"
            )
        offered = OFFERED.findall(page.text)
        scopes = [s for s in offered if not tick or s in tick]
        if not scopes:
            raise SystemExit(f"consent_person: none of {tick} is offered (offered: {offered})")
        form = {
            "request": parse_qs(urlsplit(consent).query)["request"][0],
            "csrf": csrf.group(1),
            "key": key,
            "action": "approve",
            "scope": scopes,
        }
        answer = browser.post(consent.split("?")[0], data=form)
        back = answer.headers.get("location", "")
        if answer.status_code not in (302, 303) or "code=" not in back:
            raise SystemExit(f"consent_person: approving answered {answer.status_code}, no code")
        host = urlsplit(back).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"consent_person: the redirect leaves loopback ({host})")
        callback = browser.get(back)
        if not callback.is_success:
            raise SystemExit(f"consent_person: the callback answered {callback.status_code}")
    print(f"consent_person: approved {' '.join(scopes)}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("origin")
    parser.add_argument("key")
    parser.add_argument("--tick", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    approve(wait_for_url(args.log, args.origin, args.timeout), args.origin, args.key, args.tick)


if __name__ == "__main__":
    main()
