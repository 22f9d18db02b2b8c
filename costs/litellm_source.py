"""Read LiteLLM's daily spend aggregates over its admin API.

Endpoint: ``GET /team/daily/activity`` (LiteLLM ``team_endpoints.get_team_daily_activity``;
response model ``SpendAnalyticsPaginatedResponse`` in
``litellm/types/proxy/management_endpoints/common_daily_activity.py``), with the master key,
no ``team_ids`` (all teams), ``start_date``/``end_date`` (``YYYY-MM-DD``, UTC days, inclusive),
``page`` and ``page_size``. LiteLLM pages over rows of its ``LiteLLM_DailyTeamSpend`` table
(unique on team_id × date × api_key × model × custom_llm_provider) and groups each page by date:

    {"results": [{"date": "2026-11-20",
                  "metrics": {"spend", "prompt_tokens", "completion_tokens", "api_requests",
                              "successful_requests", "failed_requests", ...},
                  "breakdown": {
                      "model_groups": {group: {"metrics": ..., "api_key_breakdown":
                                   {token: {"metrics": ..., "metadata": {"key_alias",
                                            "team_id", "user_id", ...}}}}},
                      "models": {provider model: (the same shape)},
                      "providers": {provider: {"metrics": ..., "api_key_breakdown": ...}},
                      "entities": {team_id: {"metrics": ..., "api_key_breakdown": ...}},
                      "api_keys": {token: {"metrics": ..., "metadata": ...}}, ...}}],
     "metadata": {"page", "total_pages", "has_more", "api_key_limit", "total_api_keys", ...}}

Rows are by model group (``costs.model_groups`` says why): a (date, group, key) cell is
``model_groups[group].api_key_breakdown[key]``. LiteLLM keys ``model_groups`` by the daily
row's ``model_group`` column, or its ``model`` where the row has none; ``models`` by ``model``,
the provider model behind the group (``anthropic/claude-3-5-sonnet-20241022`` behind
``claude-3-5-sonnet``). A LiteLLM without ``model_groups`` is read from ``models``; ingestion
maps those names to their groups.

A cell's team is the entity whose ``api_key_breakdown`` holds the key that day (else the
key's ``metadata.team_id``), its user the key's ``metadata.user_id``, its provider the
provider whose breakdown holds the key (a group's provider is learnt from keys with a single
provider). A date split over two pages yields partial cells on each page; they are summed.
When LiteLLM truncates per-key lists (``api_key_limit``), the part of a group's spend not
covered by listed keys becomes one row with an empty key and team, so totals still match.

A LiteLLM without this endpoint (404) is read from ``GET /spend/logs/v2`` instead, a row per
request, summed into the same daily rows (``fetch_rows_from_logs``).

Needs a LiteLLM whose model breakdown carries ``api_key_breakdown`` (checked against 1.106.2,
the version in ``.litellm-venv``; tests/test_costs_litellm.py runs against it). The lead will
move the HTTP part to ``portal/integrations/litellm.py``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from decimal import Decimal

import httpx
from django.conf import settings

from portal.days import utc_day_of

from .spend_rows import SpendRow, merge

log = logging.getLogger(__name__)

ENDPOINT = "/team/daily/activity"
PAGE_SIZE = 1000
MAX_PAGES = 10_000
UNASSIGNED = "Unassigned"  # LiteLLM's entity name for rows without a team


class SourceError(Exception):
    """LiteLLM could not be read (unreachable, refused, or an unexpected answer)."""


class AggregatesMissing(SourceError):
    """This LiteLLM has no daily-aggregate endpoint (404): read the spend logs instead."""


def _decimal(value) -> Decimal:
    return Decimal(str(round(float(value or 0), 10)))


def _row(day, team, user, key, model, provider, metrics: dict, alias: str = "") -> SpendRow:
    return SpendRow(
        day=day,
        team_id="" if team in (None, UNASSIGNED) else str(team),
        user_id=str(user or ""),
        key_hash=str(key or ""),
        model=str(model or ""),
        provider=str(provider or ""),
        spend=_decimal(metrics.get("spend")),
        prompt_tokens=int(metrics.get("prompt_tokens") or 0),
        completion_tokens=int(metrics.get("completion_tokens") or 0),
        requests=int(metrics.get("api_requests") or 0),
        successes=int(metrics.get("successful_requests") or 0),
        failures=int(metrics.get("failed_requests") or 0),
        key_alias=str(alias or ""),
    )


def day_of(result: dict) -> datetime.date:
    return datetime.date.fromisoformat(str(result["date"])[:10])


def by_group(breakdown: dict) -> dict:
    """The day's cells by model group; by provider model from a LiteLLM without groups."""
    groups = breakdown.get("model_groups")
    return (breakdown.get("models") or {}) if groups is None else groups


def provider_models(result: dict) -> set[str]:
    """The provider models one ``DailySpendData`` names that are no model group of that day:
    their spend is in the day's groups (``costs.model_groups.drop_superseded``)."""
    breakdown = result.get("breakdown") or {}
    if breakdown.get("model_groups") is None:
        return set()
    return set(breakdown.get("models") or {}) - set(breakdown["model_groups"])


def rows_from_day(result: dict) -> list[SpendRow]:
    """Turn one ``DailySpendData`` (one date of one page) into rows at our grain."""
    day = day_of(result)
    breakdown = result.get("breakdown") or {}
    key_meta = {k: (v.get("metadata") or {}) for k, v in (breakdown.get("api_keys") or {}).items()}

    key_teams: dict[str, list[str]] = {}
    for team, entry in (breakdown.get("entities") or {}).items():
        for key in entry.get("api_key_breakdown") or {}:
            key_teams.setdefault(key, []).append(team)
    key_providers: dict[str, list[str]] = {}
    for provider, entry in (breakdown.get("providers") or {}).items():
        for key in entry.get("api_key_breakdown") or {}:
            key_providers.setdefault(key, []).append(provider)

    models = by_group(breakdown)
    model_provider: dict[str, str] = {}
    for model, entry in models.items():
        for key in entry.get("api_key_breakdown") or {}:
            if len(key_providers.get(key, [])) == 1:
                model_provider[model] = key_providers[key][0]
                break

    provider_of = _providers_per_cell(models, breakdown.get("providers") or {}, model_provider)

    rows: list[SpendRow] = []
    for model, entry in models.items():
        covered = Decimal(0)
        for key, cell in (entry.get("api_key_breakdown") or {}).items():
            meta = {**key_meta.get(key, {}), **(cell.get("metadata") or {})}
            teams = key_teams.get(key, [])
            if len(teams) == 1:
                team = teams[0]
            elif meta.get("team_id") in teams or not teams:
                team = meta.get("team_id")
            else:
                team = teams[0]
            providers = key_providers.get(key, [])
            if len(providers) == 1:
                provider = providers[0]
            else:
                provider = provider_of.get((model, key), model_provider.get(model, ""))
            row = _row(
                day,
                team,
                meta.get("user_id"),
                key,
                model,
                provider,
                cell.get("metrics") or {},
                meta.get("key_alias"),
            )
            covered += row.spend
            rows.append(row)
        remainder = _decimal((entry.get("metrics") or {}).get("spend")) - covered
        if remainder > Decimal("0.000001"):  # per-key lists truncated by LiteLLM
            rows.append(
                _row(day, "", "", "", model, model_provider.get(model, ""), {"spend": remainder})
            )
    return rows


def _providers_per_cell(models: dict, providers: dict, model_provider: dict) -> dict:
    """(model, key) → provider for keys that used several providers on one day.

    The response has model × key and provider × key, not model × provider × key. A model's
    provider is known when some key used only that provider for it; otherwise a provider
    cell whose spend equals the model cell's, or the one provider left, decides.
    """
    by_key: dict[str, dict[str, float]] = {}
    for provider, entry in providers.items():
        for key, cell in (entry.get("api_key_breakdown") or {}).items():
            by_key.setdefault(key, {})[provider] = float(
                (cell.get("metrics") or {}).get("spend") or 0
            )
    out: dict[tuple[str, str], str] = {}
    for key, spend_by_provider in by_key.items():
        if len(spend_by_provider) < 2:
            continue
        cells = {
            m: float(
                ((e.get("api_key_breakdown") or {}).get(key, {}).get("metrics") or {}).get("spend")
                or 0
            )
            for m, e in models.items()
            if key in (e.get("api_key_breakdown") or {})
        }
        free = dict(spend_by_provider)
        pending = []
        for model in cells:
            provider = model_provider.get(model)
            if provider in spend_by_provider:
                out[(model, key)] = provider
                free.pop(provider, None)
            else:
                pending.append(model)
        for model in list(pending):
            match = [p for p, s in free.items() if abs(s - cells[model]) < 1e-9]
            if len(match) == 1:
                out[(model, key)] = match[0]
                free.pop(match[0])
                pending.remove(model)
        if len(pending) == 1 and len(free) == 1:
            out[(pending[0], key)] = next(iter(free))
    return out


def _client() -> httpx.Client:
    if not settings.LITELLM_BASE_URL:
        raise SourceError("LITELLM_BASE_URL is not set")
    return httpx.Client(
        base_url=settings.LITELLM_BASE_URL.rstrip("/"),
        headers={"Authorization": f"Bearer {settings.LITELLM_MASTER_KEY}"},
        timeout=getattr(settings, "LITELLM_TIMEOUT", 10.0) * 3,
    )


def _get(client: httpx.Client, endpoint: str, params: dict) -> httpx.Response:
    try:
        return client.get(endpoint, params=params)
    except httpx.HTTPError as exc:
        raise SourceError(f"LiteLLM unreachable: {exc}") from exc


def iter_pages(
    start: datetime.date,
    end: datetime.date,
    *,
    client: httpx.Client | None = None,
    endpoint: str = ENDPOINT,
    page_size: int = PAGE_SIZE,
) -> Iterator[dict]:
    """Every page of ``/team/daily/activity`` (or ``endpoint``, which answers in the same
    shape) for [start, end] (inclusive UTC days), ``page_size`` table rows a page."""
    own = client is None
    client = client or _client()
    try:
        page = 1
        while page <= MAX_PAGES:
            params = {
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "page": page,
                "page_size": page_size,
            }
            response = _get(client, endpoint, params)
            if response.status_code == 404:
                raise AggregatesMissing(f"LiteLLM has no {endpoint}")
            if response.status_code != 200:
                raise SourceError(
                    f"LiteLLM {endpoint} answered {response.status_code}: {response.text[:300]}"
                )
            body = response.json()
            yield body
            meta = body.get("metadata") or {}
            if not meta.get("has_more") and page >= int(meta.get("total_pages") or 1):
                return
            page += 1
    finally:
        if own:
            client.close()


def fetch_rows(
    start: datetime.date,
    end: datetime.date,
    *,
    client: httpx.Client | None = None,
    page_size: int = PAGE_SIZE,
    superseded: dict[datetime.date, set[str]] | None = None,
) -> tuple[list[SpendRow], int]:
    """All rows for [start, end], merged across pages; and the number of pages read.
    Falls back to the spend logs where LiteLLM has no daily aggregates. ``superseded``, if
    given, receives each day's ``provider_models``."""
    rows: list[SpendRow] = []
    pages = 0
    try:
        for body in iter_pages(start, end, client=client, page_size=page_size):
            pages += 1
            for result in body.get("results") or []:
                rows.extend(rows_from_day(result))
                if superseded is not None and (names := provider_models(result)):
                    superseded.setdefault(day_of(result), set()).update(names)
    except AggregatesMissing:
        log.warning("no daily aggregates in LiteLLM; reading /spend/logs", extra={"pages": pages})
        return fetch_rows_from_logs(start, end, client=client, superseded=superseded)
    return merge(rows), pages


LOGS_ENDPOINT = "/spend/logs/v2"


def rows_from_logs(logs: list[dict]) -> list[SpendRow]:
    """One row per request (``LiteLLM_SpendLogs``), in the daily rows' shape, to be merged."""
    rows = []
    for entry in logs:
        failed = (entry.get("status") or "success") == "failure"
        metadata = entry.get("metadata") or {}
        rows.append(
            _row(
                utc_day_of(entry["startTime"]),
                entry.get("team_id"),
                entry.get("user"),
                entry.get("api_key"),
                # The group, as the daily rows (``model_group``, else ``model``).
                entry.get("model_group") or entry.get("model"),
                entry.get("custom_llm_provider"),
                {
                    "spend": entry.get("spend"),
                    "prompt_tokens": entry.get("prompt_tokens"),
                    "completion_tokens": entry.get("completion_tokens"),
                    "api_requests": 1,
                    "successful_requests": 0 if failed else 1,
                    "failed_requests": 1 if failed else 0,
                },
                alias=metadata.get("user_api_key_alias") or "",
            )
        )
    return rows


def iter_log_pages(
    start: datetime.date, end: datetime.date, *, client: httpx.Client, api_key: str = ""
) -> Iterator[dict]:
    """Every page of the spend logs for [start, end] (inclusive UTC days), of one key if
    ``api_key`` is given."""
    page = 0
    while page < MAX_PAGES:
        page += 1
        params = {"api_key": api_key} if api_key else {}
        params |= {
            "start_date": f"{start.isoformat()} 00:00:00",
            "end_date": f"{end.isoformat()} 23:59:59",
            "page": page,
            "page_size": PAGE_SIZE,
        }
        response = _get(client, LOGS_ENDPOINT, params)
        if response.status_code != 200:
            status, text = response.status_code, response.text[:300]
            raise SourceError(f"LiteLLM {LOGS_ENDPOINT} answered {status}: {text}")
        body = response.json()
        yield body
        if page >= int(body.get("total_pages") or 1):
            return


def fetch_rows_from_logs(
    start: datetime.date,
    end: datetime.date,
    *,
    client: httpx.Client | None = None,
    superseded: dict[datetime.date, set[str]] | None = None,
) -> tuple[list[SpendRow], int]:
    """[start, end] from the paginated spend logs: slower (a row per request), for a LiteLLM
    without daily aggregates. ``superseded`` as in ``fetch_rows``."""
    own = client is None
    client = client or _client()
    rows: list[SpendRow] = []
    pages = 0
    try:
        for body in iter_log_pages(start, end, client=client):
            pages += 1
            logs = body.get("data") or []
            rows.extend(rows_from_logs(logs))
            for entry in logs if superseded is not None else ():
                model, group = entry.get("model"), entry.get("model_group")
                if model and group and model != group:
                    superseded.setdefault(utc_day_of(entry["startTime"]), set()).add(model)
    finally:
        if own:
            client.close()
    return merge(rows), pages
