"""Knowledge base tables.

``kb_articles`` holds the current text of each article; ``kb_article_versions``
one row per saved version (the first save included), so every edit keeps what
it replaced. ``kb_article_labels`` lists an article's product models, fault
codes and tags as rows (``kind`` product | fault | tag), indexed by
``(kind, value)``: the product filter and the screen pop's suggestions are
index lookups, not scans of JSON.

Full-text search (SQLite only): ``kb_fts`` is an FTS5 table over
``title, body, products`` (the JSON list: a product filter is the phrase
``"XQG100"`` with its JSON quotes, intersected inside FTS5) with the ``trigram`` tokenizer (SQLite >= 3.34), an
*external content* index of ``kb_articles`` (the text is stored once) kept in
sync by the triggers below. Trigrams find any substring of three or more
characters, so Chinese (no spaces) "滚筒不转" is found inside
"洗衣机滚筒不转怎么办". The table and triggers are created with the table
(``create_all``, tests) and by migration 0010; on other databases they are
absent and search falls back to ``LIKE`` (``knowledge.service.search``).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from ctidesk.db import Base, UTCDateTime, utcnow

STATES = ("draft", "published")
LABEL_KINDS = ("product", "fault", "tag")


class KbArticle(Base):
    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    products: Mapped[str] = mapped_column(Text, default="[]")     # JSON list, as labels
    fault_codes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list, as labels
    tags: Mapped[str] = mapped_column(Text, default="[]")         # JSON list, as labels
    state: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    author: Mapped[str] = mapped_column(String(64))
    editor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class KbArticleVersion(Base):
    """One saved version of an article: what it said, who saved it, when."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    products: Mapped[str] = mapped_column(Text, default="[]")
    fault_codes: Mapped[str] = mapped_column(Text, default="[]")
    tags: Mapped[str] = mapped_column(Text, default="[]")
    state: Mapped[str] = mapped_column(String(16))
    editor: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KbArticleLabel(Base):
    __tablename__ = "kb_article_labels"
    __table_args__ = (Index("ix_kb_article_labels_kind_value", "kind", "value", "article_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(80))


# The FTS5 index and its triggers (SQLite). Migration 0010 runs the same text.
FTS_DDL = (
    "CREATE VIRTUAL TABLE kb_fts USING fts5(title, body, products, content='kb_articles', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER kb_articles_fts_ai AFTER INSERT ON kb_articles BEGIN "
    "INSERT INTO kb_fts(rowid, title, body, products) VALUES (new.id, new.title, new.body, new.products); END",
    "CREATE TRIGGER kb_articles_fts_ad AFTER DELETE ON kb_articles BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, title, body, products) "
    "VALUES ('delete', old.id, old.title, old.body, old.products); END",
    "CREATE TRIGGER kb_articles_fts_au AFTER UPDATE OF title, body, products ON kb_articles BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, title, body, products) "
    "VALUES ('delete', old.id, old.title, old.body, old.products); "
    "INSERT INTO kb_fts(rowid, title, body, products) VALUES (new.id, new.title, new.body, new.products); END",
)
FTS_DROP = (
    "DROP TRIGGER IF EXISTS kb_articles_fts_au",
    "DROP TRIGGER IF EXISTS kb_articles_fts_ad",
    "DROP TRIGGER IF EXISTS kb_articles_fts_ai",
    "DROP TABLE IF EXISTS kb_fts",
)

for _statement in FTS_DDL:
    event.listen(KbArticle.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in FTS_DROP:
    event.listen(KbArticle.__table__, "before_drop", DDL(_statement).execute_if(dialect="sqlite"))


class AnswerScript(Base):
    """An answer script (话术) for one ticket type in one language: an opening, the
    questions to ask, a closing.

    Its own table rather than a KB article of kind ``script``: a script is
    exactly one per (ticket type, language), has three parts the desk shows in
    fixed places of the ticket form, and is neither searched nor suggested;
    as an article it would need its Markdown split back into parts and a
    uniqueness rule no other article has. Saves are audited with the text
    they replaced (``kb.script.save``), and ``version`` is the optimistic lock.
    """

    __tablename__ = "kb_scripts"
    __table_args__ = (UniqueConstraint("ticket_type", "lang"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_type: Mapped[str] = mapped_column(String(20))
    lang: Mapped[str] = mapped_column(String(8))
    opening: Mapped[str] = mapped_column(Text, default="")
    questions: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of questions, in order
    closing: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    editor: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
