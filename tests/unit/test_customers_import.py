"""Customer import and export: CSV and .xlsx, English and Chinese headers,
all-or-nothing writes, per-row error reports, re-import updates, round trips."""
import asyncio
import csv
from datetime import date, datetime

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from accounts.models import AuditLog
from customers import importer, service
from customers.cli import export_group, import_group
from customers.models import Customer, CustomerProduct
from ctidesk.db import make_engine, make_sessionmaker
from tests.factories import cli_environment, make_app


def write_csv(path, rows, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as f:
        csv.writer(f).writerows(rows)
    return path


def write_xlsx(path, rows):
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


HEADER = ["name", "phone", "kind", "address", "region", "industry", "class", "VIP", "tags", "notes",
          "product_model", "serial", "purchase_date", "warranty_end"]


async def run_import(db, path, **kwargs):
    return await importer.import_customers(db=db, parsed=importer.parse_file(path), source=str(path), **kwargs)


async def customers_by_name(app):
    async with app.state.container.sessionmaker() as s:
        rows = (await s.execute(service._by_id_query().order_by(Customer.id))).scalars()
        return {c.name: c for c in rows}


async def total(app, model=Customer):
    async with app.state.container.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_csv_import_creates_customers(app, db, tmp_path):
    path = write_csv(tmp_path / "c.csv", [
        HEADER,
        ["Zhang San", "138-0013-8000; 010 5555 1234 / 13900001111", "person", "北京市朝阳区 1 号", "北京",
         "retail", "b", "yes", "key account, 华北", "likes mornings", "AC-200", "sn-1", "2025/1/10",
         "2027-01-10"],
        ["", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # blank line: ignored
        ["Acme Ltd", "021-6666-7777", "公司", "", "上海", "", "", "否", "", "", "", "", "", ""],
    ])
    report = await run_import(db, path)
    assert report.errors == [] and report.written
    assert (report.rows, report.created, report.updated) == (2, 2, 0)
    by_name = await customers_by_name(app)
    z = by_name["Zhang San"]
    assert [p.normalized for p in z.phones] == ["+8613800138000", "+861055551234", "+8613900001111"]
    assert (z.kind, z.region, z.industry, z.value_class, z.vip) == ("person", "北京", "retail", "B", True)
    assert sorted(z.tag_names) == ["key account", "华北"] and z.notes == "likes mornings"
    assert [(a.text, a.is_default) for a in z.addresses] == [("北京市朝阳区 1 号", True)]
    [p] = z.products
    assert (p.model, p.serial, p.purchase_date, p.warranty_end, p.install_address) == (
        "AC-200", "SN-1", date(2025, 1, 10), date(2027, 1, 10), "北京市朝阳区 1 号")
    acme = by_name["Acme Ltd"]
    assert acme.kind == "company" and acme.vip is False and not acme.provisional
    async with app.state.container.sessionmaker() as s:
        [row] = (await s.execute(select(AuditLog).where(AuditLog.action == "customer.import"))).scalars()
    assert row.actor == "cli" and '"created": 2' in row.detail


async def test_xlsx_with_chinese_headers(app, db, tmp_path):
    path = write_xlsx(tmp_path / "c.xlsx", [
        ["姓名", "电话", "类型", "地址", "区域", "行业", "等级", "VIP", "标签", "备注", "产品型号", "序列号",
         "购买日期", "保修截止", "无关列"],
        ["李雷", 13800138000, "个人", "广州市天河区", "广东", "教育", "A", "是", "老客户；转介绍", None,
         "空调 KFR-35", "KX-9", datetime(2024, 5, 1), "2026年5月1日", "ignored"],
        ["韩梅梅", "0755-8888-9999/13700000000", None, None, None, None, None, None, None, "备注",
         None, None, None, None, None],
    ])
    parsed = importer.parse_file(path)
    assert parsed.errors == [] and parsed.warnings == ["line 1: column '无关列' is not known and was ignored"]
    report = await importer.import_customers(db=db, parsed=parsed)
    assert (report.created, report.updated) == (2, 0)
    by_name = await customers_by_name(app)
    li = by_name["李雷"]
    assert [p.normalized for p in li.phones] == ["+8613800138000"]  # a number cell
    assert (li.value_class, li.vip, li.region, li.industry) == ("A", True, "广东", "教育")
    assert sorted(li.tag_names) == ["老客户", "转介绍"]
    [p] = li.products
    assert (p.model, p.serial, p.purchase_date, p.warranty_end) == ("空调 KFR-35", "KX-9", date(2024, 5, 1),
                                                                   date(2026, 5, 1))
    han = by_name["韩梅梅"]
    assert [p.normalized for p in han.phones] == ["+867558888999" + "9", "+8613700000000"]
    assert han.notes == "备注" and han.kind == "person"


async def test_dry_run_writes_nothing_but_counts_exactly(app, db, tmp_path):
    await service.create(db=db, name="Old", phones=["13800138000"])
    await db.commit()
    path = write_csv(tmp_path / "c.csv", [["name", "phone"], ["Old Renamed", "13800138000"],
                                          ["New", "13900000000"], ["New again", "13900000000"]])
    report = await run_import(db, path, dry_run=True)
    assert (report.created, report.updated, report.written) == (1, 2, False)
    assert "would create 1, would update 2" in report.summary()
    assert set(await customers_by_name(app)) == {"Old"}
    assert await total(app, AuditLog) == 0


async def test_bad_rows_write_nothing_and_every_error_is_reported(app, db, tmp_path):
    path = write_csv(tmp_path / "c.csv", [
        ["姓名", "电话", "等级", "VIP", "购买日期", "保修截止", "serial", "类型"],
        ["Good", "13800138000", "A", "", "", "", "", ""],
        ["Bad phone", "138-0013-800x; 12ab", "E", "maybe", "2024-02-30", "", "", "alien"],
        ["", "", "", "", "", "", "", ""],
        ["", "", "B", "", "", "", "", ""],  # not blank (a class) but no name and no phone
        ["Dates", "13900000000", "", "", "2025-03-01", "2025-02-01", "S1", ""],
        ["Too long", "13700000000", "", "", "", "", "x" * 81, ""],
    ])
    report = await run_import(db, path)
    assert not report.written and (report.created, report.updated) == (0, 0)
    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (3, "电话", "bad phone '138-0013-800x' (invalid)"),
        (3, "电话", "bad phone '12ab' (invalid)"),
        (3, "类型", "unknown kind 'alien': person or company (个人/公司)"),
        (3, "等级", "value class 'E' is not one of A, B, C, D"),
        (3, "VIP", "'maybe' is not yes or no (是/否)"),
        (3, "购买日期", "'2024-02-30' is not a real date"),
        (5, "姓名", "missing name and phone: a customer needs at least one"),
        (6, "保修截止", "warranty ends (2025-02-01) before the purchase (2025-03-01)"),
        (7, "serial", "too long: 81 characters, at most 80"),
    ]
    assert str(report.errors[0]) == "line 3, column 电话: bad phone '138-0013-800x' (invalid)"
    assert await total(app) == 0 and await total(app, AuditLog) == 0

    report = await run_import(db, path, skip_invalid=True)
    assert report.written and (report.created, report.skipped) == (1, 4)
    assert set(await customers_by_name(app)) == {"Good"}


async def test_failure_half_way_rolls_everything_back(app, db, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "c.csv", [["name", "phone"], ["A", "13800138000"], ["B", "13900000000"]])
    real, seen = importer._create, []

    async def failing(db, row):
        seen.append(row.line)
        if len(seen) == 2:
            raise RuntimeError("disk full")
        await real(db, row)

    monkeypatch.setattr(importer, "_create", failing)
    with pytest.raises(RuntimeError):
        await run_import(db, path)
    assert seen == [2, 3] and await total(app) == 0


async def test_reimport_updates_instead_of_duplicating(app, db, tmp_path):
    prov = await service.get_or_create_provisional(db=db, number_raw="13700000000", caller_name="",
                                                   call_id="c1")
    await db.commit()
    rows = [HEADER,
            ["Zhang San", "13800138000", "", "", "", "", "C", "", "a", "", "AC", "S-1", "2025-01-01", ""],
            ["Walk-in", "137 0000 0000", "", "", "", "", "", "", "", "", "", "", "", ""]]
    path = write_csv(tmp_path / "c.csv", rows)
    first = await run_import(db, path)
    assert (first.created, first.updated) == (1, 1)  # the provisional caller is completed, not duplicated
    again = await run_import(db, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)

    rows[1] = ["Zhang San", "13800138000; 010-5555-1234", "", "new address", "", "", "A", "yes", "b", "",
               "AC", "s-1", "2025-01-01", "2028-01-01"]
    rows.append(["Zhang San", "", "", "", "", "", "", "", "", "", "TV", "S-1", "", ""])  # no phone: by serial
    changed = await run_import(db, write_csv(tmp_path / "c2.csv", rows))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 2, 1)
    assert await total(app) == 2 and await total(app, CustomerProduct) == 1
    by_name = await customers_by_name(app)
    z = by_name["Zhang San"]
    assert (z.value_class, z.vip, sorted(z.tag_names)) == ("A", True, ["a", "b"])
    assert [p.normalized for p in z.phones] == ["+8613800138000", "+861055551234"]
    assert [(p.serial, p.model, p.warranty_end) for p in z.products] == [("S-1", "TV", date(2028, 1, 1))]
    walk_in = by_name["Walk-in"]
    assert walk_in.id == prov.id and walk_in.provisional is False


async def test_header_problems_are_fatal(app, db, tmp_path):
    path = write_csv(tmp_path / "c.csv", [["foo", "bar"], ["x", "y"]])
    report = await run_import(db, path, skip_invalid=True)
    assert not report.written and report.errors[0].line == 1 and "no name or phone column" in report.errors[0].reason
    with pytest.raises(importer.ImportFileError, match="unsupported"):
        importer.parse_file(write_csv(tmp_path / "c.txt", [["name"]]))
    with pytest.raises(importer.ImportFileError, match="xlsx"):
        importer.parse_file(write_csv(tmp_path / "fake.xlsx", [["name"]]))
    with pytest.raises(importer.ImportFileError, match="empty"):
        importer.parse_file(write_csv(tmp_path / "empty.csv", []))


def test_gb18030_csv_from_chinese_excel(tmp_path):
    path = write_csv(tmp_path / "c.csv", [["姓名", "电话"], ["张三", "13800138000"]], encoding="gb18030")
    [row] = importer.parse_file(path).rows
    assert row.name == "张三"


@pytest.mark.parametrize("text,expected", [
    ("2025-01-02", date(2025, 1, 2)), ("2025/1/2", date(2025, 1, 2)), ("2025.01.02", date(2025, 1, 2)),
    ("20250102", date(2025, 1, 2)), ("2025年1月2日", date(2025, 1, 2)), ("2025-01-02 00:00:00", date(2025, 1, 2)),
    (datetime(2025, 1, 2, 10), date(2025, 1, 2)),
])
def test_parse_date(text, expected):
    assert importer.parse_date(text) == expected


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_export_round_trips(app, db, tmp_path, fmt):
    await service.create(db=db, name="=HYPERLINK(\"http://x\")", phones=["13800138000", "010-5555-1234"],
                         kind="company", region="北京", industry="IT", value_class="A", vip=True,
                         tags=["华北", "key"], notes="line 1\nline 2, with comma",
                         addresses=[{"text": "home", "is_default": True}],
                         products=[{"model": "AC", "serial": "S-1", "purchase_date": date(2025, 1, 1),
                                    "warranty_end": date(2027, 1, 1), "install_address": "plant"},
                                   {"model": "TV", "serial": None}])
    await service.create(db=db, name="-1+1 person", phones=["+86 139 0000 0000"])
    await service.get_or_create_provisional(db=db, number_raw="13700000000", caller_name="", call_id="p")
    merged = await service.create(db=db, name="Gone", phones=["13600000000"])
    keeper = await service.create(db=db, name="Keeper", phones=["13500000000"])
    await service.merge(db=db, into_id=keeper.id, from_id=merged.id)
    await db.commit()
    out = tmp_path / f"out.{fmt}"
    assert await importer.export_customers(db=db, path=out) == 3  # no provisional, no husk
    if fmt == "csv":
        lines = list(csv.reader(out.open(encoding="utf-8-sig")))
        assert lines[0] == importer.EXPORT_HEADER and len(lines) == 5  # one line per product
        assert lines[1][0] == "'=HYPERLINK(\"http://x\")"  # a formula is quoted for spreadsheets
    else:
        sheet = openpyxl.load_workbook(out).worksheets[0]
        assert sheet["A2"].value == "=HYPERLINK(\"http://x\")" and sheet["A2"].data_type == "s"

    (tmp_path / "fresh").mkdir()
    fresh = await make_app(tmp_path / "fresh")
    try:
        async with fresh.state.container.sessionmaker() as db2:
            report = await run_import(db2, out)
        assert report.errors == [] and (report.created, report.updated) == (3, 1)  # 2nd product line
        before, after = await customers_by_name(app), await customers_by_name(fresh)
        assert set(after) == {"=HYPERLINK(\"http://x\")", "-1+1 person", "Keeper"}
        for name in after:
            b, a = before[name], after[name]
            fields = ("kind", "region", "industry", "value_class", "vip", "notes", "tag_names")
            assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
            assert [(p.raw, p.normalized) for p in a.phones] == [(p.raw, p.normalized) for p in b.phones]
            assert [(p.model, p.serial, p.purchase_date, p.warranty_end, p.install_address) for p in a.products] \
                == [(p.model, p.serial, p.purchase_date, p.warranty_end, p.install_address) for p in b.products]
            assert [x.text for x in a.addresses] == [x.text for x in b.addresses]
    finally:
        await fresh.state.container.engine.dispose()


# --- cli ---------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path):
    return cli_environment(tmp_path)


def names_in(env):
    async def fetch():
        engine = make_engine(env["CTIDESK_DATABASE_URL"])
        async with make_sessionmaker(engine)() as s:
            names = sorted((await s.execute(select(Customer.name))).scalars())
        await engine.dispose()
        return names

    return asyncio.run(fetch())


def test_cli_import_dry_run_errors_and_export(tmp_path, cli_env):
    runner = CliRunner()
    good = write_csv(tmp_path / "good.csv", [["姓名", "电话"], ["张三", "13800138000"], ["李四", "13900000000"]])
    r = runner.invoke(import_group, ["customers", str(good), "--dry-run"], env=cli_env)
    assert r.exit_code == 0, r.output
    assert "dry run, nothing written: 2 rows: would create 2" in r.stderr and r.stdout == ""
    assert names_in(cli_env) == []

    bad = write_csv(tmp_path / "bad.csv", [["姓名", "电话"], ["张三", "13800138000"], ["王五", "phone?"]])
    report = tmp_path / "errors.csv"
    r = runner.invoke(import_group, ["customers", str(bad), "--report", str(report)], env=cli_env)
    assert r.exit_code == 1
    assert "line 3, column 电话: bad phone 'phone?' (invalid)" in r.stderr
    assert "nothing was written" in r.stderr
    assert list(csv.reader(report.open(encoding="utf-8-sig"))) == [
        ["line", "column", "reason"], ["3", "电话", "bad phone 'phone?' (invalid)"]]
    assert names_in(cli_env) == []

    r = runner.invoke(import_group, ["customers", str(good)], env=cli_env)
    assert r.exit_code == 0 and "created 2" in r.stderr and "importing customers" in r.stderr
    assert names_in(cli_env) == ["张三", "李四"]

    out = tmp_path / "out.xlsx"
    r = runner.invoke(export_group, ["customers", "--out", str(out)], env=cli_env)
    assert r.exit_code == 0 and f"exported 2 customers to {out}" in r.stderr
    rows = list(openpyxl.load_workbook(out).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:2] == ("name", "phone") and sorted(r[0] for r in rows[1:]) == ["张三", "李四"]
    r = runner.invoke(export_group, ["customers", "--out", str(tmp_path / "o.txt"), "--format", "csv"],
                      env=cli_env)
    assert r.exit_code == 0 and (tmp_path / "o.txt").read_text(encoding="utf-8-sig").startswith("name,phone,")

    r = runner.invoke(import_group, ["customers", str(tmp_path / "nope.csv")], env=cli_env)
    assert r.exit_code == 2  # click: no such file
    r = runner.invoke(import_group, ["customers", str(write_csv(tmp_path / "x.txt", [["a"]]))], env=cli_env)
    assert r.exit_code == 1 and "unsupported file type" in r.stderr
    assert import_group.name == "import" and export_group.name == "export"
