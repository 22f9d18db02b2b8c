"""The exchange: a CI job's OIDC token in, a short-lived LiteLLM key out (RFC 8693 shaped).

Order of checks: the token parses and names an issuer some identity trusts; its signature is
the issuer's (JWKS by discovery, cached); it is in time; its audience and claims match an
identity; that identity is active; the caller is within its rate; then, under the identity's
row lock, the token's ``jti`` was never used, fewer than ``max_live_keys`` keys are live and
the daily budget is not spent, and only then is a key minted. Every outcome writes a
``PipelineExchange`` row and an audit event; a refusal mints nothing and never echoes the
token. The portal keeps the key's hash, never the key.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from portal import audit
from portal.integrations.errors import IntegrationError

from . import claims as claim_rules
from . import oidc, services
from .models import PipelineExchange, PipelineIdentity, SeenToken
from .requests import team_id_for

Outcome = PipelineExchange.Outcome
ISSUED = audit.action("pipelineexchange.issued")
REFUSED = audit.action("pipelineexchange.refused")

# HTTP status of each refusal (the API's problem document).
STATUS = {
    Outcome.MALFORMED: 400,
    Outcome.UNKNOWN_ISSUER: 401,
    Outcome.ISSUER_UNAVAILABLE: 502,
    Outcome.BAD_SIGNATURE: 401,
    Outcome.EXPIRED: 401,
    Outcome.WRONG_AUDIENCE: 401,
    Outcome.CLAIM_MISMATCH: 403,
    Outcome.REPLAY: 401,
    Outcome.IDENTITY_INACTIVE: 403,
    Outcome.DAILY_BUDGET: 429,
    Outcome.TOO_MANY_KEYS: 429,
    Outcome.RATE_LIMITED: 429,
    Outcome.UPSTREAM: 502,
}


class Refused(Exception):
    def __init__(self, outcome: str, detail: str, identity: PipelineIdentity | None = None):
        super().__init__(detail)
        self.outcome, self.detail, self.identity = outcome, detail, identity

    @property
    def status(self) -> int:
        return STATUS[self.outcome]


@dataclass(frozen=True)
class Issued:
    secret: str
    expires_at: datetime.datetime
    expires_in: int
    identity: PipelineIdentity
    exchange: PipelineExchange


# (key, rate) -> allowed: the API's rate limiter, passed in (this app does not import the API).
Throttle = Callable[[str], bool]


@sensitive_variables("subject_token")
def exchange(subject_token: str, *, source_ip: str | None, throttle: Throttle | None = None):
    """Trade ``subject_token`` for a key, or raise :class:`Refused` (already audited)."""
    facts: dict = {"source_ip": source_ip}
    try:
        if throttle is not None and not throttle(f"pipex:ip:{source_ip}"):
            raise Refused(Outcome.RATE_LIMITED, "Too many exchanges from this address.")
        token_claims, identity = _verify(subject_token, facts)
        if throttle is not None and not throttle(f"pipex:identity:{identity.pk}"):
            raise Refused(Outcome.RATE_LIMITED, "Too many exchanges for this identity.", identity)
        return _mint(identity, token_claims, facts)
    except Refused as refusal:
        _record_refusal(refusal, facts)
        raise


def _verify(token: str, facts: dict) -> tuple[dict, PipelineIdentity]:
    try:
        issuer, header = oidc.unverified_issuer(token)
        facts["issuer"] = issuer[:300]
        candidates = list(PipelineIdentity.objects.trusting(issuer).select_related("department"))
        if not candidates:
            raise Refused(Outcome.UNKNOWN_ISSUER, "No pipeline identity trusts this issuer.")
        if not any(c.trusted_now() for c in candidates):
            # Nothing fetched from an issuer no approved identity trusts yet (a requested one
            # names any URL): refused before its discovery document is read.
            states = ", ".join(sorted({str(c.get_status_display()) for c in candidates}))
            raise Refused(
                Outcome.IDENTITY_INACTIVE,
                f"No active pipeline identity trusts this issuer ({states}).",
            )
        token_claims = oidc.verify(token, issuer, header)
    except oidc.TokenError as exc:
        raise Refused(exc.outcome, exc.detail) from None
    facts.update(claim_rules.run_facts(token_claims))
    aud = token_claims.get("aud")
    candidates = [c for c in candidates if c.accepts_audience(aud)]
    if not candidates:
        raise Refused(Outcome.WRONG_AUDIENCE, "No pipeline identity of this issuer expects "
                      "the token's audience.")  # fmt: skip
    mismatches = []
    for identity in sorted(candidates, key=lambda c: (not c.trusted_now(), c.pk)):
        missing = claim_rules.first_mismatch(identity.claim_rules or {}, token_claims)
        if missing is None:
            if not identity.trusted_now():
                raise Refused(
                    Outcome.IDENTITY_INACTIVE,
                    f"The pipeline identity {identity.name} is {identity.get_status_display()}.",
                    identity,
                )
            return token_claims, identity
        mismatches.append((identity, missing))
    identity, missing = mismatches[0]
    raise Refused(
        Outcome.CLAIM_MISMATCH,
        f"The token's {missing} claim does not match the pipeline identity {identity.name}.",
        identity,
    )


@sensitive_variables("response")
def _mint(identity: PipelineIdentity, token_claims: dict, facts: dict) -> Issued:
    jti = oidc.token_id(token_claims)
    if jti is None:
        raise Refused(Outcome.MALFORMED, "The token has no jti.", identity)
    now = timezone.now()
    token_expiry = datetime.datetime.fromtimestamp(int(token_claims["exp"]), tz=datetime.UTC)
    with transaction.atomic():
        identity = (
            PipelineIdentity.objects.select_related("department")
            .select_for_update(of=("self",))
            .get(pk=identity.pk)
        )
        if not identity.trusted_now():
            raise Refused(Outcome.IDENTITY_INACTIVE, "The pipeline identity is not active.",
                          identity)  # fmt: skip
        try:
            with transaction.atomic():
                SeenToken.objects.create(
                    issuer=facts["issuer"],
                    jti=jti,
                    expires_at=token_expiry + datetime.timedelta(
                        seconds=settings.PIPELINES_LEEWAY_SECONDS),
                )  # fmt: skip
        except IntegrityError:
            raise Refused(Outcome.REPLAY, "This token was already exchanged.", identity) from None
        live = identity.exchanges.live(now).count()
        if live >= identity.max_live_keys:
            raise Refused(
                Outcome.TOO_MANY_KEYS,
                f"{live} keys of this identity are live; at most {identity.max_live_keys}.",
                identity,
            )
        try:
            with services.client() as api:
                if services.spent_today_cached(api, identity) >= identity.daily_budget:
                    raise Refused(Outcome.DAILY_BUDGET, "The identity's daily budget is used up.",
                                  identity)  # fmt: skip
                alias = f"pipeline-{identity.pk}-{secrets.token_hex(6)}"
                lifetime = identity.run_lifetime_seconds
                response = api.generate_key(
                    key_alias=alias,
                    user_id=identity.litellm_user_id,
                    team_id=team_id_for(identity.department),
                    models=list(identity.llm_models or []) or None,
                    max_budget=float(identity.run_budget),
                    duration=f"{lifetime}s",
                    metadata=_metadata(identity, facts),
                )
        except IntegrationError as exc:
            raise Refused(Outcome.UPSTREAM, f"LiteLLM failed: {exc}"[:300], identity) from None
        row = PipelineExchange.objects.create(
            identity=identity,
            created_at=now,
            outcome=Outcome.ISSUED,
            key_alias=alias,
            key_hash=response["token"],
            key_expires_at=now + datetime.timedelta(seconds=lifetime),
            **_row_facts(facts),
        )
        audit.record(ISSUED, row, object_repr=str(row)[:254], department_id=identity.department_id,
                      after=_audit_facts(row))  # fmt: skip
    return Issued(
        secret=response["key"],
        expires_at=row.key_expires_at,
        expires_in=lifetime,
        identity=identity,
        exchange=row,
    )


def _metadata(identity: PipelineIdentity, facts: dict) -> dict:
    """What LiteLLM files with the key (and each call): who, which run. Tags go in metadata:
    LiteLLM's ``tags`` parameter needs an enterprise licence."""
    tags = [f"pipeline:{identity.name}"]
    if facts.get("repository"):
        tags.append(f"repository:{facts['repository']}")
    return {
        "portal_pipeline_identity": identity.pk,
        "department": identity.department.slug,
        "cost_centre": identity.department.cost_centre,
        "repository": facts.get("repository", ""),
        "run_id": facts.get("run_id", ""),
        "sha": facts.get("sha", ""),
        "ref": facts.get("ref", ""),
        "tags": tags,
    }


ROW_FIELDS = ("issuer", "subject", "repository", "run_id", "sha", "ref", "source_ip")


def _row_facts(facts: dict) -> dict:
    row = {name: facts.get(name) or "" for name in ROW_FIELDS}
    row["source_ip"] = facts.get("source_ip") or None
    for name in ("run_id", "sha"):
        row[name] = row[name][:64]
    return row


def _audit_facts(row: PipelineExchange) -> dict:
    return {
        "outcome": row.outcome,
        "detail": row.detail,
        "repository": row.repository,
        "run_id": row.run_id,
        "sha": row.sha,
        "ref": row.ref,
        "key_alias": row.key_alias,
    }


def _record_refusal(refusal: Refused, facts: dict) -> None:
    """Committed on its own (the exchange's transaction, if any, was rolled back)."""
    with transaction.atomic():
        row = PipelineExchange.objects.create(
            identity=refusal.identity,
            outcome=refusal.outcome,
            detail=refusal.detail[:300],
            **_row_facts(facts),
        )
        audit.record(
            REFUSED,
            row,
            object_repr=str(row)[:254],
            department_id=refusal.identity.department_id if refusal.identity else None,
            after=_audit_facts(row),
        )
