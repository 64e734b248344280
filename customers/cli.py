"""``ctidesk import customers FILE`` and ``ctidesk export customers --out FILE``.

Progress bars and reports go to stderr, so stdout stays clean for scripts.
Exit status: 0 when the import was written (or the dry run found no error),
1 when a row was invalid or the file unreadable (nothing written).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from customers import importer


def _settings():
    from ctidesk.settings import settings_for_cli

    return settings_for_cli()


def _run(settings, fn):
    from ctidesk.clitools import run_db

    return run_db(fn, settings)


def _write_error_report(path: str, errors: list[importer.RowError]) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "column", "reason"])
        writer.writerows([e.line, e.column, e.reason] for e in errors)


@click.group("import")
def import_group() -> None:
    """Import data from files."""


@import_group.command("customers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and count what would change; write nothing.")
@click.option("--skip-invalid", is_flag=True,
              help="Import the valid rows even if some are invalid (they are reported).")
@click.option("--encoding", default=None,
              help="CSV encoding (default: UTF-8, then GB18030 as Excel saves it in China).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the errors as CSV (line, column, reason) to this file.")
def import_customers(file: str, dry_run: bool, skip_invalid: bool, encoding: str | None,
                     report_path: str | None) -> None:
    """Create or update customers from a .csv or .xlsx FILE.

    The first line is the header, in English or Chinese: name/姓名,
    phone/电话 (several separated by ; or /), kind/类型, address/地址,
    region/区域, industry/行业, class/等级 (A-D), VIP, tags/标签, notes/备注,
    product_model/产品型号, serial/序列号, purchase_date/购买日期,
    warranty_end/保修截止, install_address/安装地址. A row whose phone
    (or, without one, product serial) is already a customer's
    updates that customer. Any invalid row: nothing is written.
    """
    settings = _settings()
    try:
        parsed = importer.parse_file(file, country_code=settings.default_country_code, encoding=encoding)
    except importer.ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in parsed.warnings:
        click.echo(f"warning: {warning}", err=True)

    async def work(db):
        with click.progressbar(length=len(parsed.rows), label="importing customers", file=sys.stderr) as bar:
            return await importer.import_customers(db=db, parsed=parsed, source=Path(file).name,
                                                   dry_run=dry_run, skip_invalid=skip_invalid,
                                                   progress=bar.update)

    if parsed.writable(skip_invalid):
        report = _run(settings, work)
    else:  # nothing will be written: no need for the database
        report = importer.ImportReport.of(parsed, dry_run=dry_run)
    for error in report.errors:
        click.echo(str(error), err=True)
    if report_path and report.errors:
        _write_error_report(report_path, report.errors)
    if not parsed.writable(skip_invalid):
        raise click.ClickException(
            f"{len(report.errors)} error(s) in {len(parsed.bad_lines) or 1} line(s) of {report.rows} rows; "
            "nothing was written" + ("" if parsed.fatal else " (fix them, or use --skip-invalid)"))
    prefix = "dry run, nothing written: " if dry_run else ""
    click.echo(prefix + report.summary(), err=True)


@click.group("export")
def export_group() -> None:
    """Export data to files."""


@export_group.command("customers")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="File to write (.csv or .xlsx).")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default=None,
              help="Default: from the --out extension, else csv.")
@click.option("--include-provisional", is_flag=True,
              help="Also export the records made automatically for unknown callers.")
def export_customers(out: str, fmt: str | None, include_provisional: bool) -> None:
    """Write every customer (one line per product owned) with the import headers."""
    settings = _settings()
    if fmt is None:
        fmt = "xlsx" if out.lower().endswith(".xlsx") else "csv"

    async def work(db):
        total = await importer.count_exportable(db=db, include_provisional=include_provisional)
        with click.progressbar(length=total, label="exporting customers", file=sys.stderr) as bar:
            return await importer.export_customers(db=db, path=out, fmt=fmt,
                                                   include_provisional=include_provisional,
                                                   progress=bar.update)

    count = _run(settings, work)
    click.echo(f"exported {count} customers to {out}", err=True)
