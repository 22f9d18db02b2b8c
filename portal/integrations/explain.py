"""Infra error texts for people: what went wrong, why, and what to do, in the page's language.

The clients raise ``IntegrationError``s whose text is the service's own English
(``"LiteLLM HTTP 400: budget exceeds team max"``), and that text is what the portal stores
(``last_error``, a run's ``error``). ``explain()`` reads it back into a translated explanation;
the raw text stays beside it as the technical detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

SERVICES = ("LiteLLM", "Langfuse", "Microsoft Graph")
_STATUS = re.compile(r"\bHTTP (\d{3})\b")
_NOT_CONFIGURED = re.compile(r"\bis not (set|configured)\b|not configured", re.I)
_TIMEOUT = re.compile(r"timed out|timeout", re.I)
_UNREACHABLE = re.compile(r"unreachable|connect(ion)? ?(error|refused)|name or service", re.I)
_LICENCE = re.compile(r"licen[cs]e|enterprise|current plan|premium", re.I)
_DUPLICATE = re.compile(r"already exists|duplicate", re.I)
_BY_HAND = re.compile(r"creates it by hand", re.I)


@dataclass(frozen=True)
class Explanation:
    what: str  # what went wrong, in one sentence
    why: str  # the likely cause
    todo: str  # what happens next / what to do
    raw: str  # the service's own text, as stored
    retried: bool = False  # ``todo`` only says the platform team retries it

    def __str__(self) -> str:
        return f"{self.what} {self.why}"


def _service(raw: str) -> str:
    for name in SERVICES:
        if raw.startswith(name) or f" {name} " in raw[:60]:
            return name
    return ""


def explain(raw: str | None) -> Explanation | None:
    """The explanation of a stored error text; None when there is none."""
    raw = (raw or "").strip()
    if not raw:
        return None
    known = _service(raw)
    service = known or _("The service")
    match = _STATUS.search(raw)
    status = int(match.group(1)) if match else None
    values = {"service": service}
    retry = _("The platform team sees this on their operations page and retries it.")
    if _BY_HAND.search(raw):  # not a fault to retry: the way this installation works
        what = _("%(service)s cannot be set up automatically here.")
        why = _("The portal has no connection to its admin API.")
        todo = _("The platform team sets it up by hand and hands it over on the request's page.")
    elif _NOT_CONFIGURED.search(raw):
        values["service"] = known or _("a service")
        what = _("The portal is not connected to %(service)s.")
        why = _("Its address or credentials are not configured.")
        todo = _("The platform team must configure the connection; then the request is retried.")
    elif _LICENCE.search(raw):
        what = _("%(service)s needs a licence for this feature.")
        why = _("The installed edition does not include it.")
        todo = _("The platform team sets it up by hand or enables the licence.")
    elif status is None and _TIMEOUT.search(raw):
        what = _("%(service)s did not answer in time.")
        why = _("It may be overloaded or restarting.")
        todo = retry
    elif status is None and _UNREACHABLE.search(raw):
        what = _("%(service)s could not be reached.")
        why = _("It is down, or the network between the portal and it is interrupted.")
        todo = retry
    elif status == 429:
        what = _("%(service)s is busy.")
        why = _("It refused more requests for now (rate limit).")
        todo = retry
    elif status is not None and status >= 500:
        what = _("%(service)s had an internal error.")
        why = _("The problem is on the service's side, not in your request.")
        todo = retry
    elif status in (401, 403):
        what = _("%(service)s refused the portal's credentials.")
        why = _("The portal's key for it is wrong, expired or lacks a permission.")
        todo = _("The platform team must renew the portal's key; then the request is retried.")
    elif status == 409 or _DUPLICATE.search(raw):
        what = _("%(service)s already has something with this name.")
        why = _("An earlier attempt may have created it, or the name is taken.")
        todo = retry
    elif status == 404:
        what = _("%(service)s no longer has what the portal refers to.")
        why = _("It was deleted or renamed outside the portal.")
        todo = retry
    elif status is not None and 400 <= status < 500:
        what = _("%(service)s refused the values of this request.")
        why = _("A value (budget, models, limits) is outside what it accepts: see the detail.")
        todo = _("The platform team checks the detail and retries, or asks you to change it.")
    else:
        what = _("%(service)s reported an error.")
        why = _("The detail below is the service's own message.")
        todo = retry
    return Explanation(what % values, why, todo, raw, todo == retry)
