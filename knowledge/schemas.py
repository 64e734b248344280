"""Request and response bodies of the knowledge-base API."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: str = Field("", max_length=100_000, description="Markdown; raw HTML is shown as text")
    products: list[Label] = Field(default_factory=list, max_length=50, description="product models")
    fault_codes: list[Label] = Field(default_factory=list, max_length=50)
    tags: list[Label] = Field(default_factory=list, max_length=50)


class ArticleUpdate(ArticleIn):
    version: int = Field(..., ge=1, description="the version the editor read: a stale one is 409")


class StateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1, description="if given, must be the current version (else 409)")


class ArticleOut(BaseModel):
    id: int
    title: str
    body: str
    body_html: str
    products: list[str]
    fault_codes: list[str]
    tags: list[str]
    state: str
    version: int
    author: str
    editor: str
    created_at: str | None
    updated_at: str | None
    published_at: str | None


class VersionOut(BaseModel):
    version: int
    title: str
    body: str
    products: list[str]
    fault_codes: list[str]
    tags: list[str]
    state: str
    editor: str
    saved_at: str | None


class SearchHit(BaseModel):
    id: int
    title: str
    snippet: str
    state: str
    products: list[str]
    tags: list[str]
    fault_codes: list[str]
    score: float
    updated_at: str | None


class SearchOut(BaseModel):
    mode: str  # fts (trigram index, bm25) | like (a query of 1-2 character words)
    items: list[SearchHit]


class AttachIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    article_id: int = Field(..., ge=1)


class AttachOut(BaseModel):
    ticket_id: int
    article_id: int
    title: str
    history_id: int


class ArticleListItem(BaseModel):
    id: int
    title: str
    state: str
    version: int
    products: list[str]
    fault_codes: list[str]
    tags: list[str]
    editor: str
    updated_at: str | None


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field("", max_length=100_000)


class PreviewOut(BaseModel):
    html: str


class ScriptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opening: str | None = Field(None, description="what the agent says first")
    questions: list[str] | None = Field(None, description="what to ask, in order")
    closing: str | None = None
    version: int | None = Field(None, ge=1, description="the version edited; none for a new script")


class ScriptOut(BaseModel):
    ticket_type: str
    lang: str
    opening: str
    questions: list[str]
    closing: str
    version: int
    editor: str
    updated_at: str | None


class ScriptsOut(BaseModel):
    items: list[ScriptOut]
