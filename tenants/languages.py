"""Which language a message to someone is written in: the person's own (the language picker,
else Entra's ``preferredLanguage``), a department's for what goes to the department as a
whole (its chat webhook), else the portal's default (``LANGUAGE_CODE``)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.views import i18n

from .models import Department, User


def normalise(tag: str | None) -> str:
    """A supported language code for an IETF tag ("ja-JP" → "ja"); "" when unsupported."""
    supported = {code for code, _name in settings.LANGUAGES}
    tag = (tag or "").strip().lower().replace("_", "-")
    for candidate in (tag, tag.split("-")[0]):
        if candidate in supported:
            return candidate
    return ""


def of_user(user: User | None) -> str:
    return (user.language if user is not None else "") or settings.LANGUAGE_CODE


def of_department(department: Department | None) -> str:
    return (department.language if department is not None else "") or settings.LANGUAGE_CODE


def by_language(emails: Iterable[str]) -> dict[str, list[str]]:
    """The addresses grouped by their owners' languages (one query); an address the portal
    does not know, or whose owner chose nothing, goes in the default language."""
    emails = sorted({e for e in emails if e})
    known = dict(
        User.objects.filter(email__in=emails).exclude(language="").values_list("email", "language")
    )
    groups: dict[str, list[str]] = {}
    for email in emails:
        groups.setdefault(known.get(email) or settings.LANGUAGE_CODE, []).append(email)
    return groups


def remember(user: User, language: str) -> bool:
    """Store the language ``user`` chose (the picker); True when it changed."""
    code = normalise(language)
    if not code or not getattr(user, "is_authenticated", False) or user.language == code:
        return False
    User.objects.filter(pk=user.pk).update(language=code)
    user.language = code
    return True


def fill_from_entra(user: User, preferred: str | None) -> bool:
    """Entra's ``preferredLanguage`` for someone who has not chosen in the portal; the
    picker's choice is never overwritten. True when it was stored."""
    code = normalise(preferred)
    if not code or user.language:
        return False
    User.objects.filter(pk=user.pk).update(language=code)
    user.language = code
    return True


@login_not_required  # the picker works on the sign-in page too
def set_language(request):
    """Django's language picker, which also remembers a signed-in person's choice: e-mails and
    other messages to them are written in it from then on."""
    response = i18n.set_language(request)
    if request.method == "POST":
        remember(request.user, request.POST.get("language", ""))
    return response
