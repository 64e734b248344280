"""``/api/v1/reports/...``: JSON, CSV or XLSX of the stored-data reports (supervisor, admin)."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.security import require_roles
from accounts.service import audit
from ctidesk.deps import client_ip, get_container, get_db
from supervisor import reports
from supervisor.service import get_config

router = APIRouter(prefix="/api/v1/reports")
supervisor_only = require_roles("supervisor", "admin")
MAX_RANGE = timedelta(days=366)
FORMATS = ("json", "csv", "xlsx")


def _bad(field: str, msg: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["query", field], "msg": msg, "type": "value_error"}])


def _period(start: str | None, end: str | None, tz_name: str | None):
    try:
        tz = reports.parse_tz(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("tz", f"unknown time zone {tz_name!r} (use an IANA name such as Asia/Shanghai)") from None

    def parse(name: str, value: str) -> datetime:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise _bad(name, f"{value!r} is not an ISO 8601 date or date-time") from None
        return dt if dt.tzinfo else dt.replace(tzinfo=tz)

    now = datetime.now(timezone.utc)
    e = parse("to", end) if end else now
    s = parse("from", start) if start else e - timedelta(days=1)
    if s >= e:
        raise _bad("from", "'from' must be before 'to'")
    if e - s > MAX_RANGE:
        raise _bad("from", "a report covers at most 366 days")
    return s.astimezone(timezone.utc), e.astimezone(timezone.utc), tz


def _csv(table: dict) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(table["columns"])
    for row in table["rows"]:
        w.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens Chinese text correctly


def _xlsx(result: dict) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, table in result["tables"].items():
        ws = wb.create_sheet(name[:31])
        ws.append(table["columns"])
        for row in table["rows"]:
            ws.append(row)
    ws = wb.create_sheet("formulas")
    ws.append(["kpi", "formula"])
    for k, v in result.get("formulas", {}).items():
        ws.append([k, v])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def _respond(result: dict, *, fmt: str, table: str | None, s, e, request, user, db) -> Response | dict:
    result = {**result, "from": s.isoformat(), "to": e.isoformat()}
    if fmt == "json":
        return result
    await audit(db=db, actor=user.username, action="report.export", target=result["report"],
                detail={"format": fmt, "from": result["from"], "to": result["to"]},
                ip=client_ip(request))
    await db.commit()
    stem = f"ctidesk-{result['report']}-{s:%Y%m%d%H%M}-{e:%Y%m%d%H%M}"
    if fmt == "csv":
        name = table or next(iter(result["tables"]))
        if name not in result["tables"]:
            raise _bad("table", f"unknown table {name!r}; this report has {', '.join(result['tables'])}")
        return Response(_csv(result["tables"][name]), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{stem}-{name}.csv"'})
    return Response(_xlsx(result), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'})


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise _bad("format", f"format must be one of {', '.join(FORMATS)}")
    return fmt


class _Asked:
    """What every report is asked with: the period (``from``, ``to``, ``tz``), ``format``
    (json, csv, xlsx) and, for CSV, ``table``; by a supervisor or admin."""

    def __init__(self, request: Request, from_: str | None = Query(None, alias="from"), to: str | None = None,
                 tz: str | None = None, format: str = "json", table: str | None = None,
                 user=Depends(supervisor_only), db: AsyncSession = Depends(get_db)) -> None:
        self.request, self.from_, self.to, self.tz, self.format, self.table = request, from_, to, tz, format, table
        self.user, self.db = user, db

    def period(self):
        return _period(self.from_, self.to, self.tz)

    async def answer(self, result: dict, fmt: str, s, e) -> Response | dict:
        return await _respond(result, fmt=fmt, table=self.table, s=s, e=e, request=self.request, user=self.user,
                              db=self.db)


async def _report(asked: _Asked, build) -> Response | dict:
    """``await build(start, end, zone)`` over the asked period, answered in the asked format."""
    fmt = _fmt(asked.format)
    s, e, zone = asked.period()
    return await asked.answer(await build(s, e, zone), fmt, s, e)


@router.get("/calls")
async def calls_report(interval: str = "1h", asked: _Asked = Depends()):
    """Call volume by interval and queue, by direction and outcome."""
    fmt = _fmt(asked.format)
    if interval not in reports.INTERVALS:
        raise _bad("interval", f"interval must be one of {', '.join(reports.INTERVALS)}")
    s, e, zone = asked.period()
    if (e - s).total_seconds() / reports.INTERVALS[interval] > 5000:
        raise _bad("interval", "too many intervals for this period; choose a longer interval")
    result = await reports.call_volume(asked.db, start=s, end=e, interval=interval, tz=zone)
    return await asked.answer(result, fmt, s, e)


@router.get("/business")
async def business_report(asked: _Asked = Depends()):
    """Tickets created in the period by type and state."""
    return await _report(asked, lambda s, e, zone: reports.business_volume(asked.db, start=s, end=e, tz=zone))


@router.get("/workload")
async def workload_report(asked: _Asked = Depends()):
    """Per agent: calls answered, talk, hold, wrap-up, pause, login time, occupancy."""
    return await _report(asked, lambda s, e, _: reports.workload(asked.db, start=s, end=e))


@router.get("/queues")
async def queues_report(asked: _Asked = Depends(), container=Depends(get_container)):
    """Queue quality: SL, ASA, AHT, abandonment rate, short abandons (formulas in the answer)."""
    return await _report(asked, lambda s, e, _: reports.queue_quality(asked.db, start=s, end=e,
                                                                      config=get_config(container)))
