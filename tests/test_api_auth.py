"""Bearer tokens: only Entra access tokens for the portal's API, from its tenant, unexpired,
untampered, for a known person or a registered service principal."""

import time

import pytest

from api.identities import save_service_identity
from portal.models import AuditEvent

from .api_support import register_service

pytestmark = pytest.mark.django_db


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"]
    return body


def test_a_valid_user_token_gets_the_users_own_roles(api, org):
    body = api.get(org["lead_a"], "/me").json()
    assert body["email"] == org["lead_a"].email
    assert body["lead_of"] == ["alpha"] and body["is_infra"] is False
    assert api.get(org["infra"], "/me").json()["is_infra"] is True


def test_no_token_is_401_with_www_authenticate(api):
    response = api.get(None, "/me")
    problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(api, org):
    now = int(time.time())
    token = api.double.api_token(org["dev_a"].entra_oid, iat=now - 7200, exp=now - 3600)
    assert "expired" in problem(api.get(None, "/me", token=token), 401)["detail"]


def test_a_token_for_another_audience_is_refused(api, org):
    token = api.double.api_token(org["dev_a"].entra_oid, aud="https://graph.microsoft.com")
    assert "audience" in problem(api.get(None, "/me", token=token), 401)["detail"]


def test_the_client_id_is_an_accepted_audience_too(api, org):
    token = api.double.api_token(org["dev_a"].entra_oid, aud=api.double.client_id)
    assert api.get(None, "/me", token=token).status_code == 200


def test_a_token_from_another_tenant_is_refused(api, org):
    other = "11111111-2222-3333-4444-555555555555"
    token = api.double.api_token(
        org["dev_a"].entra_oid, tid=other, iss=f"{api.double.base_url}/{other}/v2.0"
    )
    assert "tenant" in problem(api.get(None, "/me", token=token), 401)["detail"]


def test_an_issuer_of_another_tenant_is_refused_even_with_our_tid(api, org):
    token = api.double.api_token(
        org["dev_a"].entra_oid, iss=f"{api.double.base_url}/someone-else/v2.0"
    )
    problem(api.get(None, "/me", token=token), 401)


def test_a_tampered_token_is_refused(api, org):
    token = api.double.tamper(api.double.api_token(org["dev_a"].entra_oid))
    assert "signature" in problem(api.get(None, "/me", token=token), 401)["detail"]


def test_a_token_signed_with_another_key_is_refused(api, org):
    from .doubles.entra_api import EntraApiDouble

    other = EntraApiDouble(tls=False)
    try:
        other.tenant_id = api.double.tenant_id
        other.client_id = api.double.client_id
        token = other.api_token(
            org["dev_a"].entra_oid, iss=f"{api.double.base_url}/{api.double.tenant_id}/v2.0"
        )
    finally:
        other.close()
    problem(api.get(None, "/me", token=token), 401)


def test_a_user_token_without_the_api_scope_is_refused(api, org):
    token = api.double.api_token(org["dev_a"].entra_oid, scp="User.Read")
    problem(api.get(None, "/me", token=token), 403)


def test_an_unknown_or_deactivated_user_is_refused(api, org):
    problem(api.get(None, "/me", token=api.double.api_token("oid-stranger")), 403)
    org["dev_a"].is_active = False
    org["dev_a"].save()
    problem(api.get(org["dev_a"], "/me"), 403)


def test_a_registered_service_principal_is_its_service_identity(api, org):
    body = api.get(org["sp_keys"], "/me").json()
    assert body["service"] == "sp_keys"
    assert body["member_of"] == ["alpha"] and body["rights"] == ["request_keys"]


def test_an_unknown_service_principal_is_refused(api, org):
    body = problem(api.get(None, "/me", token=api.double.app_token("app-unknown")), 403)
    assert body["type"].endswith("unknown-service-principal")


def test_a_service_principal_without_the_app_role_is_refused(api, org):
    token = api.double.app_token(org["sp_keys"].app_id, roles=["Something.Else"])
    problem(api.get(None, "/me", token=token), 403)


def test_a_deactivated_service_identity_is_refused(api, org):
    identity = org["sp_keys"]
    identity.is_active = False
    save_service_identity(identity, actor=org["infra"])
    problem(api.get(identity, "/me"), 403)


def test_registering_a_service_identity_is_audited_and_gives_it_one_department(org):
    identity = register_service(org, "pipeline", keys=True)
    identity.tenant_id = "t"
    save_service_identity(identity, actor=org["infra"])
    event = AuditEvent.objects.get(action="serviceidentity.registered")
    assert event.actor == org["infra"] and event.after["can_request_keys"] is True
    assert identity.user.entra_oid is None  # the directory sync never touches it
    assert list(identity.user.memberships.values_list("department__slug", "role")) == [
        ("alpha", "member")
    ]
    identity.department = org["b"]
    save_service_identity(identity, actor=org["infra"])
    assert list(identity.user.memberships.values_list("department__slug", flat=True)) == ["beta"]
    changed = AuditEvent.objects.get(action="serviceidentity.saved")
    assert changed.before["department"] == org["a"].pk
    assert changed.after["department"] == org["b"].pk
