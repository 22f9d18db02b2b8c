"""Policies as code over the API: plan and apply department policy files (infra, or a service
identity with the "policies" right, e.g. a CI pipeline)."""

from __future__ import annotations

from ninja import Field, Router, Schema

from approvals import policy_apply, policy_dryrun, policy_files

from ..common import RIGHT_POLICIES, require_right
from ..problems import Problem

router = Router(tags=["policies"])


class PlanIn(Schema):
    files: dict[str, str | dict] = Field(
        ..., description="Department slug → the policy file's YAML text (or parsed document)."
    )
    days: int = Field(30, ge=1, le=366, description="Dry run over the last N days.")


class ApplyIn(Schema):
    files: dict[str, str | dict]
    commit: str = Field(..., pattern=r"^[0-9a-fA-F]{7,64}$", description="The files' commit.")


class ChangeOut(Schema):
    path: str
    live: object = None
    file: object = None


class DryRunOut(Schema):
    days: int
    since: str
    requests: int
    changed: int
    summary: list[str]
    requests_changed: list[dict]


class PlanOut(Schema):
    errors: list[dict]
    changes: dict[str, list[ChangeOut]]
    dry_run: DryRunOut


class AppliedOut(Schema):
    department: str
    version: int | None
    changes: list[ChangeOut]


class ApplyOut(Schema):
    commit: str
    applied: list[AppliedOut]


def _allowed(request):
    who = require_right(request, RIGHT_POLICIES)
    if who.service is None and not who.user.is_infra:
        raise Problem(403, "Infra only", "Only infra plans and applies policies.")
    return who


def _validated(files: dict) -> dict[str, dict]:
    if not files:
        message = "Send at least one file."
        error = {"file": "", "path": "files", "message": message}
        raise Problem(422, "No policy files", message, type_="invalid-policy", errors=[error])
    documents, errors = policy_files.validate(files)
    if errors:
        detail = "; ".join(str(e) for e in errors[:5])
        raise Problem(
            422,
            "Invalid policy files",
            detail,
            type_="invalid-policy",
            errors=[e.as_dict() for e in errors],
        )
    return documents


@router.post("/plan", response=PlanOut, summary="Validate, diff and dry-run policy files")
def plan(request, body: PlanIn):
    """The files checked (schema, departments, people), the field-by-field changes against what
    is live, and how the last ``days`` days of requests would have been routed under them."""
    _allowed(request)
    documents = _validated(body.files)
    return {
        "errors": [],
        "changes": policy_files.changes_by_department(documents),
        "dry_run": policy_dryrun.dry_run(documents, days=body.days),
    }


@router.post("/apply", response=ApplyOut, summary="Apply policy files")
def apply(request, body: ApplyIn):
    """Write what differs as new policy versions, audited with the caller and the commit."""
    who = _allowed(request)
    documents = _validated(body.files)
    via = f"api:{who.service.name}" if who.service else "api"
    applied = policy_apply.apply(documents, actor=who.user, commit=body.commit, via=via)
    return {"commit": body.commit, "applied": applied}
