"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, JsonResponse
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as SchemaValidationError

from portal.integrations.errors import IntegrationError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "/api/v1/problems/"


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        type_: str = "",
        errors: dict | list | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.type = type_
        self.errors = errors


def response(request: HttpRequest, problem: Problem) -> JsonResponse:
    body = {
        "type": TYPE_BASE + problem.type if problem.type else "about:blank",
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.path,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    reply = JsonResponse(body, status=problem.status, content_type=CONTENT_TYPE)
    if problem.status == 401:
        reply["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return reply


def _messages(exc: ValidationError) -> dict | list:
    if hasattr(exc, "error_dict"):
        return {
            field: [str(m) for e in errs for m in e.messages]
            for field, errs in exc.error_dict.items()
        }
    return list(exc.messages)


def install(api) -> None:
    """Route every error the API can raise to a problem document; nothing becomes a 500 page."""

    def handle(exc_class, convert):
        api.add_exception_handler(exc_class, lambda request, exc: response(request, convert(exc)))

    handle(Problem, lambda exc: exc)
    handle(
        SchemaValidationError,
        lambda exc: Problem(
            422,
            "Invalid request",
            "The request does not match the schema.",
            type_="invalid-request",
            errors=exc.errors,
        ),
    )
    handle(
        ValidationError,
        lambda exc: Problem(
            409 if not hasattr(exc, "error_dict") else 422,
            "Refused",
            " ".join(exc.messages),
            type_="refused",
            errors=_messages(exc),
        ),
    )
    handle(PermissionDenied, lambda exc: Problem(403, "Forbidden", "You may not do this."))
    handle(Http404, lambda exc: Problem(404, "Not found", "No such object, or not yours to see."))
    handle(
        IntegrationError,
        lambda exc: Problem(502, "Upstream service failed", str(exc), type_="upstream"),
    )
    handle(
        Throttled,
        lambda exc: Problem(
            429, "Too many requests", "Slow down: see Retry-After.", type_="rate-limited"
        ),
    )
    handle(
        AuthenticationError,
        lambda exc: Problem(
            401, "Invalid access token", "Send an Entra ID access token.", type_="invalid-token"
        ),
    )
    handle(HttpError, lambda exc: Problem(exc.status_code, str(exc.message), ""))

    def unexpected(request, exc):
        log.exception("api error", extra={"path": request.path})
        return response(request, Problem(500, "Internal error", "Something went wrong."))

    api.add_exception_handler(Exception, unexpected)
