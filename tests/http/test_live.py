"""The real app under uvicorn on a free 127.0.0.1 port, spoken to with httpx2."""

from __future__ import annotations

import anyio
import httpx2
import pytest

from clypt_mcp.core.service import ClyptService
from tests.http.live import serving
from tests.http.rest import bearer, conform

pytestmark = pytest.mark.anyio


async def test_the_served_app_answers_the_rest_api(service: ClyptService, admin_key: str) -> None:
    with anyio.fail_after(30):
        async with serving(service) as origin, httpx2.AsyncClient(base_url=origin) as http:
            document = (await http.get("/api/v1/openapi.json")).json()
            auth = bearer(admin_key)

            async def call(method: str, path: str, **kw: object) -> httpx2.Response:
                r = await http.request(method, "/api/v1" + path, **kw)  # type: ignore[arg-type]
                conform(document, method, path, r)
                return r

            made = await call(
                "POST",
                "/links",
                json={"url": "https://example.com/live", "code": "live"},
                headers={**auth, "Idempotency-Key": "live-1"},
            )
            assert made.status_code == 201
            assert made.json()["shortUrl"].endswith("/live")
            assert made.headers["X-RateLimit-Remaining"] == "999"
            again = await call(
                "POST",
                "/links",
                json={"url": "https://example.com/live", "code": "live"},
                headers={**auth, "Idempotency-Key": "live-1"},
            )
            assert again.json() == made.json()
            listed = await call("GET", "/links", params={"q": "live"}, headers=auth)
            assert [link["code"] for link in listed.json()["links"]] == ["live"]
            qr = await call("GET", f"/links/{made.json()['id']}/qr", headers=auth)
            assert qr.headers["content-type"] == "image/png"
            assert (await call("GET", "/links")).status_code == 401
            big = await call(
                "POST",
                "/tags",
                content=b"x" * (101 * 1024),
                headers={**auth, "Content-Type": "application/json"},
            )
            assert big.status_code == 413


async def test_the_served_app_rate_limits_each_key(service: ClyptService, admin_key: str) -> None:
    with anyio.fail_after(30):
        async with (
            serving(service, rate_limit="3/minute") as origin,
            httpx2.AsyncClient(base_url=origin, headers=bearer(admin_key)) as http,
        ):
            codes = [(await http.get("/api/v1/tags")).status_code for _ in range(4)]
            last = await http.get("/api/v1/tags")
    assert codes == [200, 200, 200, 429]
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1
