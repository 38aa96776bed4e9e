"""The Backend protocol: an already-authenticated view of one workspace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pydantic import BaseModel

from clypt_mcp.models import (
    Analytics,
    AnalyticsQuery,
    BulkAnswer,
    BulkDelete,
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
)

Progress = Callable[[int, int], Awaitable[None]]
JobProgressFn = Callable[[int, int | None], Awaitable[None]]


class Backend(Protocol):
    """The use cases the MCP tools need. Errors are ClyptError subclasses."""

    @property
    def scopes(self) -> frozenset[Scope]:
        """What this caller may do (implied scopes included)."""

    @property
    def base_url(self) -> str: ...

    async def create_link(self, data: LinkCreate, idempotency_key: str | None = None) -> Link: ...
    async def get_link(self, ref: str) -> Link: ...
    async def list_links(self, query: LinkQuery) -> LinkPage: ...
    async def update_link(self, ref: str, data: LinkUpdate) -> Link: ...
    async def delete_link(self, ref: str, permanent: bool = False) -> Deleted: ...
    async def bulk_create_links(
        self,
        items: list[dict[str, Any]],
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> BulkResult: ...
    async def bulk_update_links(
        self, req: BulkUpdate, progress: Progress | None = None
    ) -> BulkAnswer: ...
    async def bulk_delete_links(
        self, req: BulkDelete, progress: Progress | None = None
    ) -> BulkAnswer: ...
    async def get_analytics(self, query: AnalyticsQuery) -> Analytics: ...
    async def list_clicks(self, query: ClickQuery) -> ClickLog: ...
    async def start_export(self, selection: LinkExport | ClickExport) -> Job: ...
    async def start_import(self, data: ImportStart) -> Job: ...
    async def wait_job(self, job_id: str, progress: JobProgressFn | None, patience: float) -> Job:
        """The job once finished, or as it is after `patience` seconds."""
        ...

    async def get_job(self, job_id: str) -> Job: ...
    async def list_jobs(self, cursor: str | None = None, limit: int = 20) -> JobList: ...
    async def cancel_job(self, job_id: str) -> Job: ...
    async def read_export(self, export_id: str) -> tuple[str, str]:
        """`(text, media type)` of a finished export's file."""
        ...

    async def usage(self) -> Usage: ...
    async def list_tags(self) -> TagList: ...
    async def create_tag(self, name: str, color: str | None = None) -> Tag: ...
    async def update_tag(self, ref: str, name: str | None, color: str | None = None) -> Tag: ...
    async def delete_tag(self, ref: str) -> Tag: ...
    async def list_folders(self) -> FolderList: ...
    async def create_folder(self, name: str, parent: str | None = None) -> Folder: ...
    async def update_folder(
        self, ref: str, name: str | None = None, parent: str | None = None, to_root: bool = False
    ) -> Folder: ...
    async def delete_folder(self, ref: str) -> Folder: ...
    async def manage_webhooks(
        self, action: str, webhook: str | None, data: dict[str, Any]
    ) -> BaseModel:
        """One webhook action (`create`, `list`, `update`, `delete`, `rotate_secret`, `test`,
        `deliveries`, `redeliver`) on endpoint `webhook`, with `data` its other arguments
        (snake_case: url, events, filter, enabled, delivery, limit, cursor)."""
        ...

    async def list_domains(self) -> DomainList: ...
    async def add_domain(self, domain: str) -> Domain: ...
    async def verify_domain(self, ref: str) -> Domain: ...
    async def set_default_domain(self, ref: str) -> DomainList: ...
    async def remove_domain(self, ref: str) -> Domain: ...


BackendProvider = Callable[[], Backend]
