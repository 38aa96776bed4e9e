"""Custom domains (#14 acceptance 1-3) over a real `clypt-mcp serve`, on SQLite and on
PostgreSQL: two workspaces, three domains made by the operator's CLI, links on them through
the REST API, redirects told apart by `Host`, DNS verification against a TXT server this test
runs on 127.0.0.1 (CLYPT_DNS_RESOLVER), and the TLS proxy's `ask` endpoint.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.dns_server import TxtServer, txt_server
from tests.http.live import serve_env, start_serve

STORES = ["sqlite", "postgres"]


class Served:
    def __init__(self, origin: str, env: dict[str, str], dns: TxtServer) -> None:
        self.origin = origin
        self.env = env
        self.dns = dns
        self.http = httpx2.Client(base_url=origin, timeout=10)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "clypt_mcp", *args],
            env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def key(self, workspace: str) -> str:
        return self.cli("keys", "create", "--name", workspace, "--workspace", workspace)

    def api(
        self, method: str, path: str, key: str, body: Any = None, **params: str
    ) -> httpx2.Response:
        return self.http.request(
            method, f"/api/v1{path}", json=body, params=params or None,
            headers={"authorization": f"Bearer {key}"},
        )  # fmt: skip

    def visit(self, code: str, host: str, **headers: str) -> httpx2.Response:
        port = self.origin.rsplit(":", 1)[1]
        return self.http.get(f"/{code}", headers={"host": f"{host}:{port}", **headers})


@pytest.fixture(params=STORES)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    db = tmp_path / "clypt.db"
    extra: dict[str, str] = {}
    if request.param == "postgres":
        extra["CLYPT_DATABASE_URL"] = request.getfixturevalue("pg_url")
    with txt_server() as dns:
        extra["CLYPT_DNS_RESOLVER"] = dns.address
        proc, origin = start_serve(db, **extra)
        try:
            served = Served(origin, serve_env(db) | {"CLYPT_BASE_URL": origin} | extra, dns)
            with served.http:
                yield served
        finally:
            proc.terminate()
            proc.wait(15)


def test_two_workspaces_three_domains_one_code_two_destinations(served: Served) -> None:
    acme, beta = served.key("acme"), served.key("beta")
    for name, workspace in (("go.acme.test", "acme"), ("acme.link", "acme"),
                            ("links.beta.test", "beta")):  # fmt: skip
        out = served.cli("domains", "add", name, "--workspace", workspace, "--verified")
        assert out.endswith(f"\t{name}")

    # the same code on two domains of two workspaces
    a = served.api(
        "POST",
        "/links",
        acme,
        {"url": "https://a.example/spring", "code": "spring", "domain": "go.acme.test"},
    )
    b_link = {"url": "https://b.example/s", "code": "spring", "domain": "LINKS.beta.test"}
    b = served.api("POST", "/links", beta, b_link)
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    assert a.json()["shortUrl"] == "http://go.acme.test/spring"
    assert a.json()["domain"] == "go.acme.test"
    assert b.json()["shortUrl"] == "http://links.beta.test/spring"
    r = served.visit("spring", "go.acme.test")
    assert (r.status_code, r.headers["location"]) == (302, "https://a.example/spring")
    r = served.visit("spring", "links.beta.test")
    assert (r.status_code, r.headers["location"]) == (302, "https://b.example/s")
    # the server's own host has no `spring`; a host nobody has is a plain 404 naming no one
    assert served.visit("spring", "127.0.0.1").status_code == 404
    unknown = served.visit("spring", "nobody.example")
    assert unknown.status_code == 404
    for word in ("acme", "beta", "spring"):
        assert word not in unknown.text

    # a link without a domain goes on the workspace's default: the server's own host, then
    # the domain made default
    plain = served.api("POST", "/links", acme, {"url": "https://a.example/plain"}).json()
    assert plain["shortUrl"] == f"{served.origin}/{plain['code']}"
    assert plain["domain"] == "127.0.0.1"
    listed = served.api("GET", "/domains", acme).json()
    assert listed["defaultDomain"] == "127.0.0.1"
    link_id = next(d["id"] for d in listed["domains"] if d["domain"] == "acme.link")
    assert served.api("PATCH", f"/domains/{link_id}", acme, {"default": True}).status_code == 200
    later = served.api("POST", "/links", acme, {"url": "https://a.example/later"}).json()
    assert later["shortUrl"] == f"http://acme.link/{later['code']}"
    assert served.visit(later["code"], "acme.link").status_code == 302
    assert served.visit(plain["code"], "127.0.0.1").status_code == 302  # it stayed

    # a workspace cannot see or use another's domain
    assert [d["domain"] for d in listed["domains"]] == ["acme.link", "go.acme.test"]
    used = served.api("POST", "/links", acme,
                      {"url": "https://a.example/x", "domain": "links.beta.test"})  # fmt: skip
    assert used.status_code == 404 and used.json()["code"] == "not_found"
    seen = served.api("GET", "/links", acme, domain="links.beta.test").json()
    assert seen["links"] == [] and seen["total"] == 0
    assert served.api("GET", "/links", acme, domain="go.acme.test").json()["total"] == 1
    taken = served.api("POST", "/domains", acme, {"domain": "links.beta.test"})
    assert taken.status_code == 409 and "another workspace" in taken.json()["error"]
    beta_domain = served.api("GET", "/domains", beta).json()["domains"][0]["id"]
    assert served.api("GET", f"/domains/{beta_domain}", acme).status_code == 404
    assert served.api("DELETE", f"/domains/{beta_domain}", acme).status_code == 404

    # moving a link keeps its code, unless the code is taken there: a clear conflict
    clash = served.api(
        "POST",
        "/links",
        acme,
        {"url": "https://a.example/other", "code": "spring", "domain": "acme.link"},
    )
    assert clash.status_code == 201, clash.text
    moved = served.api("PATCH", f"/links/{a.json()['id']}", acme, {"domain": "acme.link"})
    assert moved.status_code == 409 and moved.json()["code"] == "code_taken"
    assert "spring" in moved.json()["error"] and "acme.link" in moved.json()["error"]
    summer = served.api("POST", "/links", acme, {"url": "https://a.example/summer",
                        "code": "summer", "domain": "go.acme.test"}).json()  # fmt: skip
    moved = served.api("PATCH", f"/links/{summer['id']}", acme, {"domain": "acme.link"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["code"], moved.json()["shortUrl"]) == ("summer", "http://acme.link/summer")
    assert served.visit("summer", "acme.link").status_code == 302
    assert served.visit("summer", "go.acme.test").status_code == 404

    # a domain with links cannot be removed until they move
    go_id = next(d["id"] for d in listed["domains"] if d["domain"] == "go.acme.test")
    refused = served.api("DELETE", f"/domains/{go_id}", acme)
    assert refused.status_code == 409 and "1 link" in refused.json()["error"]
    back = served.api("PATCH", f"/links/{a.json()['id']}", acme,
                      {"domain": "127.0.0.1"})  # fmt: skip
    assert back.status_code == 200 and back.json()["shortUrl"] == f"{served.origin}/spring"
    assert served.api("DELETE", f"/domains/{go_id}", acme).status_code == 200
    assert served.visit("spring", "go.acme.test").status_code == 404


def test_verification_asks_the_dns_server_and_a_verified_domain_serves(served: Served) -> None:
    acme, beta = served.key("acme"), served.key("beta")
    added = served.api("POST", "/domains", acme, {"domain": "new.acme.test"})
    assert added.status_code == 201, added.text
    domain = added.json()
    assert domain["txtName"] == "_clypt-challenge.new.acme.test"
    assert domain["verified"] is False and domain["txtValue"]
    # pending: serves nothing, takes no links
    made = served.api("POST", "/links", acme,
                      {"url": "https://a.example/n", "domain": "new.acme.test"})  # fmt: skip
    assert made.status_code == 422 and domain["txtValue"] in made.json()["error"]
    served.cli("domains", "add", "other.test", "--workspace", "beta", "--verified")
    assert served.visit("anything", "new.acme.test").status_code == 404

    # no record, then a wrong one: not verified, nothing changes, the record to publish named
    for records in ([], ["clypt-verify=wrong", "v=spf1 -all"]):
        if records:
            served.dns.records["_clypt-challenge.new.acme.test"] = records
        r = served.api("POST", f"/domains/{domain['id']}/verify", acme)
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["code"] == "domain_not_verified"
        assert (body["txtName"], body["txtValue"]) == (domain["txtName"], domain["txtValue"])
        assert domain["txtName"] in body["error"] and domain["txtValue"] in body["error"]
        still = served.api("GET", f"/domains/{domain['id']}", acme).json()
        assert still["verified"] is False
    assert "_clypt-challenge.new.acme.test" in served.dns.questions

    # the right value among others: verified, and serving
    served.dns.records["_clypt-challenge.new.acme.test"] = ["v=spf1 -all", domain["txtValue"]]
    r = served.api("POST", f"/domains/{domain['id']}/verify", acme)
    assert r.status_code == 200 and r.json()["verified"] is True, r.text
    made = served.api("POST", "/links", acme, {"url": "https://a.example/n", "code": "newone",
                      "domain": "new.acme.test"})  # fmt: skip
    assert made.status_code == 201, made.text
    hit = served.visit("newone", "new.acme.test")
    assert (hit.status_code, hit.headers["location"]) == (302, "https://a.example/n")

    # verified by acme: beta cannot add it; a name both had pending goes to the first verifier
    refused = served.api("POST", "/domains", beta, {"domain": "new.acme.test"})
    assert refused.status_code == 409 and "another workspace" in refused.json()["error"]
    mine = served.api("POST", "/domains", acme, {"domain": "both.test"}).json()
    theirs = served.api("POST", "/domains", beta, {"domain": "both.test"}).json()
    served.dns.records["_clypt-challenge.both.test"] = [mine["txtValue"], theirs["txtValue"]]
    assert served.api("POST", f"/domains/{mine['id']}/verify", acme).status_code == 200
    late = served.api("POST", f"/domains/{theirs['id']}/verify", beta)
    assert late.status_code == 409 and "another workspace" in late.json()["error"]


def test_the_tls_ask_endpoint_answers_200_for_verified_domains_only(served: Served) -> None:
    served.cli("domains", "add", "go.acme.test", "--workspace", "acme", "--verified")
    served.cli("domains", "add", "pending.acme.test", "--workspace", "acme")

    def ask(domain: str) -> int:
        return served.http.get("/internal/tls-allowed", params={"domain": domain}).status_code

    assert ask("go.acme.test") == 200
    assert ask("GO.acme.test") == 200
    assert ask("pending.acme.test") == 404
    assert ask("nobody.example") == 404
    assert served.http.get("/internal/tls-allowed").status_code == 400
