"""Export and import tools (#17): each starts a job, waits for it up to the tool's time limit
with progress notifications, and answers the result: an export as a `resource_link` to
`clypt://exports/{id}` with its card (the file itself is never put in the conversation), an
import as its report. A job not done by then is answered as `{job_id, status}`; get_job
answers the same result once it is. Also list_jobs, get_job, cancel_job and the export
resource."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.mcpserver.resources import ResourceTemplate, TextResource
from mcp.types import CallToolResult, ResourceLink, TextContent, ToolAnnotations
from pydantic import Field

from clypt_mcp import models
from clypt_mcp.backends.base import Backend, BackendProvider
from clypt_mcp.errors import ClyptError
from clypt_mcp.models import ClickExport, ImportStart, Job, JobList, LinkExport, Scope
from clypt_mcp.tools.common import result, tool_errors
from clypt_mcp.tools.shaping import CEILING, LEFT_OUT, bounded, object_result, size

CALL_WAIT = 45.0  # seconds a tool waits for its job before answering the job's id
JobRef = Annotated[models.JobId, Field(description="The job's id (job_…), as a tool gave it.")]
FORMAT = Field(description="csv (default: a header row, one row per item) or jsonl.")


def _export_answer(job: Job) -> CallToolResult:
    card = job.result or {}
    uri = str(card["uri"])
    media = "text/csv" if card.get("format") == "csv" else "application/jsonl"
    what = "links" if job.kind == "export_links" else "clicks"
    summary = (
        f"Exported {card['rows']} {what} ({card['bytes']} bytes, {card['format']}) to {uri}, "
        f"kept until {card['expires_at']}. Read it with resources/read; the REST API serves it "
        f"at /api/v1/exports/{card['export_id']}."
    )
    link = ResourceLink(
        type="resource_link",
        uri=uri,
        name=f"clypt-{what}-{card['export_id']}.{card['format']}",
        title=f"Clypt export of {what}",
        mime_type=media,
        size=int(card["bytes"]),
    )
    return CallToolResult(
        content=[link, TextContent(type="text", text=summary)], structured_content=card
    )


def job_answer(job: Job) -> CallToolResult:
    """What a job tool answers: a done export's resource link, a done import's report, or
    the job's id and status while it runs (and why, when it failed)."""
    if job.status == "done" and job.kind.startswith("export_") and job.result:
        return _export_answer(job)
    if job.status == "done" and job.result is not None:
        report = job.result
        summary = (
            f"Imported: {len(report.get('created', []))} created, "
            f"{len(report.get('skipped', []))} skipped, {len(report.get('invalid', []))} invalid."
        )
        if size(report) > CEILING:
            summary += (
                f" The report passes {CEILING // 1000} KB: each list shows its first rows, "
                f"and {LEFT_OUT} says how many more it has."
            )
        return object_result(report, summary)
    data: dict[str, Any] = {"job_id": job.id, "status": job.status,
                            "progress": job.progress.model_dump()}  # fmt: skip
    if job.error:
        data["error"] = job.error
    if job.status in ("queued", "running"):
        summary = f"Job {job.id} is {job.status}; get_job job_id={job.id} tells when it is done."
    elif job.status == "failed":
        summary = f"Job {job.id} failed: {job.error}"
    else:
        summary = f"Job {job.id} was cancelled."
    return object_result(data, summary)


async def _run(backend: Backend, job: Job, ctx: Context) -> CallToolResult:
    async def progress(done: int, total: int | None) -> None:
        await ctx.report_progress(done, total, f"{done}/{total if total is not None else '?'}")

    return job_answer(await backend.wait_job(job.id, progress, CALL_WAIT))


def register(mcp: MCPServer, backends: BackendProvider, scopes: frozenset[Scope]) -> None:
    """Add the job tools (by scope) and the export resource."""

    # every tool is registered; build_server removes those the scopes hide

    @mcp.tool(
        title="Export links",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    @tool_errors
    async def export_links(
        ctx: Context,
        query: Annotated[
            models.SearchText | None, Field(description="Search code, URL, title, notes.")
        ] = None,
        tag: Annotated[models.TagFilter | None, Field(description="Only this tag.")] = None,
        folder: Annotated[
            models.FolderRef | None, Field(description="This folder and its subfolders.")
        ] = None,
        status: Annotated[
            models.StatusFilter | None,
            Field(description="Default: every link but deleted ones; all for every link."),
        ] = None,
        format: Annotated[models.ExportFormat, FORMAT] = "csv",
    ) -> CallToolResult:
        """Export links (the list_links filters) to a CSV or JSON Lines file, as a job
        with progress notifications. Answers a resource_link to clypt://exports/{id} with
        rows, bytes and expires_at: read the file with resources/read, never paste it
        whole to the user. A job still running when the call ends is answered as
        {job_id, status}: call get_job later."""
        selection = LinkExport(query=query, tag=tag, folder=folder, status=status,
                               format=format)  # fmt: skip
        backend = backends()
        return await _run(backend, await backend.start_export(selection), ctx)

    @mcp.tool(
        title="Export clicks",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    @tool_errors
    async def export_clicks(
        ctx: Context,
        link: Annotated[
            models.LinkRef | None, Field(description="One link (code, id or short URL).")
        ] = None,
        tag: Annotated[models.TagFilter | None, Field(description="Only this tag.")] = None,
        folder: Annotated[
            models.FolderRef | None, Field(description="This folder and its subfolders.")
        ] = None,
        start: Annotated[
            datetime | None, Field(description="Clicks at or after (ISO 8601).")
        ] = None,
        end: Annotated[datetime | None, Field(description="Clicks before.")] = None,
        country: Annotated[models.CountryCode | None, Field(description="ISO code.")] = None,
        device: Annotated[models.ClickDevice | None, Field(description="Device type.")] = None,
        traffic: Annotated[models.ClickTraffic | None, Field(description="Traffic class.")] = None,
        variant: Annotated[
            models.VariantLabel | None, Field(description="A/B variant label or '#n'.")
        ] = None,
        format: Annotated[models.ExportFormat, FORMAT] = "csv",
    ) -> CallToolResult:
        """Export the click log (the list_clicks filters; any number of clicks) to a CSV
        or JSON Lines file, newest first, as a job with progress notifications. Each row:
        id, time, code, variant, country, city, device, browser, os, referrer, traffic
        (never an address or a visitor hash). Answers a resource_link to
        clypt://exports/{id} with rows, bytes and expires_at: read it with resources/read.
        A job still running when the call ends is answered as {job_id, status}."""
        selection = ClickExport(
            link=link, tag=tag, folder=folder, start=start, end=end, country=country,
            device=device, traffic=traffic, variant=variant, format=format,
        )  # fmt: skip
        backend = backends()
        return await _run(backend, await backend.start_export(selection), ctx)

    @mcp.tool(
        title="Import links from another shortener",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def import_links(
        ctx: Context,
        source: Annotated[
            models.ImportSource,
            Field(description="The service the file comes from."),
        ],
        content: Annotated[
            str,
            Field(
                min_length=1,
                max_length=models.MAX_IMPORT_CHARS,
                description="The text of that service's own export file (JSON or CSV).",
            ),
        ],
    ) -> CallToolResult:
        """Move links in from Bitly, Dub, Short.io, Rebrandly, Shlink, YOURLS or Kutt:
        give the text of the service's own export (bitly: API v4 bitlinks JSON; dub: the
        Export links CSV; shortio: GET /api/links JSON; rebrandly: GET /v1/links JSON;
        shlink: short_urls.csv; yourls: stats JSON; kutt: GET /api/v2/links JSON). Codes,
        destinations, titles, tags and creation times are kept; click totals become
        imported_clicks. Answers the report: created, skipped (code taken, with the
        existing link) and invalid (row number and why). Running it again creates
        nothing."""
        backend = backends()
        job = await backend.start_import(ImportStart(source=source, content=content))
        return await _run(backend, job, ctx)

    @mcp.tool(
        title="List jobs", annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False)
    )
    @tool_errors
    async def list_jobs(
        limit: Annotated[models.PageSize, Field(description="Jobs per page, 1-100.")] = 20,
        cursor: Annotated[
            models.Cursor | None, Field(description="next_cursor from the previous page.")
        ] = None,
    ) -> Annotated[CallToolResult, JobList]:
        """List exports and imports, newest first: id, kind, status (queued, running,
        done, failed, cancelled), progress, created_at, and the result of a done job
        (an export's card with its uri; an import's report, its lists cut to fit the page,
        with left_out counts: get_job shows more). Jobs are kept 7 days."""
        page = await backends().list_jobs(cursor, limit)
        n = len(page.jobs)
        # each import report gets its share of the ceiling (get_job shows more of one)
        share = (CEILING - 2_000) // max(n, 1) - 500
        page.jobs = [
            j.model_copy(update={"result": bounded(j.result, share)})
            if j.kind == "import_links" and j.result is not None
            else j
            for j in page.jobs
        ]
        summary = f"{n} job{'' if n == 1 else 's'}, newest first" + (
            "; more with next_cursor." if page.next_cursor else "."
        )
        return result(page, summary)

    @mcp.tool(
        title="Get a job", annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False)
    )
    @tool_errors
    async def get_job(job_id: JobRef) -> CallToolResult:
        """One export or import: a done export answers its resource_link
        (clypt://exports/{id}) and card, a done import its report, a running job its
        status and progress."""
        return job_answer(await backends().get_job(job_id))

    @mcp.tool(
        title="Cancel a job",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    @tool_errors
    async def cancel_job(job_id: JobRef) -> CallToolResult:
        """Stop a queued or running export or import (an export's partial file is
        deleted; links an import already made stay). A finished job is answered as it
        is."""
        return job_answer(await backends().cancel_job(job_id))

    if Scope.LINKS_READ in scopes or Scope.ANALYTICS_READ in scopes:

        async def read_export(export_id: str) -> tuple[str, str]:
            try:
                return await backends().read_export(export_id)
            except ClyptError as exc:
                raise ResourceNotFoundError(exc.message) from None

        template = ExportTemplate.from_function(
            read_export,
            uri_template="clypt://exports/{export_id}",
            name="export",
            title="An export's file",
            description="A finished export (export_links, export_clicks): CSV or JSON Lines.",
            mime_type="text/csv",
        )
        mcp._resource_manager._templates[template.uri_template] = template  # no public API


class ExportTemplate(ResourceTemplate):
    """`clypt://exports/{id}` with the media type of each file (CSV or JSON Lines), which a
    plain template cannot give (its type is fixed)."""

    async def create_resource(self, uri: str, params: dict[str, Any], context: Any) -> Any:
        text, media = await self.fn(**params)
        return TextResource(
            uri=uri,
            name=self.name,
            title=self.title,
            description=self.description,
            mime_type=media,
            text=text,
        )
