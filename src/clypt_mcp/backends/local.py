"""LocalBackend: the embedded service seen as one principal."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from clypt_mcp.backends.base import JobProgressFn, Progress
from clypt_mcp.core.service import ClyptService
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
    Principal,
    Scope,
    Tag,
    TagList,
    Usage,
    WebhookCreate,
    WebhookUpdate,
    expand_scopes,
)


class LocalBackend:
    """Calls ClyptService directly, always as the same Principal."""

    def __init__(self, service: ClyptService, principal: Principal) -> None:
        self.service = service
        self.principal = principal

    @property
    def scopes(self) -> frozenset[Scope]:
        return expand_scopes(self.principal.scopes)

    @property
    def base_url(self) -> str:
        return self.service.base_url

    async def create_link(self, data: LinkCreate, idempotency_key: str | None = None) -> Link:
        return await self.service.create_link(self.principal, data, idempotency_key)

    async def get_link(self, ref: str) -> Link:
        return await self.service.get_link(self.principal, ref)

    async def list_links(self, query: LinkQuery) -> LinkPage:
        return await self.service.list_links(self.principal, query)

    async def update_link(self, ref: str, data: LinkUpdate) -> Link:
        return await self.service.update_link(self.principal, ref, data)

    async def delete_link(self, ref: str, permanent: bool = False) -> Deleted:
        return await self.service.delete_link(self.principal, ref, permanent)

    async def bulk_create_links(
        self,
        items: list[dict[str, Any]],
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> BulkResult:
        return await self.service.bulk_create_links(
            self.principal, items, idempotency_key, progress
        )

    async def bulk_update_links(
        self, req: BulkUpdate, progress: Progress | None = None
    ) -> BulkAnswer:
        return await self.service.bulk_update_links(self.principal, req, progress)

    async def bulk_delete_links(
        self, req: BulkDelete, progress: Progress | None = None
    ) -> BulkAnswer:
        return await self.service.bulk_delete_links(self.principal, req, progress)

    async def get_analytics(self, query: AnalyticsQuery) -> Analytics:
        return await self.service.get_analytics(self.principal, query)

    async def list_clicks(self, query: ClickQuery) -> ClickLog:
        return await self.service.list_clicks(self.principal, query)

    async def start_export(self, selection: LinkExport | ClickExport) -> Job:
        return await self.service.jobs.start_export(self.principal, selection)

    async def start_import(self, data: ImportStart) -> Job:
        return await self.service.jobs.start_import(self.principal, data)

    async def wait_job(self, job_id: str, progress: JobProgressFn | None, patience: float) -> Job:
        return await self.service.jobs.wait(self.principal, job_id, progress, patience)

    async def get_job(self, job_id: str) -> Job:
        return await self.service.jobs.get(self.principal, job_id)

    async def list_jobs(self, cursor: str | None = None, limit: int = 20) -> JobList:
        return await self.service.jobs.list(self.principal, cursor, limit)

    async def cancel_job(self, job_id: str) -> Job:
        return await self.service.jobs.cancel(self.principal, job_id)

    async def read_export(self, export_id: str) -> tuple[str, str]:
        return await self.service.jobs.export_file(self.principal, export_id)

    async def usage(self) -> Usage:
        return await self.service.usage(self.principal)

    async def list_tags(self) -> TagList:
        return await self.service.list_tags(self.principal)

    async def create_tag(self, name: str, color: str | None = None) -> Tag:
        return await self.service.create_tag(self.principal, name, color)

    async def update_tag(self, ref: str, name: str | None, color: str | None = None) -> Tag:
        return await self.service.update_tag(self.principal, ref, name, color)

    async def delete_tag(self, ref: str) -> Tag:
        return await self.service.delete_tag(self.principal, ref)

    async def list_folders(self) -> FolderList:
        return await self.service.list_folders(self.principal)

    async def create_folder(self, name: str, parent: str | None = None) -> Folder:
        return await self.service.create_folder(self.principal, name, parent)

    async def update_folder(
        self, ref: str, name: str | None = None, parent: str | None = None, to_root: bool = False
    ) -> Folder:
        return await self.service.update_folder(self.principal, ref, name, parent, to_root)

    async def delete_folder(self, ref: str) -> Folder:
        return await self.service.delete_folder(self.principal, ref)

    async def manage_webhooks(
        self, action: str, webhook: str | None, data: dict[str, Any]
    ) -> BaseModel:
        hooks, me = self.service.webhooks, self.principal
        if action == "list":
            return await hooks.list(me)
        if action == "create":
            return await hooks.create(me, WebhookCreate.model_validate(data))
        target = webhook or ""
        if action == "update":
            return await hooks.update(me, target, WebhookUpdate.model_validate(data))
        if action == "delete":
            return await hooks.delete(me, target)
        if action == "rotate_secret":
            return await hooks.rotate_secret(me, target)
        if action == "test":
            return await hooks.test(me, target)
        if action == "deliveries":
            return await hooks.deliveries(
                me, target, int(data.get("limit") or 50), data.get("cursor")
            )
        if action == "redeliver":
            return await hooks.redeliver(me, target, str(data.get("delivery") or ""))
        if action == "get":
            return await hooks.get(me, target)
        raise ValueError(f"unknown webhook action {action!r}")

    async def list_domains(self) -> DomainList:
        return await self.service.list_domains(self.principal)

    async def add_domain(self, domain: str) -> Domain:
        return await self.service.add_domain(self.principal, domain)

    async def verify_domain(self, ref: str) -> Domain:
        return await self.service.verify_domain(self.principal, ref)

    async def set_default_domain(self, ref: str) -> DomainList:
        return await self.service.set_default_domain(self.principal, ref)

    async def remove_domain(self, ref: str) -> Domain:
        return await self.service.remove_domain(self.principal, ref)
