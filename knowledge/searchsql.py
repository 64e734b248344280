"""The SQL of a knowledge-base search, shared by both databases' builders.

SQLite's FTS5 query (:func:`search_sql`) and PostgreSQL's pg_trgm query
(:mod:`knowledge.pgsearch`) rank with the same term-frequency formula
(:func:`tf_columns`) and quote terms the same way. Pure functions of the
terms, no session: :mod:`knowledge.service` runs them, so neither builder
imports the service (which picks one by dialect).
"""
from __future__ import annotations

import json

TRIGRAM = 3
RANK_WINDOW = 300  # a phrase in more articles is ranked without IDF, over the newest 300 matches


def normalize_label(kind: str, value: str) -> str:
    """Product models and fault codes upper-case, tags lower-case; inner spaces collapsed."""
    value = " ".join(str(value).split())
    return value.lower() if kind == "tag" else value.upper()


def fts_string(term: str) -> str:
    """``term`` as an FTS5 string: quoted, inner quotes doubled (never syntax)."""
    return '"' + term.replace('"', '""') + '"'


def like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def product_phrase(product: str) -> str:
    """The products column holds the JSON list: the model *with* its JSON quotes is a
    phrase only a whole label matches (intersected inside FTS5)."""
    return "{products}: " + fts_string(json.dumps(normalize_label("product", product), ensure_ascii=False))


def tf_columns(long_terms: list[str], params: dict) -> tuple[str, str]:
    """BM25's term-frequency part (k1 1.2, b 0.75; title 8x the body), without IDF:
    ``(columns, score)``: the per-row term counts and lengths (each computed once,
    in a materialized step), and the score over them."""
    columns = ["length(a.title) AS lt", "length(a.body) AS lb"]
    parts = []
    for i, term in enumerate(long_terms):
        params[f"t{i}"], params[f"n{i}"] = term.lower(), len(term)
        for col, short, weight, avg in (("a.title", "t", 8.0, 40.0), ("a.body", "b", 1.0, 600.0)):
            folded = f"lower({col})" if term.isascii() else col  # lower() folds ASCII only anyway
            columns.append(f"(length({col}) - length(replace({folded}, :t{i}, ''))) / :n{i} AS {short}{i}")
            parts.append(f"{weight} * {short}{i} * 2.2 / ({short}{i} + 1.2 * (0.25 + 0.75 * l{short} / {avg}))")
    return ", ".join(columns), "-(" + " + ".join(parts) + ")"


def search_sql(terms: list[str], *, product: str | None, limit: int, published_only: bool,
               fts: bool = True, frequent: bool = False) -> tuple[str, dict, str]:
    """``(sql, params, mode)`` of a search (module doc); ``mode`` is ``fts`` or ``like``.
    ``frequent``: some word matches more than :data:`RANK_WINDOW` articles (see :func:`search`)."""
    long_terms = [t for t in terms if len(t) >= TRIGRAM] if fts else []
    short_terms = [t for t in terms if t not in long_terms]
    params: dict = {"limit": limit}
    where: list[str] = []
    if published_only:
        where.append("a.state = 'published'")
    if product and not long_terms:
        params["product"] = normalize_label("product", product)
        where.append("a.id IN (SELECT article_id FROM kb_article_labels "
                     "WHERE kind = 'product' AND value = :product)")
    for i, term in enumerate(short_terms):
        params[f"s{i}"] = like_pattern(term)
        where.append(f"(a.title LIKE :s{i} ESCAPE '\\' OR a.body LIKE :s{i} ESCAPE '\\')")
    columns = "a.id, a.title, a.body, a.state, a.products, a.tags, a.fault_codes, a.updated_at"
    if long_terms:
        params["match"] = " ".join(fts_string(t) for t in long_terms)
        if product:
            params["match"] += " AND " + product_phrase(product)
        matched = ("FROM kb_fts f JOIN kb_articles a ON a.id = f.rowid WHERE kb_fts MATCH :match"
                   + "".join(f" AND {w}" for w in where))
        if frequent:
            counts, score = tf_columns(long_terms, params)
            if not product and not short_terms:
                params["window"] = RANK_WINDOW
                matched += (" AND f.rowid >= (SELECT coalesce(min(rowid), 0) FROM (SELECT rowid FROM kb_fts "
                            "WHERE kb_fts MATCH :match ORDER BY rowid DESC LIMIT :window))")
            sql = (f"WITH c AS MATERIALIZED (SELECT f.rowid AS id, {counts} {matched}), "
                   f"r AS (SELECT id, {score} AS score FROM c ORDER BY score LIMIT :limit) "
                   f"SELECT {columns}, r.score AS score FROM r JOIN kb_articles a ON a.id = r.id ORDER BY r.score")
            return sql, params, "fts"
        ranked = f"SELECT f.rowid AS id, bm25(kb_fts, 8.0, 1.0, 2.0) AS score {matched} ORDER BY score LIMIT :limit"
        sql = (f"SELECT {columns}, r.score AS score FROM ({ranked}) r JOIN kb_articles a ON a.id = r.id "
               "ORDER BY r.score")
        return sql, params, "fts"
    sql = (f"SELECT {columns}, 0.0 AS score FROM kb_articles a"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY a.id DESC LIMIT :limit")
    return sql, params, "like"
