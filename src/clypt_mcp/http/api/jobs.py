"""/exports, /imports and /jobs: exports and imports run as jobs (#17), the same ones the MCP
tools start, so remote mode has them too."""

from __future__ import annotations

from pydantic import ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from clypt_mcp.http.api.body import camel_only, rest_body
from clypt_mcp.http.api.endpoint import BODY_ERRORS, Endpoint, json_body, path_id
from clypt_mcp.http.api.params import Params, no_params
from clypt_mcp.http.state import AppState
from clypt_mcp.models import (
    Cursor,
    ExportStart,
    ImportStart,
    Job,
    JobList,
    PageSize,
    Principal,
    Scope,
    _Input,
)

IMPORT_BODY = 12 * 1024 * 1024  # bytes: MAX_IMPORT_CHARS of text, JSON-escaped, with room


class JobQuery(_Input):
    model_config = ConfigDict(extra="forbid")

    limit: PageSize = 20
    cursor: Cursor | None = None


JOB_PARAMS = Params(JobQuery)
EXPORT_SCOPES = (Scope.LINKS_READ, Scope.ANALYTICS_READ)
JOB_SCOPES = (Scope.LINKS_READ, Scope.ANALYTICS_READ, Scope.LINKS_WRITE)


def endpoints(state: AppState) -> list[Endpoint]:
    jobs = state.service.jobs

    async def start_export(request: Request, principal: Principal) -> Job:
        no_params(request)
        data = await rest_body(request, ExportStart)
        camel_only(ExportStart, await json_body(request))
        return await jobs.start_export(principal, data.selection())

    async def start_import(request: Request, principal: Principal) -> Job:
        no_params(request)
        return await jobs.start_import(principal, await rest_body(request, ImportStart))

    async def list_jobs(request: Request, principal: Principal) -> JobList:
        query: JobQuery = JOB_PARAMS.parse(request)
        return await jobs.list(principal, query.cursor, query.limit)

    async def get_job(request: Request, principal: Principal) -> Job:
        no_params(request)
        return await jobs.get(principal, path_id(request))

    async def cancel_job(request: Request, principal: Principal) -> Job:
        no_params(request)
        return await jobs.cancel(principal, path_id(request))

    async def get_export(request: Request, principal: Principal) -> Response:
        no_params(request)
        export_id = path_id(request)
        text, media = await jobs.export_file(principal, export_id)
        extension = "csv" if media.startswith("text/csv") else "jsonl"
        disposition = f'attachment; filename="clypt-{export_id}.{extension}"'
        return Response(text, media_type=media, headers={"content-disposition": disposition})

    return [
        Endpoint(
            "POST",
            "/exports",
            "Export links or clicks to a file (a job)",
            start_export,
            None,
            Job,
            any_scope=EXPORT_SCOPES,
            status=202,
            body=ExportStart,
            errors=(404, *BODY_ERRORS),
            description="kind links (needs links:read; selection: query, tag, folder, status "
            "as GET /links) or clicks (needs analytics:read; selection: link, tag, folder, "
            "start, end, country, device, traffic, variant as GET /clicks), and format csv "
            "(default) or jsonl. Answers 202 with the job; poll GET /jobs/{id}: once done, its "
            "result is the export's card (exportId, uri, format, rows, bytes, expiresAt) and "
            "GET /exports/{id} gives the file. Rows carry the fields GET /links and GET /clicks "
            "show, never an address or a visitor hash. Files are kept 7 days.",
        ),
        Endpoint(
            "GET",
            "/exports/{id}",
            "Download a finished export's file",
            get_export,
            None,
            None,
            any_scope=EXPORT_SCOPES,
            errors=(404,),
            media=("text/csv", "application/jsonl"),
            description="CSV (a header row, then one row per link or click) or JSON Lines (one "
            "object per line, empty fields left out). 404 until the job is done.",
        ),
        Endpoint(
            "POST",
            "/imports",
            "Import links from another shortener's export (a job)",
            start_import,
            Scope.LINKS_WRITE,
            Job,
            status=202,
            body=ImportStart,
            errors=BODY_ERRORS,
            max_body=IMPORT_BODY,
            description="source: bitly, dub, shortio, rebrandly, shlink, yourls or kutt; "
            "content: the text of that service's own export file (needs links:write). Answers "
            "202 with the job; once done its result is the report: created, skipped (code "
            "taken, with the existing link) and invalid (row number and why). Codes are kept; "
            "click totals become importedClicks. Running the same import again creates nothing. "
            "The body may be up to 12 MB.",
        ),
        Endpoint(
            "GET",
            "/jobs",
            "List exports and imports",
            list_jobs,
            Scope.LINKS_READ,
            JobList,
            params=JOB_PARAMS,
            errors=(422,),
            description="Needs links:read. Newest first: the jobs of the workspace that the "
            "key's scopes let it see (exports of links: links:read; of clicks: analytics:read; "
            "imports: links:write). status is queued, running, done, failed or cancelled; jobs "
            "are kept 7 days, across restarts.",
        ),
        Endpoint(
            "GET",
            "/jobs/{id}",
            "Get a job",
            get_job,
            None,
            Job,
            any_scope=JOB_SCOPES,
            errors=(404,),
            description="Needs the scope of the job's kind (exports of links: links:read; of "
            "clicks: analytics:read; imports: links:write), else 403.",
        ),
        Endpoint(
            "POST",
            "/jobs/{id}/cancel",
            "Cancel a job",
            cancel_job,
            None,
            Job,
            any_scope=JOB_SCOPES,
            errors=(404,),
            description="A queued or running job stops (an export's partial file is deleted); "
            "a finished job is answered as it is.",
        ),
    ]
