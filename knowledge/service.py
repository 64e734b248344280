"""Knowledge base rules: articles, versions, publishing, search, suggestions.

Keyword-only functions on an injected session; writers flush but never
commit (the view commits together with its audit row).

Who: :data:`EDITOR_ROLES` (admin, expert) create, edit, publish and see
drafts and version history; everybody else (agents, supervisors) reads
published articles only, and a draft answers them 404 as if it did not exist.

Versions: ``version`` starts at 1 and every save (edit, publish, unpublish)
bumps it, claimed with ``UPDATE ... WHERE id = ? AND version = ?`` (the
optimistic lock: a stale version is :class:`ctidesk.errors.Conflict`, 409).
Each saved version is also written to ``kb_article_versions``, the first
included, so the history holds every version an editor replaced.

Search (:func:`search`): on SQLite, the FTS5 ``trigram`` index ``kb_fts``
ranked by FTS5's bm25 (title 8x, product models 2x the body). A product
filter is the JSON-quoted model as a phrase on the ``products`` column,
intersected inside FTS5. bm25 first counts every article each phrase is in
(its IDF), tens of milliseconds for a word in 40% of 100k articles; so when
a phrase matches more than :data:`RANK_WINDOW` articles (a capped count
says) the same BM25 formula without IDF (term frequency, k1 1.2, b 0.75,
title 8x body) is computed in SQL instead, and without a product filter only
over the :data:`RANK_WINDOW` newest matches (found by rowid, unranked). Snippets are cut in Python for the returned rows only. The user's text is split on
whitespace; every term of 3 or more characters becomes an FTS5 *string*
(``"..."`` with inner quotes doubled), so no input is FTS5 syntax (``AND``,
``NEAR(``, ``*``, ``:``, ``^`` are just text) and all terms must match.
Terms shorter than 3 characters cannot be trigram-matched: they are
``LIKE '%term%'`` filters (``%``/``_``/``\\`` escaped) on the FTS hits, and a
query with no term of 3 characters falls back to a ``LIKE`` scan of title and
body, newest first (``mode: "like"``), which is also what other databases
get (PostgreSQL: :mod:`knowledge.pgsearch`, pg_trgm indexes). Empty, over-long, too many terms or control characters: 422 naming
``query.q``. An FTS error that still got through is a 422, never a 500.
"""
from __future__ import annotations

import json
import re
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ctidesk.db import claim_version, utcnow
from ctidesk.errors import Conflict, Forbidden, Invalid, NotFound
from knowledge import render
from knowledge.models import STATES, KbArticle, KbArticleLabel, KbArticleVersion
from knowledge.searchsql import RANK_WINDOW, TRIGRAM, fts_string, normalize_label, product_phrase, search_sql
from tickets import service as tickets

EDITOR_ROLES = ("admin", "expert")
MAX_QUERY = 200
MAX_TERMS = 12
MAX_LIMIT = 50
SUGGESTIONS_MAX = 5
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LABEL_FIELDS = (("products", "product"), ("fault_codes", "fault"), ("tags", "tag"))


def is_editor(role: str) -> bool:
    return role in EDITOR_ROLES


def _require_editor(role: str) -> None:
    if not is_editor(role):
        raise Forbidden(f"role {role!r} may not edit the knowledge base (admin or expert may)")


# --- labels ------------------------------------------------------------------

def _labels(field: str, kind: str, values) -> list[str]:
    out: list[str] = []
    for i, value in enumerate(values or ()):
        cleaned = normalize_label(kind, value)
        if not cleaned:
            raise Invalid(f"{field}[{i}] is empty", field=f"body.{field}")
        if _CONTROL.search(cleaned):
            raise Invalid(f"{field}[{i}] has control characters", field=f"body.{field}")
        if cleaned not in out:
            out.append(cleaned)
    return out


def _clean_text(field: str, value: str, *, required: bool) -> str:
    value = (value or "").strip() if field == "title" else (value or "")
    if required and not value:
        raise Invalid(f"{field} is required", field=f"body.{field}")
    if _CONTROL.search(value):
        raise Invalid(f"{field} has control characters", field=f"body.{field}")
    return value


# --- reading -----------------------------------------------------------------

def article_dict(a: KbArticle) -> dict:
    return {"id": a.id, "title": a.title, "body": a.body, "body_html": render.to_html(a.body),
            "products": json.loads(a.products), "fault_codes": json.loads(a.fault_codes),
            "tags": json.loads(a.tags), "state": a.state, "version": a.version, "author": a.author,
            "editor": a.editor, "created_at": _iso(a.created_at), "updated_at": _iso(a.updated_at),
            "published_at": _iso(a.published_at)}


def version_dict(v: KbArticleVersion) -> dict:
    return {"version": v.version, "title": v.title, "body": v.body, "products": json.loads(v.products),
            "fault_codes": json.loads(v.fault_codes), "tags": json.loads(v.tags), "state": v.state,
            "editor": v.editor, "saved_at": _iso(v.saved_at)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def get(*, db: AsyncSession, article_id: int, role: str) -> KbArticle:
    """The article as ``role`` may see it: a draft is NotFound to a reader."""
    article = await db.get(KbArticle, article_id, populate_existing=True)
    if article is None or (article.state != "published" and not is_editor(role)):
        raise NotFound(f"article {article_id} not found")
    return article


async def versions(*, db: AsyncSession, article_id: int, role: str) -> list[KbArticleVersion]:
    """Every saved version, newest first (editors only)."""
    _require_editor(role)
    await get(db=db, article_id=article_id, role=role)
    rows = await db.execute(select(KbArticleVersion).where(KbArticleVersion.article_id == article_id)
                            .order_by(KbArticleVersion.version.desc()))
    return list(rows.scalars())


async def list_articles(*, db: AsyncSession, role: str, state: str | None = None, limit: int = 50,
                        offset: int = 0) -> list[KbArticle]:
    """Articles, last edited first (the editor's list); readers get published ones only."""
    if state is not None and state not in STATES:
        raise Invalid(f"state must be one of: {', '.join(STATES)}", field="query.state")
    if not 1 <= limit <= 200:
        raise Invalid("limit must be 1..200", field="query.limit")
    if offset < 0:
        raise Invalid("offset must not be negative", field="query.offset")
    stmt = select(KbArticle).order_by(KbArticle.updated_at.desc(), KbArticle.id.desc()).limit(limit).offset(offset)
    if not is_editor(role):
        if state == "draft":
            return []
        state = "published"
    if state is not None:
        stmt = stmt.where(KbArticle.state == state)
    return list((await db.execute(stmt)).scalars())


def preview(*, role: str, body: str) -> str:
    """The HTML the server would render for ``body`` (the editor's preview)."""
    _require_editor(role)
    return render.to_html(_clean_text("body", body, required=False))


# --- writing -----------------------------------------------------------------

def _apply(article: KbArticle, *, title: str, body: str, products, fault_codes, tags) -> dict:
    """Set the content; the labels as cleaned lists by field."""
    cleaned = {"products": _labels("products", "product", products),
               "fault_codes": _labels("fault_codes", "fault", fault_codes),
               "tags": _labels("tags", "tag", tags)}
    article.title = _clean_text("title", title, required=True)
    article.body = _clean_text("body", body, required=False)
    for name, values in cleaned.items():
        setattr(article, name, json.dumps(values, ensure_ascii=False))
    return cleaned


async def _relabel(db: AsyncSession, article_id: int, cleaned: dict) -> None:
    await db.execute(delete(KbArticleLabel).where(KbArticleLabel.article_id == article_id))
    for field, kind in _LABEL_FIELDS:
        for value in cleaned[field]:
            db.add(KbArticleLabel(article_id=article_id, kind=kind, value=value[:80]))


def _snapshot(db: AsyncSession, a: KbArticle) -> None:
    db.add(KbArticleVersion(article_id=a.id, version=a.version, title=a.title, body=a.body,
                            products=a.products, fault_codes=a.fault_codes, tags=a.tags, state=a.state,
                            editor=a.editor, saved_at=a.updated_at))


async def create(*, db: AsyncSession, actor: str, role: str, title: str, body: str = "",
                 products=(), fault_codes=(), tags=()) -> KbArticle:
    """A new draft, version 1 (flushed, not committed)."""
    _require_editor(role)
    now = utcnow()
    article = KbArticle(state="draft", version=1, author=actor[:64], editor=actor[:64],
                        created_at=now, updated_at=now)
    cleaned = _apply(article, title=title, body=body, products=products, fault_codes=fault_codes, tags=tags)
    db.add(article)
    await db.flush()
    await _relabel(db, article.id, cleaned)
    _snapshot(db, article)
    await db.flush()
    return article


async def _claim(db: AsyncSession, article: KbArticle, version: int | None) -> None:
    """Bump the version if it is still ``version`` (the one the editor saw), else 409."""
    expected = article.version if version is None else version
    if not await claim_version(db, KbArticle, article.id, expected):
        await db.refresh(article)
        raise Conflict(f"article {article.id} was changed by {article.editor}: it is at version "
                       f"{article.version}, not {expected}; reload it and edit again")
    await db.refresh(article)


async def update(*, db: AsyncSession, actor: str, role: str, article_id: int, version: int, title: str,
                 body: str = "", products=(), fault_codes=(), tags=()) -> tuple[KbArticle, list[str]]:
    """Save a new version of the content; returns the article and the fields that changed."""
    _require_editor(role)
    article = await get(db=db, article_id=article_id, role=role)
    before = {f: getattr(article, f) for f in ("title", "body", "products", "fault_codes", "tags")}
    probe = KbArticle()
    cleaned = _apply(probe, title=title, body=body, products=products, fault_codes=fault_codes, tags=tags)
    await _claim(db, article, version)
    changed = [f for f in before if getattr(probe, f) != before[f]]
    for f in before:
        setattr(article, f, getattr(probe, f))
    article.editor = actor[:64]
    article.updated_at = utcnow()
    await _relabel(db, article.id, cleaned)
    await db.flush()
    _snapshot(db, article)
    await db.flush()
    return article, changed


async def set_state(*, db: AsyncSession, actor: str, role: str, article_id: int, state: str,
                    version: int | None = None) -> tuple[KbArticle, bool]:
    """Publish or unpublish; ``(article, changed)`` (already in that state: unchanged, no new version)."""
    _require_editor(role)
    article = await get(db=db, article_id=article_id, role=role)
    if version is not None and version != article.version:
        raise Conflict(f"article {article.id} is at version {article.version}, not {version}; "
                       "reload it and try again")
    if article.state == state:
        return article, False
    await _claim(db, article, version)
    article.state = state
    article.editor = actor[:64]
    article.updated_at = utcnow()
    if state == "published":
        article.published_at = article.updated_at
    await db.flush()
    _snapshot(db, article)
    await db.flush()
    return article, True


# --- search ------------------------------------------------------------------

def parse_query(q: str | None) -> list[str]:
    """The search terms, or Invalid naming ``query.q``."""
    if q is None or not q.strip():
        raise Invalid("type something to search for", field="query.q")
    if len(q) > MAX_QUERY:
        raise Invalid(f"the search text is longer than {MAX_QUERY} characters", field="query.q")
    if _CONTROL.search(q):
        raise Invalid("the search text has control characters", field="query.q")
    terms: list[str] = []
    for term in q.split():
        if term.lower() not in (t.lower() for t in terms):
            terms.append(term)
    if len(terms) > MAX_TERMS:
        raise Invalid(f"more than {MAX_TERMS} words to search for", field="query.q")
    return terms


async def _frequent(db: AsyncSession, terms: list[str], product: str | None) -> bool:
    """Does any phrase of the query match more than RANK_WINDOW articles? (Each count
    stops at RANK_WINDOW + 1 rows: well under a millisecond.)"""
    phrases = [fts_string(t) for t in terms if len(t) >= TRIGRAM]
    if phrases and product:
        phrases.append(product_phrase(product))
    for phrase in phrases:
        found = await db.execute(text("SELECT count(*) FROM (SELECT 1 FROM kb_fts WHERE kb_fts MATCH :m "
                                      "LIMIT :cap)"), {"m": phrase, "cap": RANK_WINDOW + 1})
        if found.scalar_one() > RANK_WINDOW:
            return True
    return False


def snippet(body: str, terms: list[str], width: int = 120) -> str:
    """About ``width`` characters of ``body`` around the first term found (plain text)."""
    flat = " ".join((body or "").split())
    low = flat.lower()
    at = min((i for i in (low.find(t.lower()) for t in terms) if i >= 0), default=0)
    start = max(0, at - width // 3)
    piece = flat[start:start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")


async def search(*, db: AsyncSession, q: str | None, role: str, product: str | None = None,
                 limit: int = 20) -> dict:
    """Ranked hits: ``{"mode", "items": [{id, title, snippet, state, products, tags, fault_codes,
    score, updated_at}]}``; readers get published articles only."""
    terms = parse_query(q)
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be 1..{MAX_LIMIT}", field="query.limit")
    if product is not None and (not product.strip() or len(product) > 80 or _CONTROL.search(product)):
        raise Invalid("product must be a model name of 1..80 characters", field="query.product")
    dialect = db.get_bind().dialect.name
    fts = dialect == "sqlite"
    try:
        frequent = fts and await _frequent(db, terms, product)
        if dialect == "postgresql":  # pg_trgm indexes instead of FTS5
            from knowledge import pgsearch

            sql, params, mode = pgsearch.search_sql(terms, product=product, limit=limit,
                                                    published_only=not is_editor(role))
        else:
            sql, params, mode = search_sql(terms, product=product, limit=limit,
                                           published_only=not is_editor(role), fts=fts, frequent=frequent)
        rows = (await db.execute(text(sql), params)).mappings().all()
    except OperationalError as exc:  # quoting makes this unreachable; never a 500 if it is not
        raise Invalid(f"the search text cannot be searched for: {exc.orig}", field="query.q") from None
    return {"mode": mode, "items": [{
        "id": r["id"], "title": r["title"], "snippet": snippet(r["body"], terms), "state": r["state"],
        "products": json.loads(r["products"]), "tags": json.loads(r["tags"]),
        "fault_codes": json.loads(r["fault_codes"]), "score": -float(r["score"] or 0.0),
        "updated_at": _updated(r["updated_at"])} for r in rows]}


def _updated(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


# --- the screen pop ----------------------------------------------------------

def pop_tags(ivr_path, queue: str | None) -> list[str]:
    """Tags the caller's IVR choices stand for: the nodes they went through, the
    intent they chose, the queue (``to_support`` also reads as ``support``)."""
    tags: list[str] = []

    def add(value) -> None:
        if value:
            tag = normalize_label("tag", value)
            if tag and tag not in tags:
                tags.append(tag)

    for step in ivr_path or ():
        step = step if isinstance(step, dict) else getattr(step, "__dict__", {})
        node = step.get("node")
        add(node)
        if node and node.startswith("to_"):
            add(node[3:])
        add(step.get("intent"))
        add(step.get("queue"))
        add(step.get("lookup"))
    add(queue)
    return tags[:20]


SUGGEST_SQL = (
    "SELECT a.id, a.title FROM ("
    "SELECT article_id FROM kb_article_labels WHERE kind = 'tag' AND value IN ({tags}) UNION ALL "
    "SELECT article_id FROM kb_article_labels WHERE kind = 'product' AND value IN "
    "(SELECT upper(model) FROM customer_products WHERE customer_id = ? AND model != '')"
    ") m CROSS JOIN kb_articles a WHERE a.id = m.article_id AND a.state = 'published' "
    "GROUP BY a.id, a.title, a.updated_at ORDER BY count(*) DESC, a.updated_at DESC LIMIT {limit}")


def suggest_sql(tags: list[str], customer_id: int | None, limit: int = SUGGESTIONS_MAX) -> tuple[str, list]:
    """One query over ``ix_kb_article_labels_kind_value`` (and customer_products by
    customer): published articles tagged with the caller's IVR choices or made for
    a product the customer owns, those sharing the most labels first. ``?``
    placeholders (sqlite3's and the ORM's text() through :func:`suggestions`)."""
    tags = tags or [""]
    sql = SUGGEST_SQL.format(tags=",".join("?" * len(tags)), limit=max(1, min(limit, SUGGESTIONS_MAX)))
    return sql, [*tags, customer_id if customer_id is not None else -1]


async def attach_to_ticket(*, db: AsyncSession, actor: str, role: str, ticket_id: int, article_id: int):
    """Record ``article_id`` in the ticket's history (``kind = "article"``); 409 if it is there already."""
    article = await get(db=db, article_id=article_id, role=role)
    try:
        row = await tickets.attach_article(db=db, actor=actor, ticket_id=ticket_id, article_id=article.id,
                                           title=article.title)
    except tickets.TicketNotFound:
        raise NotFound(f"ticket {ticket_id} not found") from None
    if row is None:
        raise Conflict(f"article {article.id} is already attached to ticket {ticket_id}")
    return row, article
