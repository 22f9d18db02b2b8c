"""Display helpers shared by every page: money, counts and times, formatted per locale.

Money keeps enough significant digits that a small amount never reads as zero, and carries
the unrounded figure in ``title`` (shown on hover); counts get the locale's grouping.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from django.utils.translation import gettext, gettext_lazy, ngettext

from portal.integrations.explain import explain

register = template.Library()

CENT = Decimal("0.01")


def money_text(value) -> str:
    """``1234.5`` → ``1,234.50``; ``0.000093`` → ``0.000093``: two significant digits below
    a cent, two decimals above; grouping and separators from the active locale."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if amount == 0 or abs(amount) >= CENT:
        places = 2
    else:
        # Two significant digits: 0.000093 → 6 places, 0.0042 → 4 places.
        places = min(-amount.adjusted() + 1, 10)
    # Rounded half up here, once (Django's number_format would cut the digits off).
    amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return formats.number_format(amount, places, use_l10n=True, force_grouping=True)


def days_text(days: int) -> str:
    """``30`` → "30 days" (「30 日」): a lifetime in words, never the bare "30d"."""
    return ngettext("%(days)s day", "%(days)s days", days) % {"days": days}


def exact_text(value) -> str:
    """The unrounded amount (trailing zeros dropped), for hover and CSV."""
    amount = Decimal(str(value))
    text = format(amount.normalize(), "f") if amount else "0"
    return text


@register.filter
def money(value):
    """A money amount with the unrounded figure on hover."""
    if value is None or value == "":
        return "—"
    return format_html(
        '<span class="money" title="{}">{}</span>', exact_text(value), money_text(value)
    )


@register.filter
def money_plain(value) -> str:
    """The displayed amount only (no markup), e.g. inside a sentence."""
    return money_text(value)


@register.filter
def exact(value) -> str:
    """The unrounded amount, for a ``title`` attribute."""
    if value is None or value == "":
        return ""
    return exact_text(value)


@register.filter
def num(value):
    """A count with the locale's thousands separator (``1234567`` → ``1,234,567``)."""
    if value is None or value == "":
        return "—"
    return formats.number_format(value, 0, use_l10n=True, force_grouping=True)


def _local_format(value, format_name: str) -> str:
    """``value`` (an aware time: in the portal's time zone) in the locale's ``format_name``."""
    if not value:
        return "—"
    if hasattr(value, "tzinfo") and timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, format_name)


def when_text(value) -> str:
    """A date and time in the portal's time zone, in the locale's short format, with the
    zone's name (``8 Dec 2026 04:03 JST``): spend days are UTC days, so a time says its zone."""
    if hasattr(value, "tzinfo") and timezone.is_aware(value):
        value = timezone.localtime(value)
        return f"{formats.date_format(value, 'SHORT_DATETIME_FORMAT')} {value.tzname()}"
    return formats.date_format(value, "SHORT_DATETIME_FORMAT")


@register.filter
def when(value):
    """A date and time in the portal's time zone (``when_text``)."""
    if not value:
        return "—"
    return when_text(value)


AGES = {
    "waiting": gettext_lazy("waiting %(age)s"),
    "for": gettext_lazy("for %(age)s"),
    "ago": gettext_lazy("%(age)s ago"),
}


@register.filter
def age(value, phrase: str = "ago") -> str:
    """How long ago ``value`` was, as a phrase (``waiting 3 hours``, ``5 minutes ago``); under a
    minute it is "just now", never "0 minutes"."""
    if not value:
        return "—"
    if timezone.now() - value < datetime.timedelta(minutes=1):
        return gettext("just now")
    return AGES[phrase] % {"age": timesince(value)}


@register.filter
def utc_day(value):
    """A UTC day (spend, usage, anomalies), saying so: ``7 Dec 2026 UTC``."""
    if not value:
        return "—"
    return f"{formats.date_format(value, 'SHORT_DATE_FORMAT')} UTC"


@register.filter
def day(value):
    """A date in the locale's short format."""
    return _local_format(value, "SHORT_DATE_FORMAT")


@register.simple_tag(takes_context=True)
def nav_class(context, *prefixes: str) -> str:
    """``aria-current="page"`` for the navigation link whose section is being shown."""
    request = context.get("request")
    path = getattr(request, "path", "") or ""
    for prefix in prefixes:
        if (prefix == "/" and path == "/") or (prefix != "/" and path.startswith(prefix)):
            return mark_safe('aria-current="page" class="active"')  # noqa: S308 constant
    return ""


@register.filter
def explained(raw) -> str:
    """A stored infra error in one translated sentence (what went wrong)."""
    e = explain(raw)
    return e.what if e else ""


@register.inclusion_tag("portal/_infra_error.html")
def infra_error(raw, retry_said=False, detail_open=False):
    """A stored infra error explained (what, why, what to do), the raw text as a detail.
    ``retry_said``: the page already says the platform team retries; do not repeat it.
    ``detail_open``: show the raw text unfolded (infra's own pages)."""
    return {"e": explain(raw), "retry_said": retry_said, "detail_open": detail_open}
