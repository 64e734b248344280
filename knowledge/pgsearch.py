"""Knowledge-base search on PostgreSQL: what FTS5 does on SQLite, with pg_trgm.

Same contract as :func:`knowledge.searchsql.search_sql` (``(sql, params,
mode)``; the caller runs it the same way): every term must be found as a
case-insensitive substring, Chinese included. A term of 3 or more characters
is ``ILIKE '%term%'`` on the title, the body and the products (served by the
``*_trgm`` GIN indexes of migration 0014, so ``mode`` is ``fts``: indexed and
ranked); shorter terms only filter the title and body, and a query with no
such term is the newest-first scan (``like``), as on SQLite. A product filter
is the labels table (a whole model only).

Ranking is the BM25 term-frequency formula SQLite falls back to for frequent
words (:func:`knowledge.searchsql.tf_columns`: title 8x the body, no IDF),
over every match with a product filter and over the newest
:data:`knowledge.searchsql.RANK_WINDOW` matches without one; pg_trgm has no
document frequencies to rank by, and one ranking keeps the cost bounded at
any size.
"""
from __future__ import annotations

from knowledge import searchsql

COLUMNS = "a.id, a.title, a.body, a.state, a.products, a.tags, a.fault_codes, a.updated_at"


def search_sql(terms: list[str], *, product: str | None, limit: int,
               published_only: bool) -> tuple[str, dict, str]:
    params: dict = {"limit": limit}
    where: list[str] = []
    if published_only:
        where.append("a.state = 'published'")
    if product:
        params["product"] = searchsql.normalize_label("product", product)
        where.append("a.id IN (SELECT article_id FROM kb_article_labels "
                     "WHERE kind = 'product' AND value = :product)")
    long_terms = [t for t in terms if len(t) >= searchsql.TRIGRAM]
    for i, term in enumerate(terms):
        params[f"p{i}"] = searchsql.like_pattern(term)
        columns = ("a.title", "a.body", "a.products") if term in long_terms else ("a.title", "a.body")
        where.append("(" + " OR ".join(f"{c} ILIKE :p{i} ESCAPE '\\'" for c in columns) + ")")
    condition = " AND ".join(where)
    if not long_terms:
        return (f"SELECT {COLUMNS}, 0.0 AS score FROM kb_articles a WHERE {condition} "
                "ORDER BY a.id DESC LIMIT :limit"), params, "like"
    matched = f"FROM kb_articles a WHERE {condition}"
    if not product and len(long_terms) == len(terms):
        params["window"] = searchsql.RANK_WINDOW
        matched += (f" AND a.id >= (SELECT coalesce(min(id), 0) FROM (SELECT a.id {matched} "
                    "ORDER BY a.id DESC LIMIT :window) newest)")
    counts, score = searchsql.tf_columns(long_terms, params)
    sql = (f"WITH c AS MATERIALIZED (SELECT a.id AS id, {counts} {matched}), "
           f"r AS (SELECT id, {score} AS score FROM c ORDER BY score LIMIT :limit) "
           f"SELECT {COLUMNS}, r.score AS score FROM r JOIN kb_articles a ON a.id = r.id ORDER BY r.score")
    return sql, params, "fts"
