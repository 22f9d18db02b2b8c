"""Sign-in with Entra ID: the real allauth flow against the OIDC double."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory

from portal.models import AuditEvent
from tenants.models import User

from .conftest import make_department
from .doubles.entra import EntraDouble, sign_in

pytestmark = pytest.mark.django_db

CALLBACK = "http://testserver/accounts/oidc/entra/login/callback/"
ROOT = Path(__file__).resolve().parent.parent


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


def use_organizations_authority(settings, entra: EntraDouble, tenants: list[str]) -> None:
    """Several allowed tenants: the app signs in through the multi-tenant authority."""
    settings.ENTRA_ALLOWED_TENANTS = tenants
    app = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"][0]
    app["settings"] = {**app["settings"], "server_url": f"{entra.base_url}/organizations/v2.0"}


def test_several_allowed_tenants_sign_in_through_organizations(
    client, entra, settings, departments
):
    second, third = "22222222-0000-0000-0000-000000000002", "33333333-0000-0000-0000-000000000003"
    use_organizations_authority(settings, entra, [entra.tenant_id, second])
    guest = entra.add_user(email="g@fabrikam.example", groups=["grp-alpha-members"], tenant=second)
    home = entra.add_user(email="h@contoso.example", groups=["grp-alpha-members"])
    outsider = entra.add_user(email="o@other.example", groups=["grp-alpha-members"], tenant=third)

    assert sign_in(client, entra, guest.oid).url == "/"
    assert User.objects.get(entra_oid=guest.oid).entra_tenant_id == second
    client.logout()
    assert sign_in(client, entra, home.oid).url == "/"
    client.logout()
    sign_in(client, entra, outsider.oid)
    assert not User.objects.filter(entra_oid=outsider.oid).exists()
    assert client.get("/").status_code == 302


def test_a_token_whose_issuer_is_another_tenant_is_refused_under_organizations(
    client, entra, settings, departments
):
    """tid says an allowed tenant; the issuer must then be exactly that tenant's."""
    second = "22222222-0000-0000-0000-000000000002"
    use_organizations_authority(settings, entra, [entra.tenant_id, second])
    person = entra.add_user(email="m@contoso.example", groups=["grp-alpha-members"])
    token = entra.make_id_token(person.oid, iss=f"{entra.base_url}/{second}/v2.0")
    from allauth.socialaccount.providers.oauth2.client import OAuth2Error

    from tenants.entra import EntraOAuth2Adapter

    request = RequestFactory().get("/")
    adapter = EntraOAuth2Adapter(request, "entra")
    app = adapter.get_provider().app
    with pytest.raises(OAuth2Error):
        adapter._decode_id_token(app, token)
    good = entra.make_id_token(person.oid)
    assert adapter._decode_id_token(app, good)["oid"] == person.oid


def test_settings_choose_the_organizations_authority_for_several_tenants():
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SOCIALACCOUNT_PROVIDERS['openid_connect']['APPS'][0]['settings']"
        "['server_url'])"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "1",
        "ENTRA_CLIENT_ID": "app",
        "ENTRA_TENANT_ID": "t1",
    }
    one = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True)
    env["ENTRA_ALLOWED_TENANTS"] = "t1,t2"
    two = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True)
    assert one.stdout.decode().strip() == "https://login.microsoftonline.com/t1/v2.0", one.stderr
    assert two.stdout.decode().strip() == "https://login.microsoftonline.com/organizations/v2.0"


def test_same_object_id_from_another_tenant_is_not_linked(client, entra, settings, departments):
    """A pending user from the directory sync (home tenant) is not handed to a sign-in that
    presents the same oid from another tenant."""
    second = "22222222-0000-0000-0000-000000000002"
    use_organizations_authority(settings, entra, [entra.tenant_id, second])
    person = entra.add_user(email="x@fabrikam.example", groups=["grp-alpha-leads"], tenant=second)
    pending = User.objects.create(
        username="x-home", email="x@contoso.example", entra_oid=person.oid
    )
    response = sign_in(client, entra, person.oid)
    assert response.status_code == 403
    assert b"Sign-in refused" in response.content
    assert client.get("/").status_code == 302
    assert not pending.socialaccount_set.exists()


def test_a_deactivated_pending_user_is_not_signed_in(client, entra, departments):
    person = entra.add_user(email="left@contoso.example", groups=["grp-alpha-members"])
    User.objects.create(username="left", email=person.email, entra_oid=person.oid, is_active=False)
    response = sign_in(client, entra, person.oid)
    assert response.status_code == 403
    assert client.get("/").status_code == 302


def test_a_reused_upn_signs_the_new_person_in_as_themselves(client, entra, departments):
    """Kim left; a new Kim gets the same UPN and e-mail. The new Kim signs in to a new
    account; the old one (and its keys) stays the old Kim's."""
    old = entra.add_user(email="kim@contoso.example", groups=["grp-alpha-members"])
    assert sign_in(client, entra, old.oid).url == "/"
    client.logout()
    User.objects.filter(entra_oid=old.oid).update(is_active=False)  # the directory sync
    new = entra.add_user(email="kim@contoso.example", groups=["grp-beta-members"])
    response = sign_in(client, entra, new.oid)
    assert response.status_code == 302 and response.url == "/", response.content[:500]
    user = User.objects.get(entra_oid=new.oid)
    assert user.email == "kim@contoso.example"
    assert [m.department.slug for m in user.memberships.all()] == ["beta"]
    assert User.objects.get(entra_oid=old.oid).is_active is False
    assert client.get("/").status_code == 200
