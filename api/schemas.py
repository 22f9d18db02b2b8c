"""Request and response bodies. Outputs read the models; inputs are validated again by the
same Django forms the pages use."""

from __future__ import annotations

import datetime
from decimal import Decimal

from ninja import Field, Schema


class KeyOut(Schema):
    id: int
    name: str
    kind: str
    status: str
    department: str = Field(..., alias="department.slug")
    requester: str = Field(..., alias="requester.email")
    llm_models: list[str]
    max_budget: Decimal
    budget_duration: str
    rpm_limit: int
    tpm_limit: int
    lifetime_days: int
    justification: str
    alias: str
    secret_last4: str
    secret_waiting: bool
    extends_id: int | None = None
    created_at: datetime.datetime
    decided_at: datetime.datetime | None = None
    decision_comment: str
    activated_at: datetime.datetime | None = None
    expires_at: datetime.datetime | None = None
    last_error: str


class KeyRequestIn(Schema):
    department: str = Field(..., description="Department slug (one of yours).")
    name: str
    kind: str = Field("personal", description="personal | service")
    llm_models: list[str]
    max_budget: Decimal
    budget_duration: str = Field("30d", description="'' (lifetime) | 1d | 7d | 30d")
    rpm_limit: int
    tpm_limit: int
    lifetime_days: int
    tags: list[str] = Field([], description="Labels for cost reporting (at most 5).")
    justification: str


class ExtendIn(Schema):
    lifetime_days: int = Field(..., description="Days added to the key's current expiry.")
    justification: str


class ExtensionOut(Schema):
    """An extension of a key: the same key and secret, a later expiry once approved."""

    id: int
    key_id: int
    status: str
    lifetime_days: int
    previous_expires_at: datetime.datetime | None = None
    new_expires_at: datetime.datetime
    auto_approved: bool
    justification: str
    created_at: datetime.datetime
    decided_at: datetime.datetime | None = None


class SecretOut(Schema):
    id: int
    secret: str
    base_url: str = Field(..., description="The LiteLLM proxy (OpenAI-compatible).")
    settings: dict[str, str] = Field(..., description="Ready-to-paste client settings.")
    setup: dict[str, str] = Field(
        default_factory=dict,
        description="Keys only: copy-ready settings per tool (curl, python, env, cline, roo, "
        "continue, claude-code, codex, agents), as on the reveal page.",
    )


class ProjectOut(Schema):
    id: int
    name: str
    project_name: str
    status: str
    department: str = Field(..., alias="department.slug")
    requester: str = Field(..., alias="requester.email")
    purpose: str
    lifetime_days: int
    retention_days: int | None = None
    route_key_id: int | None = None
    fulfilment: str
    langfuse_project_id: str
    public_key: str
    secret_waiting: bool
    justification: str
    created_at: datetime.datetime
    activated_at: datetime.datetime | None = None
    expires_at: datetime.datetime | None = None
    last_error: str


class ProjectRequestIn(Schema):
    department: str
    name: str
    purpose: str
    lifetime_days: int
    retention_days: int | None = None
    route_key: int | None = None
    justification: str


class RequestOut(Schema):
    kind: str
    id: int
    name: str
    status: str
    department: str
    requester: str
    justification: str
    created_at: datetime.datetime
    decided_at: datetime.datetime | None = None
    decision_comment: str


class DecisionIn(Schema):
    decision: str = Field(..., description="approve | reject")
    comment: str = ""
    max_budget: Decimal | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    lifetime_days: int | None = None
    monthly_budget: Decimal | None = None


class DepartmentOut(Schema):
    slug: str
    name: str
    cost_centre: str
    monthly_budget: Decimal
    allowed_models: list[str]
    max_key_budget: Decimal
    max_rpm: int
    max_tpm: int
    max_key_lifetime_days: int
    max_project_lifetime_days: int
    auto_approve_max_budget: Decimal
    auto_approve_max_lifetime_days: int
    approver_rule: str


class PolicyIn(Schema):
    monthly_budget: Decimal | None = None
    allowed_models: list[str] | None = None
    max_key_budget: Decimal | None = None
    max_rpm: int | None = None
    max_tpm: int | None = None
    max_key_lifetime_days: int | None = None
    max_project_lifetime_days: int | None = None
    auto_approve_max_budget: Decimal | None = None
    auto_approve_max_lifetime_days: int | None = None
    approver_rule: str | None = None


class AuditOut(Schema):
    id: int
    created_at: datetime.datetime
    actor: str = Field(..., alias="actor_label")
    action: str
    object_type: str
    object_id: str
    object_repr: str
    department_id: int | None = None
    before: dict | None = None
    after: dict | None = None
    ip_address: str | None = None


class MeOut(Schema):
    email: str
    name: str
    is_infra: bool
    member_of: list[str]
    lead_of: list[str]
    service: str | None = None
    rights: list[str]


class CostTableOut(Schema):
    month: str
    table: str
    columns: list[str]
    rows: list[dict]


class SeriesOut(Schema):
    month: str
    series: list[dict]


class PipelineIdentityOut(Schema):
    id: int
    name: str
    status: str
    department: str = Field(..., alias="department.slug")
    requester: str = Field(..., alias="requester.email")
    issuer: str
    issuer_kind: str
    audience: str
    claim_rules: dict[str, str | list[str]]
    llm_models: list[str]
    run_budget: Decimal
    run_lifetime_seconds: int
    daily_budget: Decimal
    max_live_keys: int
    lifetime_days: int
    justification: str
    created_at: datetime.datetime
    decided_at: datetime.datetime | None = None
    decision_comment: str
    activated_at: datetime.datetime | None = None
    expires_at: datetime.datetime | None = None
    ended_at: datetime.datetime | None = None
    last_error: str


class PipelineIdentityIn(Schema):
    department: str = Field(..., description="Department slug (one of yours).")
    name: str
    issuer_kind: str = Field(..., description="github | azure_devops | gitlab | kubernetes | entra")
    issuer_detail: str = Field(
        "",
        description="Azure DevOps: organisation id; Entra: tenant id; GitLab or Kubernetes: "
        "the issuer URL. Empty for GitHub.",
    )
    audience: str
    claim_rules: dict[str, str] = Field(
        ...,
        description='Claims that must match, e.g. {"repository": "org/app", '
        '"ref": "refs/heads/main"}; * and ** are wildcards.',
    )
    llm_models: list[str]
    run_budget: Decimal
    run_lifetime_seconds: int = 3600
    daily_budget: Decimal
    max_live_keys: int = 5
    lifetime_days: int
    justification: str


class ModelAccessOut(Schema):
    id: int
    model_name: str
    change: str = Field(..., description="add | remove")
    status: str
    department: str = Field(..., alias="department.slug")
    requester: str = Field(..., alias="requester.email")
    expected_monthly_spend: Decimal
    allowed_when_asked: list[str]
    justification: str
    decision_comment: str
    created_at: datetime.datetime
    decided_at: datetime.datetime | None = None
    activated_at: datetime.datetime | None = None
    last_error: str


class ModelAccessIn(Schema):
    department: str = Field(..., description="the department's slug")
    model_name: str
    change: str = Field("add", description="add | remove")
    expected_monthly_spend: Decimal = Decimal(0)
    justification: str
