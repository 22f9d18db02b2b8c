"""The LiteLLM side of a key's first steps: its department's team, its owner as a LiteLLM user,
and the owner's membership of the team. Each looks before it creates, so a retry or a second
worker never makes a second one."""

from __future__ import annotations

from portal.integrations.errors import Conflict, NotFound
from portal.integrations.litellm import LiteLLMClient
from tenants.models import Department, User


def team_id_for(department: Department) -> str:
    return department.litellm_team_id or f"portal-{department.slug}"


def ensure_team(client: LiteLLMClient, department: Department) -> str:
    team_id = team_id_for(department)
    budget = float(department.monthly_budget) if department.monthly_budget else None
    try:
        client.team_info(team_id)
        result = "exists"
    except NotFound:
        try:
            client.new_team(
                team_id=team_id,
                team_alias=department.name,
                max_budget=budget,
                budget_duration="30d" if budget else None,
                metadata={"department": department.slug, "cost_centre": department.cost_centre},
            )
            result = "created"
        except Conflict:
            result = "exists"
    if department.litellm_team_id != team_id:
        Department.objects.filter(pk=department.pk).update(litellm_team_id=team_id)
        department.litellm_team_id = team_id
    return result


def ensure_user(client: LiteLLMClient, user: User) -> str:
    try:
        client.user_info(user.entra_oid)
        return "exists"
    except NotFound:
        pass
    try:
        client.new_user(user_id=user.entra_oid, user_email=user.email)
        return "created"
    except Conflict:
        return "exists"


def ensure_membership(client: LiteLLMClient, team_id: str, user: User) -> str:
    try:
        client.team_member_add(team_id=team_id, user_id=user.entra_oid)
        return "added"
    except Conflict:
        return "exists"
