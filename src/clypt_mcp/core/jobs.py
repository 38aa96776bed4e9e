"""Exports and imports as jobs (#17): started by a tool or a REST call, run in this process
as a task of their own, with their state in the store (`store.jobs`) so that every process
lists them, cancels them and finds them after a restart.

A job runs to its end whether or not anyone waits: a tool waits up to its time limit, sending
progress notifications, then answers the job's id. An export writes its file into the store
part by part (`export_parts`) and ends with a card: `clypt://exports/{id}`, rows, bytes and
when the file expires. A job whose process went away (no heartbeat for LOST_AFTER) is marked
failed the next time jobs are read.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from clypt_mcp.errors import ClyptError, InvalidInputError, NotFoundError
from clypt_mcp.models import (
    ClickExport,
    ExportCard,
    ImportStart,
    Job,
    JobList,
    JobProgress,
    Link,
    LinkExport,
    LinkQuery,
    Principal,
    Scope,
    expand_scopes,
    link_csv_columns,
    new_id,
)
from clypt_mcp.store.base import JOB_FINISHED as FINISHED
from clypt_mcp.store.base import LOG_COLUMNS, ClickFilter, JobRow, to_us

if TYPE_CHECKING:
    from clypt_mcp.core.service import ClyptService

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], Awaitable[None]]

EXPORT_TTL = timedelta(days=7)  # how long an export's file (and any job) is kept
LOST_AFTER = timedelta(minutes=2)  # a running job without a heartbeat this long was lost
PART_CHARS = 1 << 20  # an export file is stored in parts of about this many characters
CLICK_PAGE = 5000
LINK_PAGE = 100
POLL = 0.25  # seconds between looks at a job a caller waits for
REAP_EVERY = 30.0  # seconds between looks for lost and expired jobs, when jobs are read
# What each kind of job needs, to start it and to see it.
KIND_SCOPES = {
    "export_links": Scope.LINKS_READ,
    "export_clicks": Scope.ANALYTICS_READ,
    "import_links": Scope.LINKS_WRITE,
}
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl"}
CLICK_FIELDS = ["id", "time", *LOG_COLUMNS[2:]]
# A links CSV export: the exported inputs (models.LINK_INPUTS) and the link's own flat fields.
LINK_FIELDS = link_csv_columns(
    "id", "short_url", "has_password", "disabled", "status", "clicks", "imported_clicks",
    "last_clicked_at", "created_at", "updated_at", "deleted_at",
)  # fmt: skip
# JSON Lines carries every field of a link as list_links shows it (variants, geo, devices
# and the A/B test too, which a CSV cell would flatten); CSV the flat ones above.
LINK_JSON_FIELDS = list(Link.model_fields)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_uri(export_id: str) -> str:
    return f"clypt://exports/{export_id}"


def _cell(value: Any) -> Any:
    """A CSV cell: None empty, lists joined with commas, and (OWASP's rule against CSV
    injection) text a spreadsheet would read as a formula led by a single quote."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class _FileWriter:
    """Rows to CSV or JSON Lines text, handed to the store in parts."""

    def __init__(self, runner: JobRunner, job_id: str, fmt: str, columns: list[str]) -> None:
        self.runner, self.job_id, self.fmt, self.columns = runner, job_id, fmt, columns
        self.buffer = io.StringIO()
        self.csv = csv.writer(self.buffer, lineterminator="\r\n") if fmt == "csv" else None
        self.rows = 0
        self.bytes = 0
        self.seq = 0
        if self.csv:
            self.csv.writerow(columns)

    async def write(self, record: dict[str, Any]) -> None:
        if self.csv:
            self.csv.writerow([_cell(record.get(c)) for c in self.columns])
        else:
            data = {k: record[k] for k in self.columns if record.get(k) not in (None, "", [], {})}
            self.buffer.write(json.dumps(data, ensure_ascii=False) + "\n")
        self.rows += 1
        if self.buffer.tell() >= PART_CHARS:
            await self.flush()

    async def flush(self) -> None:
        text = self.buffer.getvalue()
        if text:
            await self.runner.store.jobs.add_part(self.job_id, self.seq, text)
            self.bytes += len(text.encode("utf-8"))
            self.seq += 1
            self.buffer = io.StringIO()
            if self.csv:
                self.csv = csv.writer(self.buffer, lineterminator="\r\n")


class JobCancelled(Exception):
    """The job was cancelled (or given up) while it ran."""


class JobRunner:
    """Starts, runs, lists and cancels the jobs of one service."""

    def __init__(self, service: ClyptService) -> None:
        self.service = service
        self.store = service.store
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._reaped_at = -REAP_EVERY  # loop time of the last look for lost and expired jobs

    def _now(self) -> int:
        return int(to_us(self.service.clock()) or 0)

    # --- starting --------------------------------------------------------------------

    async def start_export(self, principal: Principal, selection: LinkExport | ClickExport) -> Job:
        """Start an export of links or clicks; the selection is checked (its link, folder)
        before the job exists.

        Raises: InsufficientScopeError, NotFoundError, InvalidInputError.
        """
        if isinstance(selection, LinkExport):
            self.service.require(principal, Scope.LINKS_READ)
            if selection.folder:  # a missing folder is the caller's error, named now
                await self.service.folder_ids_under(principal, selection.folder)
            kind = "export_links"
            work = self._export_links(principal, selection)
        else:
            self.service.require(principal, Scope.ANALYTICS_READ)
            flt = await self.service.click_filter(principal, selection)
            kind = "export_clicks"
            work = self._export_clicks(flt, selection.format)
        params = selection.model_dump(mode="json", exclude_none=True)
        return await self._start(principal, kind, params, work)

    async def start_import(self, principal: Principal, data: ImportStart) -> Job:
        """Start an import of another shortener's export file.

        Raises: InsufficientScopeError, InvalidInputError (a file that cannot be read).
        """
        from clypt_mcp.core import importers

        self.service.require(principal, Scope.LINKS_WRITE)
        rows = importers.parse(data.source, data.content)  # a file of the wrong shape: now
        params = {"source": data.source, "rows": len(rows)}
        return await self._start(
            principal, "import_links", params, self._import(principal, data.source, rows)
        )

    async def _start(
        self,
        principal: Principal,
        kind: str,
        params: dict[str, Any],
        work: Callable[[str], Awaitable[dict[str, Any]]],
    ) -> Job:
        now = self._now()
        await self._reap(force=True)
        row = JobRow(
            id=new_id("job"),
            workspace_id=principal.workspace_id,
            kind=kind,
            status="queued",
            done=0,
            total=None,
            params=params,
            result=None,
            error=None,
            created_at=now,
            heartbeat_at=now,
            expires_at=now + int(EXPORT_TTL.total_seconds() * 1e6),
        )
        await self.store.jobs.create(row)
        task = asyncio.get_running_loop().create_task(self._run(row.id, work))
        self._tasks[row.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(row.id, None))
        return _job(row)

    async def _run(self, job_id: str, work: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
        jobs = self.store.jobs
        try:
            if not await jobs.start(job_id, self._now()):
                return
            result = await work(job_id)
            await self._last_word(jobs.finish(job_id, "done", self._now(), result=result))
        except JobCancelled:  # cancelled (or given up) elsewhere: the store says so already
            await self._last_word(jobs.cancel_any(job_id, self._now()))
        except asyncio.CancelledError:
            # cancel_job marks the job first; otherwise this process is stopping under it
            stopped = "the server stopped before the job finished; start it again"
            await self._last_word(jobs.finish(job_id, "failed", self._now(), error=stopped))
            raise
        except ClyptError as exc:
            await self._last_word(jobs.finish(job_id, "failed", self._now(), error=exc.message))
        except Exception:
            log.exception("job %s failed", job_id)
            failed = jobs.finish(job_id, "failed", self._now(), error="internal error (logged)")
            await self._last_word(failed)

    @staticmethod
    async def _last_word(write: Awaitable[Any]) -> None:
        """A job's final state; when the store cannot take it (gone, closing), the job stays
        running there until it is given up as lost."""
        try:
            await write
        except Exception as exc:
            log.warning("a job's final state was not stored: %s", exc)

    async def _progress(self, job_id: str, done: int, total: int | None) -> None:
        if not await self.store.jobs.progress(job_id, done, total, self._now()):
            raise JobCancelled

    # --- the work --------------------------------------------------------------------

    def _export_clicks(
        self, flt: ClickFilter, fmt: str
    ) -> Callable[[str], Awaitable[dict[str, Any]]]:
        async def work(job_id: str) -> dict[str, Any]:
            total = await self.store.count_log(flt)
            await self._progress(job_id, 0, total)
            out = _FileWriter(self, job_id, fmt, CLICK_FIELDS)
            before: tuple[int, int] | None = None
            while True:
                rows = await self.store.click_log(flt, before, CLICK_PAGE)
                for r in rows:
                    time = datetime.fromtimestamp(int(r["ts"]), UTC)
                    record = {**r, "id": str(r["id"]),
                              "time": time.isoformat().replace("+00:00", "Z")}  # fmt: skip
                    await out.write(record)
                if rows:
                    before = (int(rows[-1]["ts"]), int(rows[-1]["id"]))
                await self._progress(job_id, out.rows, max(total, out.rows))
                if len(rows) < CLICK_PAGE:
                    break
            return await self._card(job_id, out)

        return work

    def _export_links(
        self, principal: Principal, sel: LinkExport
    ) -> Callable[[str], Awaitable[dict[str, Any]]]:
        async def work(job_id: str) -> dict[str, Any]:
            columns = LINK_FIELDS if sel.format == "csv" else LINK_JSON_FIELDS
            out = _FileWriter(self, job_id, sel.format, columns)
            cursor = None
            while True:
                query = LinkQuery(query=sel.query, tag=sel.tag, folder=sel.folder,
                                  status=sel.status, sort="created_at", limit=LINK_PAGE,
                                  cursor=cursor)  # fmt: skip
                page = await self.service.list_links(principal, query)
                for link in page.links:
                    await out.write(link.model_dump(mode="json"))
                await self._progress(job_id, out.rows, page.total)
                cursor = page.next_cursor
                if cursor is None:
                    break
            return await self._card(job_id, out)

        return work

    async def _card(self, job_id: str, out: _FileWriter) -> dict[str, Any]:
        await out.flush()
        row = await self.store.jobs.get_any(job_id)
        assert row is not None
        card = ExportCard(
            export_id=job_id,
            uri=export_uri(job_id),
            format=out.fmt,
            rows=out.rows,
            bytes=out.bytes,
            expires_at=_time(row.expires_at),
        )
        return card.model_dump(mode="json")

    def _import(
        self, principal: Principal, source: str, rows: list[Any]
    ) -> Callable[[str], Awaitable[dict[str, Any]]]:
        from clypt_mcp.core import importers

        async def work(job_id: str) -> dict[str, Any]:
            async def progress(done: int, total: int | None) -> None:
                await self._progress(job_id, done, total)

            report = await importers.run(self.service, principal, rows, progress)
            return report.model_dump(mode="json")

        return work

    # --- reading and cancelling ------------------------------------------------------

    def _kinds(self, principal: Principal) -> list[str]:
        scopes = expand_scopes(principal.scopes)
        return [kind for kind, scope in KIND_SCOPES.items() if scope in scopes]

    async def _reap(self, force: bool = False) -> None:
        """Mark lost jobs failed and delete expired ones: on every start, and at most every
        REAP_EVERY seconds when jobs are read (a waiting tool reads its job four times a
        second)."""
        clock = asyncio.get_running_loop().time()
        if not force and clock - self._reaped_at < REAP_EVERY:
            return
        self._reaped_at = clock
        now = self._now()
        await self.store.jobs.give_up_lost(now - int(LOST_AFTER.total_seconds() * 1e6), now)
        await self.store.jobs.purge(now)

    async def _row(self, principal: Principal, job_id: str) -> JobRow:
        await self._reap()
        row = await self.store.jobs.get(principal.workspace_id, job_id)
        if row is None:
            raise NotFoundError(f"job_id: no job {job_id!r} here — list_jobs shows yours")
        self.service.require(principal, KIND_SCOPES[row.kind])  # another kind's: 403
        return row

    async def get(self, principal: Principal, job_id: str) -> Job:
        """Raises: NotFoundError (no such job in the caller's workspace),
        InsufficientScopeError (a job of a kind the caller's scopes do not cover)."""
        return _job(await self._row(principal, job_id))

    async def list(self, principal: Principal, cursor: str | None, limit: int) -> JobList:
        """The caller's workspace's jobs that its scopes let it see, newest first."""
        await self._reap()
        before = _decode_cursor(cursor) if cursor else None
        rows = await self.store.jobs.page(
            principal.workspace_id, self._kinds(principal), before, limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows:
            raw = json.dumps(["jobs", rows[-1].created_at, rows[-1].id]).encode()
            next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return JobList(jobs=[_job(r) for r in rows], next_cursor=next_cursor)

    async def cancel(self, principal: Principal, job_id: str) -> Job:
        """Cancel a queued or running job (an export's partial file is deleted); a finished
        job is answered as it is.

        Raises: NotFoundError, InsufficientScopeError.
        """
        row = await self._row(principal, job_id)
        self.service.require(principal, KIND_SCOPES[row.kind])
        if await self.store.jobs.cancel(principal.workspace_id, job_id, self._now()):
            task = self._tasks.get(job_id)
            if task is not None:
                task.cancel()
        return await self.get(principal, job_id)

    async def wait(
        self, principal: Principal, job_id: str, progress: Progress | None, patience: float
    ) -> Job:
        """The job once it has finished, or as it is after `patience` seconds; `progress` is
        called whenever its count moves."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        seen: tuple[int, int | None] | None = None
        while True:
            job = await self.get(principal, job_id)
            now = (job.progress.done, job.progress.total)
            if progress is not None and now != seen and (job.progress.done or job.progress.total):
                await progress(*now)
            seen = now
            if job.status in FINISHED or loop.time() >= deadline:
                return job
            task = self._tasks.get(job_id)
            pause = min(POLL, max(0.0, deadline - loop.time()))
            if task is not None:
                await asyncio.wait({task}, timeout=pause)
            else:
                await asyncio.sleep(pause)

    async def export_file(self, principal: Principal, export_id: str) -> tuple[str, str]:
        """`(text, media type)` of a done export.

        Raises: NotFoundError (no such export, or one not done).
        """
        row = await self._row(principal, export_id)
        if not row.kind.startswith("export_") or row.status != "done":
            raise NotFoundError(
                f"{export_uri(export_id)} is not a finished export (its job is {row.status}) — "
                "get_job tells when it is done"
            )
        text = "".join(await self.store.jobs.parts(export_id))
        return text, MEDIA[str(row.params.get("format", "csv"))]


def _time(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        status=row.status,
        progress=JobProgress(done=row.done, total=row.total),
        created_at=_time(row.created_at),
        result=row.result,
        error=row.error,
    )


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, at, job_id = json.loads(base64.urlsafe_b64decode(padded))
        if kind == "jobs" and isinstance(at, int) and isinstance(job_id, str):
            return at, job_id
    except (ValueError, TypeError):
        pass
    raise InvalidInputError(
        "cursor: not a cursor from list_jobs — pass next_cursor unchanged, or omit it",
        field="cursor",
    )
