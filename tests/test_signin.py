"""Sign-in with Entra ID: the real allauth flow against the OIDC double."""

from urllib.parse import urlsplit

import httpx
import pytest

from portal.models import AuditEvent
from tenants.models import User

from .conftest import make_department
from .doubles.entra import EntraDouble

pytestmark = pytest.mark.django_db

CALLBACK = "http://testserver/accounts/oidc/entra/login/callback/"


@pytest.fixture
def entra(settings):
    double = EntraDouble(tls=False)
    double.register_redirect_uri(CALLBACK)
    settings.ENTRA_TENANT_ID = double.tenant_id
    settings.ENTRA_ALLOWED_TENANTS = [double.tenant_id]
    settings.ENTRA_INFRA_GROUP_ID = "grp-platform"
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            **settings.SOCIALACCOUNT_PROVIDERS["openid_connect"],
            "APPS": [
                {
                    "provider_id": "entra",
                    "name": "Microsoft Entra ID",
                    "client_id": double.client_id,
                    "secret": double.client_secret,
                    "settings": {
                        "server_url": double.server_url,
                        "uid_field": "oid",
                        "fetch_userinfo": False,
                        "token_auth_method": "client_secret_post",
                    },
                }
            ],
        }
    }
    yield double
    double.close()


def sign_in(client, entra: EntraDouble, oid: str):
    """Click "Sign in with Microsoft Entra ID", let the IdP answer, land on the callback."""
    entra.login_as(oid)
    start = client.post("/accounts/oidc/entra/login/")
    assert start.status_code == 302, start.content[:500]
    authorize = httpx.get(start.url, follow_redirects=False)
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(authorize.headers["location"])
    return client.get(f"{back.path}?{back.query}")


@pytest.fixture
def departments(db):
    return make_department("alpha"), make_department("beta")


def test_sign_in_page_offers_entra(client, entra):
    html = client.get("/accounts/login/").content.decode()
    assert 'action="/accounts/oidc/entra/login/' in html
    assert "Sign in with Microsoft Entra ID" in html


def test_sign_in_creates_user_and_maps_groups(client, entra, departments):
    person = entra.add_user(
        email="aiko@contoso.example",
        name="Aiko Mori",
        groups=["grp-alpha-members", "grp-beta-leads", "grp-platform"],
    )
    response = sign_in(client, entra, person.oid)
    assert response.status_code == 302 and response.url == "/"
    user = User.objects.get(entra_oid=person.oid)
    assert (user.email, user.display_name, user.entra_tenant_id) == (
        "aiko@contoso.example",
        "Aiko Mori",
        entra.tenant_id,
    )
    assert sorted(user.entra_groups) == ["grp-alpha-members", "grp-beta-leads", "grp-platform"]
    roles = {m.department.slug: m.role for m in user.memberships.all()}
    assert roles == {"alpha": "member", "beta": "lead"}
    assert user.is_infra and user.is_staff
    html = client.get("/").content.decode()
    assert 'data-nav="infra"' in html and "Aiko Mori" in html
    assert AuditEvent.objects.filter(action="user.signed_in", actor=user).exists()


def test_roles_follow_groups_at_every_sign_in(client, entra, departments):
    person = entra.add_user(email="ken@contoso.example", groups=["grp-alpha-leads"])
    sign_in(client, entra, person.oid)
    client.logout()
    person.groups = ["grp-beta-members"]
    sign_in(client, entra, person.oid)
    user = User.objects.get(entra_oid=person.oid)
    assert {m.department.slug: m.role for m in user.memberships.all()} == {"beta": "member"}
    assert User.objects.filter(entra_oid=person.oid).count() == 1


def test_user_in_no_mapped_group_sees_why(client, entra, departments):
    person = entra.add_user(email="guest@contoso.example", groups=["grp-unrelated"])
    sign_in(client, entra, person.oid)
    assert b'id="no-department"' in client.get("/").content


def test_tampered_id_token_is_refused(client, entra, departments):
    person = entra.add_user(email="eve@contoso.example", groups=["grp-alpha-leads"])
    entra.tamper_next_id_token()
    sign_in(client, entra, person.oid)
    assert not User.objects.filter(entra_oid=person.oid).exists()
    assert client.get("/").status_code == 302  # still anonymous


def test_token_from_another_tenant_is_refused(client, entra, departments):
    person = entra.add_user(email="out@fabrikam.example", groups=["grp-alpha-members"])
    entra.issue_next_from_tenant("11111111-2222-3333-4444-555555555555")
    sign_in(client, entra, person.oid)
    assert not User.objects.filter(entra_oid=person.oid).exists()
    assert client.get("/").status_code == 302


def test_tenant_not_allowed_gets_a_clear_refusal(client, entra, settings, departments):
    settings.ENTRA_ALLOWED_TENANTS = ["another-tenant"]
    person = entra.add_user(email="aiko@contoso.example", groups=["grp-alpha-members"])
    response = sign_in(client, entra, person.oid)
    assert response.status_code == 403
    assert b"Sign-in refused" in response.content
    assert client.get("/").status_code == 302


def test_group_overage_keeps_roles_and_flags_the_user(client, entra, departments):
    person = entra.add_user(email="many@contoso.example", groups=["grp-alpha-members"])
    sign_in(client, entra, person.oid)
    client.logout()
    person.overage = True  # now in more than 200 groups: _claim_names instead of groups
    sign_in(client, entra, person.oid)
    user = User.objects.get(entra_oid=person.oid)
    assert user.groups_overage
    assert [m.department.slug for m in user.memberships.all()] == ["alpha"]
