"""RemoteBackend: the MCP tools over any Clypt REST API v1, with no database of their own."""

from __future__ import annotations

import functools
import logging
import random
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import anyio
import httpx2
from pydantic import BaseModel
from pydantic.alias_generators import to_camel, to_snake

from clypt_mcp.backends.base import JobProgressFn, Progress
from clypt_mcp.errors import (
    ClyptError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from clypt_mcp.models import (
    USER_KEY_MAPS,
    Analytics,
    AnalyticsQuery,
    BulkAnswer,
    BulkDelete,
    BulkError,
    BulkResult,
    BulkUpdate,
    ClickExport,
    ClickLog,
    ClickQuery,
    Deleted,
    Domain,
    DomainList,
    Folder,
    FolderList,
    ImportStart,
    Job,
    JobList,
    Link,
    LinkCreate,
    LinkExport,
    LinkPage,
    LinkQuery,
    LinkUpdate,
    Scope,
    Tag,
    TagList,
    Usage,
    Webhook,
    WebhookDeliveries,
    WebhookList,
    WebhookQueued,
    WebhookWithSecret,
    ascii_fold,
    expand_scopes,
    tool_words,
)

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
_OPAQUE = USER_KEY_MAPS  # maps whose keys are user data
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
JOB_POLL = 0.25  # seconds between looks at a job the caller waits for


@functools.lru_cache(maxsize=1024)
def _snake(key: str) -> str:
    return to_snake(key)  # a regex walk (~14 µs): each key is converted once per process


def snakify(value: Any) -> Any:
    """camelCase keys back to snake_case, recursively, leaving user-data maps alone."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = _snake(k)
            out[key] = v if key in _OPAQUE else snakify(v)
        return out
    if isinstance(value, list):
        return [snakify(v) for v in value]
    return value


@functools.lru_cache(maxsize=1024)
def _camel(key: str) -> str:
    return to_camel(key)


def camelize(value: Any) -> Any:
    """snake_case keys to REST's camelCase, recursively, leaving user-data maps alone."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = _camel(k) if isinstance(k, str) else k
            out[key] = v if k in _OPAQUE else camelize(v)
        return out
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


class RemoteBackend:
    """Speaks REST v1 to a Clypt server with one API key; errors come back as ClyptErrors.

    GETs, PATCHes and DELETEs are retried on 429 and 5xx (honouring Retry-After) and on
    transport errors, with backoff; a POST is retried only under an Idempotency-Key, which this
    client always sends, so a retried create never makes a duplicate.
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        api_key: str,
        *,
        retries: int = 3,
        backoff: float = 0.2,
        max_wait: float = 10.0,
        timeout: float = 10.0,
    ) -> None:
        self.http = http
        self.api_key = api_key
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.timeout = timeout
        self._scopes: frozenset[Scope] | None = None
        self._base_url = ""

    @property
    def url(self) -> str:
        return str(self.http.base_url).rstrip("/")

    # --- plumbing ---------------------------------------------------------------------

    async def connect(self) -> frozenset[Scope]:
        """Ask the server who this key is; returns its scopes (implied ones included).

        Raises: AuthenticationError, UnavailableError.
        """
        me = await self._call("GET", "/me")
        self._scopes = expand_scopes(frozenset(Scope(s) for s in me["scopes"]))
        self._base_url = str(me.get("base_url") or "")
        return self._scopes

    @property
    def scopes(self) -> frozenset[Scope]:
        if self._scopes is None:
            raise UnavailableError("the remote backend is not connected yet")
        return self._scopes

    @property
    def base_url(self) -> str:
        return self._base_url

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """One API call, retries included, bounded by `timeout` seconds in all.

        Raises: the ClyptError the API answered, or UnavailableError naming the URL.
        """
        try:
            with anyio.fail_after(self.timeout):
                return await self._attempts(method, path, body, params, idempotency_key)
        except TimeoutError:
            raise UnavailableError(
                f"the Clypt API at {self.url} did not answer within {self.timeout:g} s — check "
                "that the server is up, then try again",
                url=self.url,
            ) from None

    async def _attempts(
        self,
        method: str,
        path: str,
        body: Any,
        params: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> Any:
        # Clypt-Wording: the API words error hints as the MCP tools do, for the assistant.
        headers = {
            "authorization": f"Bearer {self.api_key}",
            "accept": "application/json",
            "clypt-wording": "mcp",
        }
        if method == "POST":
            headers["idempotency-key"] = idempotency_key or f"clypt-mcp-{uuid.uuid4()}"
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        target = f"/api/v1{path}"
        for attempt in range(self.retries + 1):
            try:
                response = await self.http.request(
                    method, target, json=body, params=query, headers=headers
                )
            except httpx2.HTTPError as exc:
                if attempt < self.retries:
                    await anyio.sleep(self._delay(attempt, None))
                    continue
                raise UnavailableError(
                    f"the Clypt API at {self.url} did not answer ({_cause(exc)}) — check that "
                    "the server is running and CLYPT_API_URL is right, then try again",
                    url=self.url,
                ) from exc
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                await anyio.sleep(self._delay(attempt, response.headers.get("retry-after")))
                continue
            return self._result(response)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(float(retry_after), self.max_wait)
            except ValueError:
                pass
        return float(min(self.backoff * (2**attempt) * (1 + random.random() / 2), self.max_wait))

    def _result(self, response: httpx2.Response) -> Any:
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        if response.is_success:
            if data is None and response.content:
                raise UnavailableError(
                    f"the Clypt API at {self.url} answered something that is not JSON"
                )
            return snakify(data)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            message = tool_words(data["error"])
            raise ClyptError.from_code(str(data.get("code", "")), message)
        raise UnavailableError(
            f"the Clypt API at {self.url} answered HTTP {response.status_code} — try again later",
            url=self.url,
        )

    async def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(await self._call(method, path, **kwargs))

    async def _link_path(self, ref: str) -> str:
        """`/links/{id}` for a code or id; a short URL's code is looked up on its domain (the
        path holds no host), so the same code on two domains is never confused."""
        ref = ref.strip()
        if ref.lower().startswith(("http://", "https://")):
            parts = urlsplit(ref)
            code = parts.path.strip("/")
            host = (parts.hostname or "").lower()
            if code and host:
                query = LinkQuery(query=code, domain=host, status="all", limit=100)
                for link in (await self.list_links(query)).links:
                    if link.code == code:
                        return "/links/" + quote(link.id, safe="")
                raise NotFoundError(
                    f"no link '{ref}' in this workspace — check the code, or find it with "
                    "list_links",
                    link=ref,
                )
            ref = code
        if not ref:
            raise NotFoundError("no link '' in this workspace — give a code, id or short URL")
        return "/links/" + quote(ref, safe="")

    # --- links ------------------------------------------------------------------------

    async def create_link(self, data: LinkCreate, idempotency_key: str | None = None) -> Link:
        body = camelize(data.model_dump(mode="json", exclude_unset=True))
        return await self._model(Link, "POST", "/links", body=body, idempotency_key=idempotency_key)

    async def get_link(self, ref: str) -> Link:
        return await self._model(Link, "GET", await self._link_path(ref))

    async def list_links(self, query: LinkQuery) -> LinkPage:
        params = {"q": query.query, "tag": query.tag, "folder": query.folder,
                  "status": query.status, "domain": query.domain, "sort": query.sort,
                  "limit": query.limit, "cursor": query.cursor}  # fmt: skip
        return await self._model(LinkPage, "GET", "/links", params=params)

    async def update_link(self, ref: str, data: LinkUpdate) -> Link:
        body = camelize(data.model_dump(mode="json", exclude_unset=True))
        return await self._model(Link, "PATCH", await self._link_path(ref), body=body)

    async def delete_link(self, ref: str, permanent: bool = False) -> Deleted:
        params = {"permanent": "true"} if permanent else None
        return await self._model(Deleted, "DELETE", await self._link_path(ref), params=params)

    async def bulk_create_links(
        self,
        items: list[dict[str, Any]],
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> BulkResult:
        """Sent in up to ten requests, so the caller sees progress; each part has its own
        Idempotency-Key derived from the caller's (or a fresh one), so retries stay safe."""
        key = idempotency_key or f"clypt-mcp-{uuid.uuid4()}"
        size = max(1, -(-len(items) // 10))
        created: list[Link] = []
        errors: list[BulkError] = []
        for start in range(0, len(items), size):
            part = await self._model(
                BulkResult, "POST", "/links/bulk",
                body={"links": camelize(items[start : start + size])},
                idempotency_key=f"{key}:{start}",
            )  # fmt: skip
            created.extend(part.created)
            errors.extend(
                e.model_copy(update={"index": e.index + start, "error": tool_words(e.error)})
                for e in part.errors
            )
            if progress is not None:
                await progress(min(start + size, len(items)), len(items))
        return BulkResult(created=created, errors=errors)

    async def _bulk(
        self, path: str, method: str, req: BulkUpdate | BulkDelete, progress: Progress | None
    ) -> BulkAnswer:
        body = camelize(req.model_dump(mode="json", exclude_unset=True))
        answer = await self._model(BulkAnswer, method, path, body=body)
        if progress is not None and not answer.dry_run:
            await progress(answer.count, answer.count)
        return answer

    async def bulk_update_links(
        self, req: BulkUpdate, progress: Progress | None = None
    ) -> BulkAnswer:
        return await self._bulk("/links/bulk", "PATCH", req, progress)

    async def bulk_delete_links(
        self, req: BulkDelete, progress: Progress | None = None
    ) -> BulkAnswer:
        return await self._bulk("/links/bulk-delete", "POST", req, progress)

    # --- analytics --------------------------------------------------------------------

    async def get_analytics(self, query: AnalyticsQuery) -> Analytics:
        params = {
            "tag": query.tag, "folder": query.folder, "period": query.period,
            "start": query.start, "end": query.end, "interval": query.interval,
            "top": query.top, "timezone": query.timezone,
            "includeBots": query.include_bots or None,
        }  # fmt: skip
        path = (
            "/analytics" if query.link is None else await self._link_path(query.link) + "/analytics"
        )
        return await self._model(Analytics, "GET", path, params=params)

    async def list_clicks(self, query: ClickQuery) -> ClickLog:
        params = {
            "link": query.link, "tag": query.tag, "folder": query.folder,
            "start": query.start, "end": query.end, "country": query.country,
            "device": query.device, "traffic": query.traffic, "variant": query.variant,
            "limit": query.limit, "cursor": query.cursor,
        }  # fmt: skip
        return await self._model(ClickLog, "GET", "/clicks", params=params)

    # --- jobs: exports and imports ----------------------------------------------------

    async def start_export(self, selection: LinkExport | ClickExport) -> Job:
        kind = "links" if isinstance(selection, LinkExport) else "clicks"
        body = {"kind": kind, **camelize(selection.model_dump(mode="json", exclude_none=True))}
        return await self._model(Job, "POST", "/exports", body=body)

    async def start_import(self, data: ImportStart) -> Job:
        body = {"source": data.source, "content": data.content}
        return await self._model(Job, "POST", "/imports", body=body)

    async def wait_job(self, job_id: str, progress: JobProgressFn | None, patience: float) -> Job:
        """Polls GET /jobs/{id} until the job finishes or `patience` seconds pass."""
        deadline = anyio.current_time() + patience
        seen: tuple[int, int | None] | None = None
        while True:
            job = await self.get_job(job_id)
            now = (job.progress.done, job.progress.total)
            if progress is not None and now != seen and (job.progress.done or job.progress.total):
                await progress(*now)
            seen = now
            if job.status not in ("queued", "running") or anyio.current_time() >= deadline:
                return job
            await anyio.sleep(min(JOB_POLL, max(0.0, deadline - anyio.current_time())))

    async def get_job(self, job_id: str) -> Job:
        return await self._model(Job, "GET", "/jobs/" + quote(job_id, safe=""))

    async def list_jobs(self, cursor: str | None = None, limit: int = 20) -> JobList:
        return await self._model(JobList, "GET", "/jobs", params={"cursor": cursor, "limit": limit})

    async def cancel_job(self, job_id: str) -> Job:
        return await self._model(Job, "POST", f"/jobs/{quote(job_id, safe='')}/cancel")

    async def read_export(self, export_id: str) -> tuple[str, str]:
        """The file of GET /exports/{id}, as text, with its media type."""
        headers = {"authorization": f"Bearer {self.api_key}"}
        target = "/api/v1/exports/" + quote(export_id, safe="")
        try:
            with anyio.fail_after(max(self.timeout, 60.0)):
                response = await self.http.get(target, headers=headers)
        except (TimeoutError, httpx2.HTTPError) as exc:
            raise UnavailableError(
                f"the Clypt API at {self.url} did not send the export — try again",
                url=self.url,
            ) from exc
        if not response.is_success:
            self._result(response)  # raises the API's error
        media = response.headers.get("content-type", "text/plain")
        return response.text, media

    # --- tags and folders -------------------------------------------------------------

    async def usage(self) -> Usage:
        return await self._model(Usage, "GET", "/usage")

    async def list_tags(self) -> TagList:
        return await self._model(TagList, "GET", "/tags")

    async def _tag_path(self, ref: str) -> str:
        if "/" in ref:  # a name with a slash cannot travel in the path: use its id
            for tag in (await self.list_tags()).tags:
                if ascii_fold(tag.name) == ascii_fold(ref.strip()):
                    ref = tag.id
                    break
        return "/tags/" + quote(ref, safe="")

    async def create_tag(self, name: str, color: str | None = None) -> Tag:
        body = {"name": name} | ({"color": color} if color else {})
        return await self._model(Tag, "POST", "/tags", body=body)

    async def update_tag(self, ref: str, name: str | None, color: str | None = None) -> Tag:
        body = {k: v for k, v in (("name", name), ("color", color)) if v is not None}
        return await self._model(Tag, "PATCH", await self._tag_path(ref), body=body)

    async def delete_tag(self, ref: str) -> Tag:
        return await self._model(Tag, "DELETE", await self._tag_path(ref))

    async def list_folders(self) -> FolderList:
        return await self._model(FolderList, "GET", "/folders")

    async def _folder_id(self, ref: str) -> str:
        wanted = ascii_fold(ref.strip().strip("/"))
        for folder in (await self.list_folders()).folders:
            if folder.id == ref or ascii_fold(folder.path) == wanted:
                return folder.id
        raise NotFoundError(
            f"no folder '{ref}' — list folders with manage_folders(action='list')", folder=ref
        )

    async def create_folder(self, name: str, parent: str | None = None) -> Folder:
        body: dict[str, Any] = {"name": name}
        if parent is not None:
            body["parentId"] = await self._folder_id(parent)
        return await self._model(Folder, "POST", "/folders", body=body)

    async def update_folder(
        self, ref: str, name: str | None = None, parent: str | None = None, to_root: bool = False
    ) -> Folder:
        folder_id = await self._folder_id(ref)
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if to_root:
            body["parentId"] = None
        elif parent is not None:
            body["parentId"] = await self._folder_id(parent)
        return await self._model(Folder, "PATCH", f"/folders/{folder_id}", body=body)

    async def delete_folder(self, ref: str) -> Folder:
        return await self._model(Folder, "DELETE", f"/folders/{await self._folder_id(ref)}")

    # --- webhooks -------------------------------------------------------------------------

    async def manage_webhooks(
        self, action: str, webhook: str | None, data: dict[str, Any]
    ) -> BaseModel:
        path = "/webhooks/" + quote(webhook or "", safe="")
        if action == "list":
            return await self._model(WebhookList, "GET", "/webhooks")
        if action == "create":
            return await self._model(WebhookWithSecret, "POST", "/webhooks", body=camelize(data))
        if action == "get":
            return await self._model(Webhook, "GET", path)
        if action == "update":
            return await self._model(Webhook, "PATCH", path, body=camelize(data))
        if action == "delete":
            return await self._model(Webhook, "DELETE", path)
        if action == "rotate_secret":
            return await self._model(WebhookWithSecret, "POST", path + "/rotate-secret", body={})
        if action == "test":
            return await self._model(WebhookQueued, "POST", path + "/test", body={})
        if action == "deliveries":
            params = {"limit": data.get("limit"), "cursor": data.get("cursor")}
            return await self._model(WebhookDeliveries, "GET", path + "/deliveries", params=params)
        if action == "redeliver":
            delivery = quote(str(data.get("delivery") or ""), safe="")
            return await self._model(
                WebhookQueued, "POST", f"{path}/deliveries/{delivery}/redeliver", body={}
            )
        raise ValueError(f"unknown webhook action {action!r}")

    # --- domains ----------------------------------------------------------------------

    async def list_domains(self) -> DomainList:
        return await self._model(DomainList, "GET", "/domains")

    async def _domain(self, ref: str) -> tuple[DomainList, str | None]:
        """The listing and the id of the domain named by `ref` (None: the server's own host).
        Raises: NotFoundError."""
        listing = await self.list_domains()
        wanted = ref.strip().rstrip(".").lower()
        for domain in listing.domains:
            if wanted in (domain.id.lower(), domain.domain):
                return listing, domain.id
        if urlsplit(self.base_url).hostname == wanted:
            return listing, None
        raise NotFoundError(
            f"domain: '{ref}' is not a domain of this workspace — see them with "
            "manage_domains(action='list'), or add it with manage_domains(action='add')",
            field="domain",
        )

    async def add_domain(self, domain: str) -> Domain:
        return await self._model(Domain, "POST", "/domains", body={"domain": domain})

    async def verify_domain(self, ref: str) -> Domain:
        _, domain_id = await self._domain(ref)
        if domain_id is None:
            raise InvalidInputError("domain: the server's own host needs no verification")
        return await self._model(Domain, "POST", f"/domains/{quote(domain_id, safe='')}/verify")

    async def set_default_domain(self, ref: str) -> DomainList:
        listing, domain_id = await self._domain(ref)
        if domain_id is None:  # back to the server's own host: unset the current default
            current = next((d.id for d in listing.domains if d.default), None)
            if current is None:
                return listing
            domain_id, default = current, False
        else:
            default = True
        path = f"/domains/{quote(domain_id, safe='')}"
        return await self._model(DomainList, "PATCH", path, body={"default": default})

    async def remove_domain(self, ref: str) -> Domain:
        _, domain_id = await self._domain(ref)
        if domain_id is None:
            raise InvalidInputError("domain: the server's own host cannot be removed")
        return await self._model(Domain, "DELETE", f"/domains/{quote(domain_id, safe='')}")


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _cause(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "…"
