"""Webhooks (#16) on either database: endpoints, the outbox, deliveries and their attempts.

The outbox is written by the transaction that makes the change: the link aggregate calls
`emit_links` after it inserts, updates or deletes a link (before a permanent delete: the link as
it was), the click writer calls `emit_clicks` with the batch it stores, and the redirect's
`max_clicks` counter calls `emit_links` when it spends the last use, and the conversion writer
`emit_conversion` with a new conversion (#15). Each writes nothing unless
an enabled endpoint of the workspace wants the event (one indexed read per transaction), then
one event and one delivery per endpoint whose filter matches. Anything that changes links
through these store paths (bulk work, imports) emits the same events without knowing of them.

Deliveries are claimed per endpoint with a lease (`lease_until`): the worker that holds it
sends that endpoint's due deliveries in order, one at a time, and renews the lease as it goes;
a lease left by a killed process lapses and another claims it. On PostgreSQL the claim takes
the endpoint rows `FOR UPDATE SKIP LOCKED`, so several `serve` processes share the endpoints
and never send to one at the same time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clypt_mcp.models import ClickEvent
from clypt_mcp.store.base import (
    LINK_FIELDS,
    AttemptRecord,
    ConversionRecord,
    LinkRecord,
    OutgoingMessage,
    WebhookRecord,
    from_us,
    to_us,
)
from clypt_mcp.store.rows import decode_link, new_id
from clypt_mcp.store.sql import Aggregate, Db, Q

MAX_CLICKS_PER_EVENT = 100  # a `link.clicked` event lists at most this many clicks
_ENDPOINT_COLUMNS = ("id, workspace_id, url, events, filter, enabled, disabled_reason, "
                     "failing_since, created_at, updated_at")  # fmt: skip


@dataclass
class _Listener:
    id: str
    filter: dict[str, Any] | None
    subtree: set[str] = field(default_factory=set)  # a folder filter's folder and descendants


def _listeners(q: Q, workspace_id: str, event_type: str) -> list[_Listener]:
    """The enabled endpoints of a workspace that want `event_type`."""
    out = []
    for endpoint_id, events, flt in q.all(
        "SELECT id, events, filter FROM webhook_endpoints WHERE workspace_id = :ws "
        "AND enabled = 1 ORDER BY id",
        {"ws": workspace_id},
    ):
        if event_type in json.loads(events):
            out.append(_Listener(endpoint_id, json.loads(flt) if flt else None))
    if any(lst.filter and "folder" in lst.filter for lst in out):
        children: dict[str | None, list[str]] = {}
        for folder_id, parent in q.all(
            "SELECT id, parent_id FROM folders WHERE workspace_id = :ws", {"ws": workspace_id}
        ):
            children.setdefault(parent, []).append(folder_id)
        for lst in out:
            if lst.filter and "folder" in lst.filter:
                todo = [lst.filter["folder"]]
                while todo:
                    current = todo.pop()
                    if current not in lst.subtree:
                        lst.subtree.add(current)
                        todo.extend(children.get(current, []))
    return out


def has_listeners(q: Q, workspace_id: str, event_type: str) -> bool:
    return bool(_listeners(q, workspace_id, event_type))


def _matches(lst: _Listener, link_id: str, folder_id: str | None, tags: list[str]) -> bool:
    flt = lst.filter
    if not flt:
        return True
    if "folder" in flt:
        return folder_id is not None and folder_id in lst.subtree
    if "tag" in flt:
        wanted = str(flt["tag"]).lower()
        return any(t.lower() == wanted for t in tags)
    if "links" in flt:
        return link_id in flt["links"]
    return False


def _enqueue(
    q: Q, workspace_id: str, event_type: str, data: dict[str, Any], endpoints: list[str], now: int
) -> str:
    """One event and a pending delivery of it to each endpoint; the event's id."""
    event_id = new_id("evt")
    q.run(
        "INSERT INTO webhook_events (id, workspace_id, type, created_at, data) "
        "VALUES (:id, :ws, :type, :now, :data)",
        {"id": event_id, "ws": workspace_id, "type": event_type, "now": now,
         "data": json.dumps(data, separators=(",", ":"))},
    )  # fmt: skip
    q.many(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, next_at, created_at) "
        "VALUES (?, ?, ?, 'pending', ?, ?)",
        [(new_id("whd"), endpoint_id, event_id, now, now) for endpoint_id in endpoints],
    )
    return event_id


def emit_links(
    q: Q, event_type: str, rows: list[tuple[Any, ...]], records: list[LinkRecord], now: int,
    permanent: bool = False,
) -> None:  # fmt: skip
    """Outbox events of type `event_type` for links (`rows` as `LINK_SELECT` read them, and the
    same links decoded), inside the caller's transaction; nothing without a listener."""
    if not records:
        return
    listeners = _listeners(q, records[0].workspace_id, event_type)
    if not listeners:
        return
    for row, rec in zip(rows, records, strict=True):
        wanted = [lst.id for lst in listeners if _matches(lst, rec.id, rec.folder_id, rec.tags)]
        if wanted:
            data: dict[str, Any] = {"row": list(row), "tags": rec.tags, "path": rec.folder_path}
            if event_type == "link.deleted":
                data["permanent"] = permanent
            _enqueue(q, rec.workspace_id, event_type, data, wanted, now)


def emit_clicks(q: Q, events: list[ClickEvent], ids: list[int] | None) -> None:
    """`link.clicked` events for a batch of stored clicks (`ids`: their row ids, in order)
    inside the click writer's transaction: per endpoint, its matching clicks in events of at
    most MAX_CLICKS_PER_EVENT. Only visits that count as clicks (not bots) are sent."""
    by_ws: dict[str, list[int]] = {}
    for i, e in enumerate(events):
        if not e.bot:
            by_ws.setdefault(e.workspace_id, []).append(i)
    for ws, indexes in by_ws.items():
        listeners = _listeners(q, ws, "link.clicked")
        if not listeners:
            continue
        args: dict[str, Any] = {}
        inl = q.d.in_list("id", "ids", sorted({events[i].link_id for i in indexes}), args)
        links = {
            r[0]: (r[1], r[2])
            for r in q.all(f"SELECT id, code, folder_id FROM links WHERE {inl}", args)
        }
        tags: dict[str, list[str]] = {}
        if any(lst.filter and "tag" in lst.filter for lst in listeners):
            args = {}
            inl = q.d.in_list("lt.link_id", "ids", list(links), args)
            for link_id, name in q.all(
                "SELECT lt.link_id, t.name FROM link_tags lt JOIN tags t ON t.id = lt.tag_id "
                f"WHERE {inl}",
                args,
            ):
                tags.setdefault(link_id, []).append(name)
        now = min(to_us(events[i].at) or 0 for i in indexes)
        for lst in listeners:
            clicks = []
            for i in indexes:
                e = events[i]
                code, folder_id = links.get(e.link_id, ("", None))
                if _matches(lst, e.link_id, folder_id, tags.get(e.link_id, [])):
                    # already as the wire shows it (camelCase, ISO time): the worker sends
                    # this text as it is, without parsing it again
                    clicks.append({
                        "id": ids[i] if ids else None, "linkId": e.link_id, "code": code,
                        "time": _iso(e.at), "variant": e.variant, "country": e.country,
                        "city": e.city, "device": e.device, "browser": e.browser, "os": e.os,
                        "referrer": e.referrer, "traffic": e.traffic,
                    })  # fmt: skip
            for start in range(0, len(clicks), MAX_CLICKS_PER_EVENT):
                chunk = clicks[start : start + MAX_CLICKS_PER_EVENT]
                _enqueue(q, ws, "link.clicked", {"clicks": chunk}, [lst.id], now)


def emit_conversion(q: Q, rec: ConversionRecord) -> None:
    """A `conversion.created` event for a conversion just stored (a new one, never a
    duplicate), inside the conversion writer's transaction; nothing without a listener."""
    listeners = _listeners(q, rec.workspace_id, "conversion.created")
    if not listeners:
        return
    link = q.one("SELECT code, folder_id FROM links WHERE id = :id", {"id": rec.link_id})
    code, folder_id = (str(link[0]), link[1]) if link is not None else ("", None)
    tags: list[str] = []
    if any(lst.filter and "tag" in lst.filter for lst in listeners):
        tags = [
            str(r[0])
            for r in q.all(
                "SELECT t.name FROM link_tags lt JOIN tags t ON t.id = lt.tag_id "
                "WHERE lt.link_id = :id",
                {"id": rec.link_id},
            )
        ]
    wanted = [lst.id for lst in listeners if _matches(lst, rec.link_id, folder_id, tags)]
    if not wanted:
        return
    fields = {name: getattr(rec, name) for name in _CONVERSION_FIELDS}
    fields["occurred_at"], fields["created_at"] = to_us(rec.occurred_at), to_us(rec.created_at)
    fields["code"] = code
    now = to_us(rec.created_at) or 0
    _enqueue(q, rec.workspace_id, "conversion.created", {"conversion": fields}, wanted, now)


# a ConversionRecord's fields kept as they are in an event (its times are kept as µs)
_CONVERSION_FIELDS = (
    "id", "workspace_id", "link_id", "click_id", "event", "value", "currency", "external_id",
    "click_ts", "variant", "country", "device", "referrer",
)  # fmt: skip


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def wants_clicks(q: Q, workspace_ids: set[str]) -> bool:
    """Whether any enabled endpoint of these workspaces may want `link.clicked` (the click
    writer then reads back the new clicks' ids)."""
    args: dict[str, Any] = {}
    inl = q.d.in_list("workspace_id", "ws", sorted(workspace_ids), args)
    return bool(
        q.scalar(
            f"SELECT COUNT(*) FROM webhook_endpoints WHERE {inl} AND enabled = 1 "
            "AND events LIKE '%link.clicked%'",
            args,
        )
    )


def _endpoint(row: tuple[Any, ...]) -> WebhookRecord:
    return WebhookRecord(
        id=row[0],
        workspace_id=row[1],
        url=row[2],
        events=json.loads(row[3]),
        filter=json.loads(row[4]) if row[4] else None,
        enabled=bool(row[5]),
        disabled_reason=row[6],
        failing_since=from_us(row[7]),
        created_at=from_us(row[8]),  # type: ignore[arg-type]
        updated_at=from_us(row[9]),  # type: ignore[arg-type]
    )


def decode_event_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event's stored data as the core renders it: `link` a LinkRecord for link events."""
    if "row" in data:
        row = tuple(data["row"])
        link_id = row[0]
        folder_id = row[tuple(LINK_FIELDS).index("folder_id")]
        paths = {folder_id: data["path"]} if folder_id and data.get("path") else {}
        out: dict[str, Any] = {"link": decode_link(row, {link_id: data["tags"]}, paths)}
        if "permanent" in data:
            out["permanent"] = data["permanent"]
        return out
    if "conversion" in data:
        fields = dict(data["conversion"])
        fields["occurred_at"] = from_us(fields["occurred_at"])
        fields["created_at"] = from_us(fields["created_at"])
        return {"conversion": ConversionRecord(**fields)}
    return data


WIRE_TYPES = ("link.clicked",)  # events whose stored data is already the wire's JSON


class Webhooks(Aggregate):
    """`store.webhooks`: endpoints, deliveries and attempts."""

    def __init__(self, db: Db) -> None:
        self.db = db

    # --- endpoints ----------------------------------------------------------------------

    async def create(self, rec: WebhookRecord, secret: str) -> None:
        args = {"id": rec.id, "ws": rec.workspace_id, "url": rec.url,
                "events": json.dumps(rec.events), "filter": _json(rec.filter),
                "secret": secret, "enabled": int(rec.enabled),
                "now": to_us(rec.created_at)}  # fmt: skip
        await self._write(
            lambda q: q.run(
                "INSERT INTO webhook_endpoints (id, workspace_id, url, events, filter, secret, "
                "enabled, created_at, updated_at) VALUES (:id, :ws, :url, :events, :filter, "
                ":secret, :enabled, :now, :now)",
                args,
            )
        )

    async def endpoints(self, workspace_id: str) -> list[WebhookRecord]:
        rows = await self._read(
            lambda q: q.all(
                f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE workspace_id = :ws "
                "ORDER BY created_at, id",
                {"ws": workspace_id},
            )
        )
        return [_endpoint(r) for r in rows]

    async def get(self, workspace_id: str, endpoint_id: str) -> WebhookRecord | None:
        row = await self._read(
            lambda q: q.one(
                f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints "
                "WHERE workspace_id = :ws AND id = :id",
                {"ws": workspace_id, "id": endpoint_id},
            )
        )
        return None if row is None else _endpoint(row)

    async def update(
        self, workspace_id: str, endpoint_id: str, changes: dict[str, Any], now: int
    ) -> bool:
        """Set `url`, `events`, `filter`, `enabled` (enabling clears the reason it was
        disabled and its failure streak), or `secret`."""
        row: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("events", "filter"):
                row[key] = _json(value)
            elif key == "enabled":
                row[key] = int(bool(value))
                if value:
                    row["disabled_reason"] = None
                    row["failing_since"] = None
            elif key in ("url", "secret"):
                row[key] = value
            else:
                raise ValueError(f"not a webhook column: {key}")
        row["updated_at"] = now
        sets = ", ".join(f"{c} = :{c}" for c in row)
        return bool(
            await self._write(
                lambda q: q.run(
                    f"UPDATE webhook_endpoints SET {sets} WHERE workspace_id = :_ws AND id = :_id",
                    {**row, "_ws": workspace_id, "_id": endpoint_id},
                )
            )
        )

    async def delete(self, workspace_id: str, endpoint_id: str) -> bool:
        def job(q: Q) -> bool:
            args = {"ws": workspace_id, "id": endpoint_id}
            q.run("DELETE FROM webhook_attempts WHERE endpoint_id = :id", args)
            q.run("DELETE FROM webhook_deliveries WHERE endpoint_id = :id", args)
            return bool(
                q.run("DELETE FROM webhook_endpoints WHERE workspace_id = :ws AND id = :id", args)
            )

        return await self._write(job)

    # --- deliveries ---------------------------------------------------------------------

    async def attempts(
        self, workspace_id: str, endpoint_id: str, limit: int, before: int | None = None
    ) -> list[AttemptRecord]:
        """The endpoint's attempts, newest first (ids below `before` when paging)."""
        rows = await self._read(
            lambda q: q.all(
                """SELECT a.id, a.delivery_id, d.event_id, ev.type, a.at, a.status, a.error,
                          a.duration_ms, d.status, d.attempts
                     FROM webhook_attempts a
                     JOIN webhook_endpoints e ON e.id = a.endpoint_id
                     LEFT JOIN webhook_deliveries d ON d.id = a.delivery_id
                     LEFT JOIN webhook_events ev ON ev.id = d.event_id
                    WHERE e.workspace_id = :ws AND a.endpoint_id = :id AND a.id < :before
                    ORDER BY a.id DESC LIMIT :limit""",
                {"ws": workspace_id, "id": endpoint_id, "limit": limit,
                 "before": before if before is not None else 2**62},
            )
        )  # fmt: skip
        return [
            AttemptRecord(
                id=int(r[0]),
                delivery_id=r[1],
                event_id=r[2],
                event_type=r[3],
                at=from_us(r[4]),  # type: ignore[arg-type]
                status=r[5],
                error=r[6],
                duration_ms=int(r[7]),
                delivery_status=r[8],
                delivery_attempts=r[9],
            )
            for r in rows
        ]

    async def pending_count(self, workspace_id: str | None = None) -> int:
        where = "d.status = 'pending'"
        args: dict[str, Any] = {}
        if workspace_id is not None:
            where += " AND e.workspace_id = :ws"
            args["ws"] = workspace_id
        return int(
            await self._read(
                lambda q: q.scalar(
                    "SELECT COUNT(*) FROM webhook_deliveries d JOIN webhook_endpoints e "
                    f"ON e.id = d.endpoint_id WHERE {where}",
                    args,
                )
            )
        )

    async def redeliver(self, workspace_id: str, endpoint_id: str, ref: str, now: int) -> bool:
        """Send a delivery again (by delivery or event id), at once; False when unknown."""
        return bool(
            await self._write(
                lambda q: q.run(
                    """UPDATE webhook_deliveries SET status = 'pending', next_at = :now,
                              first_try_at = NULL, done_at = NULL
                        WHERE endpoint_id = :id AND (id = :ref OR event_id = :ref)
                          AND endpoint_id IN (SELECT id FROM webhook_endpoints
                                               WHERE workspace_id = :ws)""",
                    {"ws": workspace_id, "id": endpoint_id, "ref": ref, "now": now},
                )
            )
        )

    async def enqueue(
        self, workspace_id: str, endpoint_id: str, event_type: str, data: dict[str, Any], now: int
    ) -> str:
        """An event for one endpoint alone (the `test` action); its id."""
        return await self._write(
            lambda q: _enqueue(q, workspace_id, event_type, data, [endpoint_id], now)
        )

    # --- the worker -----------------------------------------------------------------------

    async def claim(self, owner: str, now: int, until: int, limit: int) -> list[str]:
        """Lease up to `limit` enabled endpoints that have a due delivery and no live lease;
        their ids."""

        due_sql = """SELECT 1 FROM webhook_endpoints e
                      WHERE e.enabled = 1 AND (e.lease_until IS NULL OR e.lease_until < :now)
                        AND EXISTS (SELECT 1 FROM webhook_deliveries d
                                     WHERE d.endpoint_id = e.id AND d.status = 'pending'
                                       AND d.next_at <= :now) LIMIT 1"""
        # A read first: an idle worker's pass costs no write transaction.
        if await self._read(lambda q: q.one(due_sql, {"now": now})) is None:
            return []

        def job(q: Q) -> list[str]:
            pick = """SELECT e.id FROM webhook_endpoints e
                       WHERE e.enabled = 1 AND (e.lease_until IS NULL OR e.lease_until < :now)
                         AND EXISTS (SELECT 1 FROM webhook_deliveries d
                                      WHERE d.endpoint_id = e.id AND d.status = 'pending'
                                        AND d.next_at <= :now)
                       ORDER BY e.lease_until LIMIT :limit"""
            if q.d.name == "postgres":
                pick += " FOR UPDATE SKIP LOCKED"
            ids = [r[0] for r in q.all(pick, {"now": now, "limit": limit})]
            for endpoint_id in ids:
                q.run(
                    "UPDATE webhook_endpoints SET lease_owner = :owner, lease_until = :until "
                    "WHERE id = :id",
                    {"owner": owner, "until": until, "id": endpoint_id},
                )
            return ids

        return await self._write(job)

    async def renew(self, endpoint_id: str, owner: str, until: int) -> bool:
        """Extend a lease this worker holds; False when it lapsed and another took it."""
        return bool(
            await self._write(
                lambda q: q.run(
                    "UPDATE webhook_endpoints SET lease_until = :until "
                    "WHERE id = :id AND lease_owner = :owner",
                    {"id": endpoint_id, "owner": owner, "until": until},
                )
            )
        )

    async def release(self, endpoint_id: str, owner: str) -> None:
        await self._write(
            lambda q: q.run(
                "UPDATE webhook_endpoints SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = :id AND lease_owner = :owner",
                {"id": endpoint_id, "owner": owner},
            )
        )

    async def due(
        self, endpoint_id: str, now: int, limit: int
    ) -> tuple[str, str, list[OutgoingMessage]]:
        """`(url, secret, messages)`: an endpoint's due deliveries in event order."""

        def job(q: Q) -> tuple[str, str, list[OutgoingMessage]]:
            url, secret = q.one(
                "SELECT url, secret FROM webhook_endpoints WHERE id = :id", {"id": endpoint_id}
            )
            rows = q.all(
                """SELECT d.id, d.event_id, ev.type, ev.created_at, ev.data, d.attempts,
                          d.first_try_at
                     FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
                    WHERE d.endpoint_id = :id AND d.status = 'pending' AND d.next_at <= :now
                    ORDER BY d.seq LIMIT :limit""",
                {"id": endpoint_id, "now": now, "limit": limit},
            )
            return (
                url,
                secret,
                [
                    OutgoingMessage(
                        delivery_id=r[0],
                        event_id=r[1],
                        event_type=r[2],
                        event_at=from_us(r[3]),  # type: ignore[arg-type]
                        data={"wire": r[4]}
                        if r[2] in WIRE_TYPES
                        else decode_event_data(r[2], json.loads(r[4])),
                        attempts=int(r[5]),
                        first_try_at=r[6],
                    )
                    for r in rows
                ],
            )

        return await self._read(job)

    async def record_attempt(
        self,
        endpoint_id: str,
        delivery_id: str,
        at: int,
        status: int | None,
        error: str | None,
        duration_ms: int,
        outcome: str,
        next_at: int | None = None,
        disable_reason: str | None = None,
    ) -> None:
        """Log one attempt and settle its delivery: `outcome` `delivered`, `retry` (due again
        at `next_at`) or `failed` (given up); a success ends the endpoint's failure streak, a
        failure starts one, and `disable_reason` disables the endpoint."""

        def job(q: Q) -> None:
            q.run(
                "INSERT INTO webhook_attempts (delivery_id, endpoint_id, at, status, error, "
                "duration_ms) VALUES (:d, :e, :at, :status, :error, :ms)",
                {"d": delivery_id, "e": endpoint_id, "at": at, "status": status,
                 "error": error, "ms": duration_ms},
            )  # fmt: skip
            q.run(
                """UPDATE webhook_deliveries SET attempts = attempts + 1,
                          first_try_at = COALESCE(first_try_at, :at), last_status = :status,
                          last_error = :error, status = :st, next_at = :next,
                          done_at = :done WHERE id = :d""",
                {"d": delivery_id, "at": at, "status": status, "error": error,
                 "st": "pending" if outcome == "retry" else outcome,
                 "next": next_at if next_at is not None else at,
                 "done": None if outcome == "retry" else at},
            )  # fmt: skip
            if outcome == "delivered":
                q.run(
                    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = :e",
                    {"e": endpoint_id},
                )
            else:
                q.run(
                    "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, :at) "
                    "WHERE id = :e",
                    {"e": endpoint_id, "at": at},
                )
            if disable_reason is not None:
                q.run(
                    "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = :why, "
                    "lease_owner = NULL, lease_until = NULL WHERE id = :e",
                    {"e": endpoint_id, "why": disable_reason},
                )

        await self._write(job)

    async def failing_since(self, endpoint_id: str) -> int | None:
        value = await self._read(
            lambda q: q.scalar(
                "SELECT failing_since FROM webhook_endpoints WHERE id = :id", {"id": endpoint_id}
            )
        )
        return None if value is None else int(value)

    async def emit_expired(self, now: int) -> int:
        """`link.expired` for links whose `expires_at` passed since the last sweep (the first
        sweep only starts the clock); the events written. One sweeper at a time: the state row
        is locked (PostgreSQL) or the database is (SQLite)."""

        def job(q: Q) -> int:
            q.run(
                "INSERT INTO webhook_state (name, value) VALUES ('expired_until', :now) "
                "ON CONFLICT (name) DO NOTHING",
                {"now": now},
            )
            since = int(
                q.scalar(
                    "SELECT value FROM webhook_state WHERE name = 'expired_until'"
                    + (" FOR UPDATE" if q.d.name == "postgres" else "")
                )
            )
            if since >= now:
                return 0
            from clypt_mcp.store.links import hydrate
            from clypt_mcp.store.rows import LINK_SELECT

            rows = q.all(
                f"""SELECT {LINK_SELECT} FROM links l
                     WHERE l.expires_at > :since AND l.expires_at <= :now
                       AND l.deleted_at IS NULL
                       AND l.workspace_id IN (SELECT workspace_id FROM webhook_endpoints
                                               WHERE enabled = 1)
                     ORDER BY l.workspace_id, l.expires_at, l.id""",
                {"since": since, "now": now},
            )
            written = 0
            by_ws: dict[str, list[Any]] = {}
            for r in rows:
                by_ws.setdefault(r[1], []).append(r)
            for ws_rows in by_ws.values():
                emit_links(q, "link.expired", ws_rows, hydrate(q, ws_rows), now)
                written += len(ws_rows)
            q.run(
                "UPDATE webhook_state SET value = :now WHERE name = 'expired_until'", {"now": now}
            )
            return written

        return await self._write(job)

    async def purge(self, before: int, limit: int) -> int:
        """Delete attempts, settled deliveries and their events older than `before` (µs), at
        most `limit` of each; the rows deleted."""

        def job(q: Q) -> int:
            n = q.run(
                "DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts "
                "WHERE at < :before LIMIT :n)",
                {"before": before, "n": limit},
            )
            n += q.run(
                "DELETE FROM webhook_deliveries WHERE seq IN (SELECT seq FROM webhook_deliveries "
                "WHERE status <> 'pending' AND done_at < :before LIMIT :n)",
                {"before": before, "n": limit},
            )
            n += q.run(
                """DELETE FROM webhook_events WHERE id IN (SELECT ev.id FROM webhook_events ev
                    WHERE ev.created_at < :before AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                          WHERE d.event_id = ev.id) LIMIT :n)""",
                {"before": before, "n": limit},
            )
            return n

        return await self._write(job)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))
