"""Customers from and to spreadsheets (CSV or .xlsx).

Import reads the whole file and checks every row before touching the
database; a file with any bad row writes nothing (unless told to skip the bad
rows) and the report names each problem by line, column and reason. Good rows
are then written in one transaction, so a failure half-way leaves nothing
behind. A row whose phone (or, failing that, product serial) belongs to a
customer updates that customer instead of adding a duplicate; a blank cell
keeps what is stored. A dry run does the same work and rolls it back, so its
counts are exact.

Headers may be English or Chinese (``COLUMNS`` lists the accepted names);
export writes the English ones, one row per product owned, so that an
exported file imports back to the same records.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from customers import service
from customers.models import Customer, CustomerAddress, CustomerPhone, CustomerProduct, CustomerTag
from customers.phone import DIALABLE_KINDS, PhoneNumber, normalize
from ctidesk.db import utcnow

# Canonical column -> accepted headers (compared trimmed, case-insensitive,
# with spaces and dashes read as underscores). The first is what export writes.
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名", "名称", "客户名称"),
    "phone": ("phone", "phones", "电话", "手机", "联系电话"),
    "kind": ("kind", "type", "类型", "客户类型"),
    "address": ("address", "地址"),
    "region": ("region", "区域", "地区"),
    "industry": ("industry", "行业"),
    "class": ("class", "value_class", "等级", "客户等级"),
    "vip": ("vip",),
    "tags": ("tags", "tag", "标签"),
    "notes": ("notes", "note", "备注"),
    "product_model": ("product_model", "model", "产品型号", "型号"),
    "serial": ("serial", "serial_number", "序列号"),
    "purchase_date": ("purchase_date", "购买日期"),
    "warranty_end": ("warranty_end", "保修截止", "保修截止日期"),
    # Where the product is installed, when not at the customer's address.
    "install_address": ("install_address", "安装地址"),
}
_HEADER = {alias.lower(): column for column, aliases in COLUMNS.items() for alias in aliases}
_KINDS = {"person": "person", "individual": "person", "个人": "person", "个体": "person",
          "company": "company", "business": "company", "公司": "company", "企业": "company",
          "单位": "company"}
_YES = {"yes", "y", "true", "1", "是", "vip", "x", "✓"}
_NO = {"no", "n", "false", "0", "否", "不是"}
_PHONE_SPLIT = re.compile(r"[;/；／,，、\n]+")
_TAG_SPLIT = re.compile(r"[,;，；、|]+")
_DATE_PARTS = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
# A cell starting with one of these is a formula to a spreadsheet. Export
# quotes such text with a leading "'" (the OWASP advice for CSV injection:
# caller names come from the network); import removes that quote again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HARMLESS = re.compile(r"[0-9+\-() ./;]*")  # numbers and dates: nothing to execute
SUPPORTED = (".csv", ".xlsx")


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based line (CSV) or row (xlsx) of the file; the header is line 1
    column: str  # the header as written in the file
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


@dataclass
class CustomerRow:
    """One valid line of an import file. None or empty means "keep what is stored"."""
    line: int
    name: str
    phones: list[PhoneNumber]
    kind: str | None = None
    address: str | None = None
    region: str | None = None
    industry: str | None = None
    value_class: str | None = None
    vip: bool | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    product: dict | None = None


@dataclass
class ImportReport:
    rows: int = 0  # data rows read (blank lines not counted)
    valid: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # invalid rows left out with skip_invalid
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False  # committed to the database

    @classmethod
    def of(cls, parsed: "ParsedFile", *, dry_run: bool = False) -> "ImportReport":
        return cls(rows=parsed.total, valid=len(parsed.rows), errors=list(parsed.errors),
                   warnings=list(parsed.warnings), dry_run=dry_run)

    def summary(self) -> str:
        verb = "would create" if self.dry_run else "created"
        upd = "would update" if self.dry_run else "updated"
        text = (f"{self.rows} rows: {verb} {self.created}, {upd} {self.updated}, "
                f"unchanged {self.unchanged}")
        if self.skipped:
            text += f", skipped {self.skipped} invalid"
        return text


@dataclass
class ParsedFile:
    rows: list[CustomerRow]
    errors: list[RowError]
    warnings: list[str]
    total: int
    bad_lines: set[int] = field(default_factory=set)
    fatal: bool = False  # the file as a whole is wrong (header): nothing can be imported

    def writable(self, skip_invalid: bool = False) -> bool:
        return not self.fatal and (skip_invalid or not self.errors)


class ImportFileError(ValueError):
    """The file as a whole cannot be read (format, encoding, header)."""


# --- reading ----------------------------------------------------------------

def _header_key(text: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(text or "").strip()).lower()


def _read_csv(path: Path, encoding: str | None) -> Iterator[tuple[int, list]]:
    raw = path.read_bytes()
    for enc in ([encoding] if encoding else ["utf-8-sig", "gb18030"]):
        try:
            text = raw.decode(enc)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    else:
        raise ImportFileError(f"{path.name}: cannot decode as {encoding or 'UTF-8 or GB18030'}")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    start = 1
    for values in reader:
        yield start, [_unquote(v) for v in values]
        start = reader.line_num + 1  # a quoted cell may span lines


def _read_xlsx(path: Path) -> Iterator[tuple[int, list]]:
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ImportFileError(f"{path.name}: not a readable .xlsx file ({exc})") from None
    try:
        sheet = book.worksheets[0]
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, list(values)
    finally:
        book.close()


def read_table(path: str | Path, *, encoding: str | None = None) -> Iterator[tuple[int, list]]:
    """(line, cell values) for every row of the first sheet, header included."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, encoding)
    if suffix == ".xlsx":
        return _read_xlsx(path)
    raise ImportFileError(f"{path.name}: unsupported file type {suffix or '(none)'}: use .csv or .xlsx")


def _cell(value: Any) -> Any:
    """Text of a cell, trimmed; dates stay dates; 13800138000.0 reads 13800138000."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _unquote(text: str) -> str:
    """Undo :func:`_safe` on a CSV cell."""
    return text[1:] if text[:1] == "'" and text[1:2] in _FORMULA_START + ("'",) else text


def parse_date(value: Any) -> date:
    """A date from a cell: a spreadsheet date, 2024-03-01, 2024/3/1, 2024.03.01,
    20240301 or 2024年3月1日. ValueError otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    match = _DATE_PARTS.fullmatch(text) or _COMPACT_DATE.fullmatch(text)
    if match is None:
        # "2024-03-01 00:00:00" from a spreadsheet that kept the time
        match = _DATE_PARTS.fullmatch(text.split(" ")[0]) if " " in text else None
    if match is None:
        raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD)")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ValueError(f"{text!r} is not a real date") from None


def _parse_row(line: int, cells: dict[str, Any], header: dict[str, str],
               country_code: str) -> tuple[CustomerRow | None, list[RowError]]:
    errors: list[RowError] = []

    def err(column: str, reason: str) -> None:
        errors.append(RowError(line, header.get(column, column), reason))

    def text(column: str, max_len: int) -> str:
        value = cells.get(column, "")
        value = value.isoformat() if isinstance(value, (date, datetime)) else value
        if len(value) > max_len:
            err(column, f"too long: {len(value)} characters, at most {max_len}")
            return ""
        return value

    name = text("name", service.NAME_MAX)
    phones: list[PhoneNumber] = []
    seen = set()
    for raw in (p.strip() for p in _PHONE_SPLIT.split(text("phone", 400))):
        if not raw:
            continue
        number = normalize(raw, country_code=country_code)
        if number.kind not in DIALABLE_KINDS:
            err("phone", f"bad phone {raw!r} ({number.kind})")
        elif number.normalized not in seen:
            seen.add(number.normalized)
            phones.append(number)
    if not name and not phones and not any(e.column == header.get("phone", "phone") for e in errors):
        err("name", "missing name and phone: a customer needs at least one")
    kind = None
    if cells.get("kind"):
        kind = _KINDS.get(str(cells["kind"]).strip().lower())
        if kind is None:
            err("kind", f"unknown kind {cells['kind']!r}: person or company (个人/公司)")
    value_class = None
    try:
        value_class = service.check_value_class(cells.get("class"))
    except service.FieldError as exc:
        err("class", exc.msg)
    vip = None
    if cells.get("vip") not in (None, ""):
        flag = str(cells["vip"]).strip().lower()
        vip = True if flag in _YES else False if flag in _NO else None
        if vip is None:
            err("vip", f"{cells['vip']!r} is not yes or no (是/否)")
    tags: list[str] = []
    try:
        tags = service.normalize_tags([t for t in _TAG_SPLIT.split(text("tags", 2000)) if t.strip()])
    except service.FieldError as exc:
        err("tags", exc.msg)
    dates = {}
    for column in ("purchase_date", "warranty_end"):
        if cells.get(column) not in (None, ""):
            try:
                dates[column] = parse_date(cells[column])
            except ValueError as exc:
                err(column, str(exc))
    product = None
    model, serial = text("product_model", 80), text("serial", 80)
    # Without an install_address column the product is where the customer is.
    address = text("address", 1000)
    install_address = text("install_address", 1000) if "install_address" in header else address
    if model or serial or dates:
        try:
            product = service.check_product(model=model, serial=serial, purchase_date=dates.get("purchase_date"),
                                            warranty_end=dates.get("warranty_end"),
                                            install_address=install_address or None)
        except service.FieldError as exc:
            column = {"model": "product_model"}.get(exc.loc[-1], exc.loc[-1])
            err(str(column), exc.msg)
    row = CustomerRow(line=line, name=name, phones=phones, kind=kind,
                      address=address or None, region=text("region", 80) or None,
                      industry=text("industry", 80) or None, value_class=value_class, vip=vip,
                      tags=tags, notes=text("notes", 4000) or None, product=product)
    return (None if errors else row), errors


def parse_file(path: str | Path, *, country_code: str = "86", encoding: str | None = None) -> ParsedFile:
    """Read and check every row; no database. ImportFileError if the file
    itself is unreadable; row problems are collected, never raised."""
    table = read_table(path, encoding=encoding)
    header_line, header_cells = next(((n, v) for n, v in table if any(_cell(c) != "" for c in v)),
                                     (None, None))
    if header_cells is None:
        raise ImportFileError(f"{Path(path).name}: the file is empty")
    positions: dict[str, int] = {}
    header: dict[str, str] = {}
    errors: list[RowError] = []
    warnings: list[str] = []
    for index, title in enumerate(header_cells):
        shown = str(_cell(title))
        if not shown:
            continue
        column = _HEADER.get(_header_key(shown))
        if column is None:
            warnings.append(f"line {header_line}: column {shown!r} is not known and was ignored")
        elif column in positions:
            errors.append(RowError(header_line, shown, f"a second {column!r} column"))
        else:
            positions[column], header[column] = index, shown
    if "name" not in positions and "phone" not in positions:
        errors.append(RowError(header_line, "", "no name or phone column: is the first line the header? "
                               f"known columns: {', '.join(COLUMNS)}"))
        return ParsedFile([], errors, warnings, 0, fatal=True)
    rows: list[CustomerRow] = []
    total, bad_lines = 0, set()
    for line, values in table:
        cells = {column: _cell(values[i]) if i < len(values) else "" for column, i in positions.items()}
        extra = [v for i, v in enumerate(values) if i not in positions.values() and _cell(v) != ""]
        if all(v == "" for v in cells.values()) and not extra:
            continue  # blank line
        total += 1
        row, row_errors = _parse_row(line, cells, header, country_code)
        if row_errors:
            bad_lines.add(line)
            errors.extend(row_errors)
        else:
            rows.append(row)
    return ParsedFile(rows, errors, warnings, total, bad_lines)


# --- writing ----------------------------------------------------------------

async def _match(db: AsyncSession, row: CustomerRow) -> Customer | None:
    """The customer this row is about: by phone (a real record before a
    provisional one), else by product serial."""
    keys = [n.normalized for n in row.phones]
    stmt = None
    if keys:
        stmt = select(Customer.id).where(Customer.id.in_(select(CustomerPhone.customer_id).where(
            CustomerPhone.normalized.in_(keys))))
    elif row.product and row.product["serial"]:
        stmt = select(Customer.id).where(Customer.id.in_(select(CustomerProduct.customer_id).where(
            CustomerProduct.serial == row.product["serial"])))
    if stmt is None:
        return None
    found = (await db.execute(stmt.where(Customer.merged_into_id.is_(None)).order_by(
        *service._BEST_FIRST).limit(1))).scalar_one_or_none()
    return None if found is None else await service.get(db=db, customer_id=found)


async def _create(db: AsyncSession, row: CustomerRow) -> None:
    customer = Customer(
        name=row.name, kind=row.kind or "person", provisional=False, notes=row.notes or "",
        region=row.region, industry=row.industry, value_class=row.value_class, vip=bool(row.vip),
        phones=[CustomerPhone(raw=n.raw.strip(), normalized=n.normalized, kind=n.kind) for n in row.phones],
        tags=[CustomerTag(tag=t) for t in row.tags],
        addresses=[CustomerAddress(text=row.address, label="", is_default=True)] if row.address else [],
        products=[CustomerProduct(**row.product)] if row.product else [])
    db.add(customer)
    await db.flush()


def _update(customer: Customer, row: CustomerRow) -> bool:
    """Fill in what the row says; blank cells keep what is stored. True if anything changed."""
    changed = False

    def put(attr: str, value) -> None:
        nonlocal changed
        if value is not None and value != "" and getattr(customer, attr) != value:
            setattr(customer, attr, value)
            changed = True

    put("name", row.name)
    put("kind", row.kind)
    put("region", row.region)
    put("industry", row.industry)
    put("value_class", row.value_class)
    put("vip", row.vip)
    put("notes", row.notes)
    if row.name and customer.provisional:  # someone knows who this caller is now
        customer.provisional = False
        changed = True
    have = {p.normalized for p in customer.phones}
    for n in row.phones:
        if n.normalized not in have:
            customer.phones.append(CustomerPhone(raw=n.raw.strip(), normalized=n.normalized, kind=n.kind))
            have.add(n.normalized)
            changed = True
    tags = set(customer.tag_names)
    for tag in row.tags:
        if tag not in tags:
            customer.tags.append(CustomerTag(tag=tag))
            tags.add(tag)
            changed = True
    if row.address and all(a.text != row.address for a in customer.addresses):
        customer.addresses.append(CustomerAddress(text=row.address, label="",
                                                  is_default=not customer.addresses))
        changed = True
    if row.product:
        changed = _update_product(customer, row.product) or changed
    if changed:
        customer.updated_at = utcnow()
    return changed


def _update_product(customer: Customer, product: dict) -> bool:
    serial = product["serial"]
    if serial:
        same = next((p for p in customer.products if p.serial == serial), None)
    else:
        same = next((p for p in customer.products if not p.serial and p.model == product["model"]
                     and p.purchase_date == product["purchase_date"]), None)
    if same is None:
        customer.products.append(CustomerProduct(**product))
        return True
    changed = False
    for key, value in product.items():
        if value not in (None, "") and getattr(same, key) != value:
            setattr(same, key, value)
            changed = True
    return changed


async def apply_rows(*, db: AsyncSession, rows: list[CustomerRow], report: ImportReport,
                     progress: Callable[[int], None] | None = None) -> None:
    """Create or update a customer per row (flushed, not committed)."""
    for row in rows:
        customer = await _match(db, row)
        if customer is None:
            await _create(db, row)
            report.created += 1
        elif _update(customer, row):
            await db.flush()
            report.updated += 1
        else:
            report.unchanged += 1
        if progress is not None:
            progress(1)


async def import_customers(*, db: AsyncSession, parsed: ParsedFile, source: str = "",
                           dry_run: bool = False, skip_invalid: bool = False, actor: str = "cli",
                           progress: Callable[[int], None] | None = None) -> ImportReport:
    """Write a checked file in one transaction, or nothing.

    Nothing is written if any row is invalid (unless ``skip_invalid``), on a
    dry run (the work is done, then rolled back), or if anything fails on
    the way (rolled back, then re-raised). One audit row records the counts.
    """
    report = ImportReport.of(parsed, dry_run=dry_run)
    if not parsed.writable(skip_invalid):
        return report
    report.skipped = len(parsed.bad_lines)
    try:
        await apply_rows(db=db, rows=parsed.rows, report=report, progress=progress)
        if dry_run:
            await db.rollback()
            return report
        from accounts.service import audit

        await audit(db=db, actor=actor, action="customer.import", target=f"file:{source}"[:200], detail={
            "rows": report.rows, "created": report.created, "updated": report.updated,
            "unchanged": report.unchanged, "skipped": report.skipped})
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    report.written = True
    return report


# --- export -----------------------------------------------------------------

EXPORT_HEADER = [aliases[0] for aliases in COLUMNS.values()]


def _safe(text: str) -> str:
    """Quote CSV text a spreadsheet would run as a formula (see _FORMULA_START);
    text that already starts with a quote gets one more, so import is exact."""
    if (text[:1] in _FORMULA_START and not _HARMLESS.fullmatch(text)) or \
            (text[:1] == "'" and text[1:2] in _FORMULA_START + ("'",)):
        return "'" + text
    return text


def _by_id(rows: list) -> list:
    return sorted(rows, key=lambda r: r.id)


def export_rows(customer: Customer) -> list[list[str]]:
    """The export lines of one customer: one per product, at least one. Only
    the default address is written."""
    default = next((a for a in customer.addresses if a.is_default), None)
    base = {
        "name": customer.name, "phone": "; ".join(p.raw for p in _by_id(customer.phones)), "kind": customer.kind,
        "address": default.text if default else "", "region": customer.region or "",
        "industry": customer.industry or "", "class": customer.value_class or "",
        "vip": "yes" if customer.vip else "no", "tags": ", ".join(customer.tag_names),
        "notes": customer.notes or ""}
    lines = []
    for product in _by_id(customer.products) or [None]:
        values = dict(base)
        if product is not None:
            values.update(product_model=product.model, serial=product.serial or "",
                          purchase_date=product.purchase_date.isoformat() if product.purchase_date else "",
                          warranty_end=product.warranty_end.isoformat() if product.warranty_end else "",
                          install_address=product.install_address or "")
        lines.append([str(values.get(column, "")) for column in EXPORT_HEADER])
    return lines


async def count_exportable(*, db: AsyncSession, include_provisional: bool = False) -> int:
    stmt = select(func.count()).select_from(Customer).where(Customer.merged_into_id.is_(None))
    if not include_provisional:
        stmt = stmt.where(Customer.provisional.is_(False))
    return (await db.execute(stmt)).scalar_one()


async def _customers(db: AsyncSession, include_provisional: bool, batch: int = 500):
    last = 0
    while True:
        stmt = service._by_id_query().where(Customer.id > last, Customer.merged_into_id.is_(None))
        if not include_provisional:
            stmt = stmt.where(Customer.provisional.is_(False))
        page = list((await db.execute(stmt.order_by(Customer.id).limit(batch))).scalars())
        if not page:
            return
        for customer in page:
            yield customer
        last = page[-1].id
        db.expunge_all()  # keep memory flat on big exports


async def export_customers(*, db: AsyncSession, path: str | Path, fmt: str | None = None,
                           include_provisional: bool = False,
                           progress: Callable[[int], None] | None = None) -> int:
    """Write every current (not merged-away) customer; returns the number of
    customers. ``fmt`` is csv or xlsx, by default the file's extension."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
    if fmt not in ("csv", "xlsx"):
        raise ImportFileError(f"unknown export format {fmt!r}: csv or xlsx")
    count = 0
    if fmt == "csv":
        # utf-8-sig: Excel opens a CSV with a BOM as UTF-8, without one as the local code page
        with path.open("w", newline="", encoding="utf-8-sig") as out:
            writer = csv.writer(out)
            writer.writerow(EXPORT_HEADER)
            async for customer in _customers(db, include_provisional):
                writer.writerows([_safe(v) for v in line] for line in export_rows(customer))
                count += 1
                if progress is not None:
                    progress(1)
        return count
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("customers")
    sheet.append(EXPORT_HEADER)
    async for customer in _customers(db, include_provisional):
        for line in export_rows(customer):
            cells = []
            for value in line:
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"  # text, never a formula, whatever it starts with
                cells.append(cell)
            sheet.append(cells)
        count += 1
        if progress is not None:
            progress(1)
    book.save(path)
    return count
