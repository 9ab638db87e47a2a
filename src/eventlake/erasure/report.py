"""What `eventlake erasure status` and `audit` print, from the control plane's views.

Status: one row per request (due date, state, confirmed / pending / failed steps). Audit: one
row per request, store and object with its latest status, time and detail: the record an
auditor asks for. Both render as an aligned table, JSON or CSV. Nothing is inferred: a step is
confirmed only if its store recorded it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from eventlake.config import Settings
from eventlake.erasure import control

FORMATS = ("table", "json", "csv")

STATUS_COLUMNS = (
    "request_id",
    "state",
    "received_at",
    "due_at",
    "completed_at",
    "confirmed_steps",
    "pending_steps",
    "failed_steps",
    "pending",
)
AUDIT_COLUMNS = (
    "request_id",
    "due_at",
    "state",
    "store",
    "object",
    "status",
    "rows_deleted",
    "files_rewritten",
    "confirmed_at",
    "detail",
)


def status_rows(settings: Settings, request_id: str | None = None) -> list[dict]:
    with control.connect(settings, read_only=True) as connection:
        cursor = connection.execute(
            """
            select
                requests.request_id, requests.state, requests.received_at, requests.due_at,
                requests.completed_at, requests.confirmed_steps, requests.pending_steps,
                requests.failed_steps,
                coalesce(string_agg(steps.store || ':' || steps.object, ', '
                    order by steps.store, steps.object)
                    filter (where steps.status <> 'confirmed'), '') as pending
            from control.erasure_status as requests
            left join control.erasure_store_status as steps using (request_id)
            where $request_id is null or requests.request_id = $request_id
            group by all
            order by requests.received_at, requests.request_id
            """,
            {"request_id": request_id},
        )
        return _dicts(cursor)


def audit_rows(settings: Settings, request_id: str | None = None) -> list[dict]:
    with control.connect(settings, read_only=True) as connection:
        cursor = connection.execute(
            """
            select
                requests.request_id, requests.due_at, requests.state, steps.store,
                steps.object, steps.status, steps.rows_deleted, steps.files_rewritten,
                steps.confirmed_at, steps.detail
            from control.erasure_status as requests
            left join control.erasure_store_status as steps using (request_id)
            where $request_id is null or requests.request_id = $request_id
            order by requests.received_at, requests.request_id, steps.store, steps.object
            """,
            {"request_id": request_id},
        )
        return _dicts(cursor)


def render(rows: list[dict], columns: tuple[str, ...], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2, default=_text)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _text(row[k]) for k in columns} for row in rows)
        return out.getvalue().rstrip("\n")
    cells = [[_text(row[c]) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _dicts(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)
