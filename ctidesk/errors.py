"""One error hierarchy for the services, and one place that turns it into HTTP (issue 12.3).

Services raise these with a message a person can act on; views do not
catch them: :func:`install` registers one exception handler that answers
``{"detail": message}`` with the class's status (``Invalid`` answers in
FastAPI's validation shape, naming the field).
"""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    status = 404


class Unauthenticated(ServiceError):
    """Who is asking is not established (a bad or expired link token)."""

    status = 401


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class Gone(ServiceError):
    """The row is there but what it points at (a stored file) no longer is."""

    status = 410


class Invalid(ServiceError):
    """Bad input: ``field`` names it (``body.number``, ``query.from``). A service
    that finds several problems at once sets ``problems`` (FastAPI's shape, one
    entry per problem) and all of them are answered."""

    status = 422
    problems: list | None = None


class Upstream(ServiceError):
    """Something we depend on (Asterisk) said no."""

    status = 502


class Unavailable(ServiceError):
    """Something we depend on is not reachable now; try again shortly."""

    status = 503


def detail(exc: ServiceError):
    if isinstance(exc, Invalid) and exc.problems:
        return exc.problems
    if isinstance(exc, Invalid) and exc.field:
        return [{"loc": exc.field.split("."), "msg": exc.message, "type": "value_error"}]
    return exc.message


async def _handle(_request: Request, exc: ServiceError) -> JSONResponse:
    return JSONResponse({"detail": detail(exc)}, status_code=exc.status)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _handle)
