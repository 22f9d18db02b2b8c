"""NUL bytes never reach an API view: 400 for a NUL anywhere in the path, the query, a form
body or a JSON body (in any string, keys included).

PostgreSQL refuses NUL in text and in jsonb, so each field that let one through answered 500.
One check here covers every operation, present and future, instead of a check per field. The
pages need none: Django's form fields already refuse NUL with a form error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from .problems import Problem, response

PREFIX = "/api/"
NUL = "\x00"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _body(request: HttpRequest) -> Any:
    content_type = request.content_type or ""
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None  # not JSON: the schema answers it
    if request.method in ("POST", "PUT", "PATCH") and request.POST:
        return dict(request.POST.lists())
    return None


def has_nul(request: HttpRequest) -> bool:
    """Whether the path, the query or the body carries a NUL character."""
    if NUL in request.path or _has_nul(dict(request.GET.lists())):
        return True
    try:
        return _has_nul(_body(request))
    except MultiPartParserError:
        return False


class RefuseNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(PREFIX) and has_nul(request):
            problem = Problem(
                400,
                "Invalid characters",
                "A NUL character (U+0000) is not allowed in a path, a parameter or a body.",
                type_="invalid-characters",
            )
            return response(request, problem)
        return self.get_response(request)
