"""Knowledge-base API (issue 14). Thin: rules live in ``knowledge.service``,
which raises ``ctidesk.errors`` (422 naming the field, 403, 404, 409).

Editors (admin, expert) create, edit (``version`` required: a stale one is
409), publish/unpublish and read drafts and versions; other roles read and
search published articles. Every write is audited in its transaction.
``POST /api/v1/tickets/{id}/articles`` attaches an article to a ticket (a
``kind = "article"`` row in the ticket's history).
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import service as accounts
from accounts.models import User
from accounts.security import current_user
from ctidesk.deps import client_ip, get_db
from agent_desk.pages import add_pages
from knowledge import scripts, service
from knowledge.schemas import (ArticleIn, ArticleListItem, ArticleOut, ArticleUpdate, AttachIn, AttachOut,
                               PreviewIn, PreviewOut, ScriptIn, ScriptOut, ScriptsOut, SearchOut, StateIn,
                               VersionOut)

router = APIRouter(prefix="/api/v1/kb", tags=["knowledge"])
ticket_router = APIRouter(prefix="/api/v1/tickets", tags=["knowledge"])


async def _audit(db: AsyncSession, request: Request, user: User, action: str, target: str,
                 detail: dict) -> None:
    await accounts.audit(db=db, actor=user.username, action=action, target=target,
                         ip=client_ip(request), detail=detail)


@router.post("/articles", response_model=ArticleOut, status_code=201)
async def create_article(body: ArticleIn, request: Request, user: User = Depends(current_user),
                         db: AsyncSession = Depends(get_db)) -> dict:
    article = await service.create(db=db, actor=user.username, role=user.role, **body.model_dump())
    await _audit(db, request, user, "kb.article.create", f"kb_article:{article.id}",
                 {"title": article.title, "version": article.version})
    await db.commit()
    return service.article_dict(article)


@router.get("/articles", response_model=list[ArticleListItem])
async def list_articles(state: str | None = Query(None, description="draft | published (drafts: editors)"),
                        limit: int = Query(50), offset: int = Query(0), user: User = Depends(current_user),
                        db: AsyncSession = Depends(get_db)) -> list[dict]:
    rows = await service.list_articles(db=db, role=user.role, state=state, limit=limit, offset=offset)
    return [{k: v for k, v in service.article_dict(a).items() if k in ArticleListItem.model_fields} for a in rows]


@router.post("/preview", response_model=PreviewOut)
async def preview(body: PreviewIn, user: User = Depends(current_user)) -> dict:
    """The server's rendering of a Markdown body (editors), for the editor's preview."""
    return {"html": service.preview(role=user.role, body=body.body)}


@router.get("/scripts", response_model=ScriptsOut)
async def list_scripts(ticket_type: str | None = Query(None), lang: str | None = Query(None),
                       user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    """Answer scripts; with ``ticket_type`` and ``lang`` the one the desk shows (that
    language, else the other)."""
    rows = await scripts.find(db=db, ticket_type=ticket_type, lang=lang)
    return {"items": [scripts.script_dict(r) for r in rows]}


@router.put("/scripts/{ticket_type}/{lang}", response_model=ScriptOut)
async def save_script(ticket_type: str, lang: str, body: ScriptIn, request: Request,
                      user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    row, before = await scripts.save(db=db, actor=user.username, role=user.role, ticket_type=ticket_type,
                                     lang=lang, **body.model_dump())
    await _audit(db, request, user, "kb.script.save", f"kb_script:{ticket_type}:{lang}",
                 {"version": row.version, "before": before})
    await db.commit()
    return scripts.script_dict(row)


@router.get("/articles/{article_id}", response_model=ArticleOut)
async def get_article(article_id: int, user: User = Depends(current_user),
                      db: AsyncSession = Depends(get_db)) -> dict:
    return service.article_dict(await service.get(db=db, article_id=article_id, role=user.role))


@router.put("/articles/{article_id}", response_model=ArticleOut)
async def update_article(article_id: int, body: ArticleUpdate, request: Request,
                         user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    fields = body.model_dump()
    version = fields.pop("version")
    article, changed = await service.update(db=db, actor=user.username, role=user.role,
                                            article_id=article_id, version=version, **fields)
    await _audit(db, request, user, "kb.article.update", f"kb_article:{article.id}",
                 {"from_version": version, "version": article.version, "changed": changed})
    await db.commit()
    return service.article_dict(article)


async def _set_state(article_id: int, state: str, body: StateIn | None, request: Request, user: User,
                     db: AsyncSession) -> dict:
    version = body.version if body is not None else None
    article, changed = await service.set_state(db=db, actor=user.username, role=user.role,
                                               article_id=article_id, state=state, version=version)
    if changed:
        action = "kb.article.publish" if state == "published" else "kb.article.unpublish"
        await _audit(db, request, user, action, f"kb_article:{article.id}", {"version": article.version})
        await db.commit()
    return service.article_dict(article)


@router.post("/articles/{article_id}/publish", response_model=ArticleOut)
async def publish_article(article_id: int, request: Request, body: StateIn | None = None,
                          user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    return await _set_state(article_id, "published", body, request, user, db)


@router.post("/articles/{article_id}/unpublish", response_model=ArticleOut)
async def unpublish_article(article_id: int, request: Request, body: StateIn | None = None,
                            user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    return await _set_state(article_id, "draft", body, request, user, db)


@router.get("/articles/{article_id}/versions", response_model=list[VersionOut])
async def article_versions(article_id: int, user: User = Depends(current_user),
                           db: AsyncSession = Depends(get_db)) -> list[dict]:
    rows = await service.versions(db=db, article_id=article_id, role=user.role)
    return [service.version_dict(v) for v in rows]


@router.get("/search", response_model=SearchOut)
async def search_articles(q: str | None = Query(None, description="words; Chinese matches as substrings"),
                          product: str | None = Query(None, description="a product model"),
                          limit: int = Query(20), user: User = Depends(current_user),
                          db: AsyncSession = Depends(get_db)) -> dict:
    return await service.search(db=db, q=q, role=user.role, product=product, limit=limit)


@ticket_router.post("/{ticket_id}/articles", response_model=AttachOut, status_code=201)
async def attach_article(ticket_id: int, body: AttachIn, request: Request,
                         user: User = Depends(current_user), db: AsyncSession = Depends(get_db)) -> dict:
    row, article = await service.attach_to_ticket(db=db, actor=user.username, role=user.role,
                                                  ticket_id=ticket_id, article_id=body.article_id)
    await _audit(db, request, user, "ticket.article_attach", f"ticket:{ticket_id}",
                 {"article_id": article.id, "history_id": row.id})
    await db.commit()
    return {"ticket_id": ticket_id, "article_id": article.id, "title": article.title, "history_id": row.id}


# The editor (admin, expert: the page is static, the API refuses others).
pages_router = APIRouter()
add_pages(pages_router, {"/kb/editor": "kb-editor.html"})
