"""The Entra ID double speaks OIDC like Entra: discovery, JWKS, code flow with PKCE, msal."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import msal
import pytest

from .doubles.entra import GRAPH_RESOURCE, EntraDouble, entra_double  # noqa: F401

REDIRECT = "http://testserver/accounts/oidc/entra/login/callback/"


def verify(double: EntraDouble, token: str, *, issuer: str | None = None) -> dict:
    """Verify an ID token the way a relying party does: keys from the advertised jwks_uri."""
    config = httpx.get(double.discovery_url).json()
    keys = jwt.PyJWKClient(config["jwks_uri"], cache_keys=False)
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=config["id_token_signing_alg_values_supported"],
        audience=double.client_id,
        issuer=issuer or config["issuer"],
    )


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize(double: EntraDouble, **extra: str) -> httpx.Response:
    params = {
        "client_id": double.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid profile email",
        "state": "st-123",
        **extra,
    }
    config = httpx.get(double.discovery_url).json()
    return httpx.get(config["authorization_endpoint"], params=params, follow_redirects=False)


def redeem(double: EntraDouble, code: str, **extra: str) -> httpx.Response:
    config = httpx.get(double.discovery_url).json()
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": double.client_id,
        "client_secret": double.client_secret,
        **extra,
    }
    return httpx.post(config["token_endpoint"], data=data)


def code_from(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def signed_in(entra_double: EntraDouble) -> EntraDouble:  # noqa: F811
    entra_double.register_redirect_uri(REDIRECT)
    entra_double.add_user("oid-ada", "ada@contoso.example", "Ada Lovelace", ["grp-a", "grp-b"])
    entra_double.login_as("oid-ada")
    return entra_double


def test_discovery_document_is_shaped_like_entra(entra_double: EntraDouble) -> None:  # noqa: F811
    tid = entra_double.tenant_id
    response = httpx.get(f"{entra_double.base_url}/{tid}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    config = response.json()
    base = entra_double.base_url
    assert config["issuer"] == f"{base}/{tid}/v2.0" == entra_double.issuer
    assert config["authorization_endpoint"] == f"{base}/{tid}/oauth2/v2.0/authorize"
    assert config["token_endpoint"] == f"{base}/{tid}/oauth2/v2.0/token"
    assert config["jwks_uri"] == f"{base}/{tid}/discovery/v2.0/keys"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"client_secret_post", "client_secret_basic"} <= set(
        config["token_endpoint_auth_methods_supported"]
    )
    assert "query" in config["response_modes_supported"]
    assert config["userinfo_endpoint"].endswith("/oidc/userinfo")
    assert config["msgraph_host"] == "graph.microsoft.com"
    assert entra_double.authority == f"{base}/{tid}"

    common = httpx.get(f"{base}/organizations/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == f"{base}/{{tenantid}}/v2.0"  # Entra's placeholder, literally

    unknown = httpx.get(f"{base}/not-a-tenant/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_tenant"
    assert unknown.json()["error_description"].startswith("AADSTS90002")


def test_jwks_verifies_an_id_token_with_pyjwt(entra_double: EntraDouble) -> None:  # noqa: F811
    entra_double.add_user("oid-1", "one@contoso.example", "One", ["g1"])
    keys = httpx.get(entra_double.jwks_url).json()["keys"]
    assert [k["kid"] for k in keys] == [entra_double.kid]
    assert keys[0]["kty"] == "RSA" and keys[0]["use"] == "sig"

    token = entra_double.make_id_token("oid-1", nonce="n-1")
    assert jwt.get_unverified_header(token)["kid"] == entra_double.kid
    claims = verify(entra_double, token)
    assert claims["oid"] == "oid-1" and claims["nonce"] == "n-1" and claims["groups"] == ["g1"]


def test_code_flow_with_pkce_and_nonce(signed_in: EntraDouble) -> None:
    verifier, challenge = pkce()
    params = code_from(
        authorize(
            signed_in,
            nonce="nonce-42",
            code_challenge=challenge,
            code_challenge_method="S256",
            response_mode="query",
        )
    )
    assert params["state"] == "st-123"

    response = redeem(signed_in, params["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) >= {"openid", "profile", "email"}
    claims = verify(signed_in, body["id_token"])
    assert claims["aud"] == signed_in.client_id
    assert claims["iss"] == signed_in.issuer
    assert claims["tid"] == signed_in.tenant_id
    assert claims["oid"] == "oid-ada" and claims["sub"] != "oid-ada"  # sub is pairwise
    assert claims["nonce"] == "nonce-42"
    assert claims["preferred_username"] == claims["email"] == "ada@contoso.example"
    assert claims["name"] == "Ada Lovelace" and claims["ver"] == "2.0"
    assert claims["groups"] == ["grp-a", "grp-b"]
    assert claims["nbf"] <= claims["iat"] < claims["exp"]

    # The code is single-use.
    again = redeem(signed_in, params["code"], code_verifier=verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # Userinfo (Bearer access token) is Entra's: sub, name, email; no groups.
    info = httpx.get(
        signed_in.server_url.rsplit("/", 2)[0] + "/oidc/userinfo",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"] and info.json()["email"] == "ada@contoso.example"
    assert "groups" not in info.json()
    assert httpx.get(signed_in.base_url + "/oidc/userinfo").status_code == 401


def test_pkce_verifier_is_checked(signed_in: EntraDouble) -> None:
    _, challenge = pkce()
    params = code_from(authorize(signed_in, code_challenge=challenge, code_challenge_method="S256"))
    response = redeem(signed_in, params["code"], code_verifier="not-the-verifier")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_codes"] == [501481]


def test_client_secret_basic_and_bad_secret(signed_in: EntraDouble) -> None:
    params = code_from(authorize(signed_in))
    token_url = f"{signed_in.authority}/oauth2/v2.0/token"
    form = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT}
    bad = httpx.post(token_url, data=form, auth=(signed_in.client_id, "wrong"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    good = httpx.post(token_url, data=form, auth=(signed_in.client_id, signed_in.client_secret))
    assert good.status_code == 200, good.text
    assert "nonce" not in verify(signed_in, good.json()["id_token"])  # none was sent


def test_authorize_validates_client_and_redirect_uri(signed_in: EntraDouble) -> None:
    unknown_client = authorize(signed_in, client_id="someone-else")
    assert unknown_client.status_code == 400 and "AADSTS700016" in unknown_client.text
    wrong_redirect = authorize(signed_in, redirect_uri="http://evil.example/cb")
    assert wrong_redirect.status_code == 400 and "AADSTS50011" in wrong_redirect.text

    signed_in.login_as(None)
    params = code_from(authorize(signed_in))
    assert params["error"] == "login_required" and params["state"] == "st-123"


def test_form_post_response_mode(signed_in: EntraDouble) -> None:
    response = authorize(signed_in, response_mode="form_post")
    assert response.status_code == 200
    assert f'action="{REDIRECT}"' in response.text and 'name="code"' in response.text


def test_overage_token_has_claim_sources_not_groups(signed_in: EntraDouble) -> None:
    many = [f"grp-{i}" for i in range(250)]
    signed_in.add_user("oid-big", "big@contoso.example", "Big Groups", many, overage=True)
    signed_in.login_as("oid-big")
    body = redeem(signed_in, code_from(authorize(signed_in))["code"]).json()
    claims = verify(signed_in, body["id_token"])
    assert "groups" not in claims
    assert claims["_claim_names"] == {"groups": "src1"}
    assert claims["_claim_sources"] == {
        "src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/oid-big/getMemberObjects"}
    }


def test_tampered_id_token_fails_verification(signed_in: EntraDouble) -> None:
    signed_in.tamper_next_id_token()
    body = redeem(signed_in, code_from(authorize(signed_in))["code"]).json()
    with pytest.raises(jwt.InvalidSignatureError):
        verify(signed_in, body["id_token"])
    # Only the next one: the following sign-in verifies again.
    body = redeem(signed_in, code_from(authorize(signed_in))["code"]).json()
    assert verify(signed_in, body["id_token"])["oid"] == "oid-ada"


def test_token_from_another_tenant_fails_issuer_check(signed_in: EntraDouble) -> None:
    signed_in.issue_next_from_tenant("00000000-0000-0000-0000-0000000000ff")
    body = redeem(signed_in, code_from(authorize(signed_in))["code"]).json()
    unverified = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert unverified["tid"] == "00000000-0000-0000-0000-0000000000ff"
    assert unverified["iss"] == f"{signed_in.base_url}/{unverified['tid']}/v2.0"
    with pytest.raises(jwt.InvalidIssuerError):
        verify(signed_in, body["id_token"])  # tenant-specific issuer, as allauth checks it


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"instance_discovery": False}, id="instance_discovery=False"),
        pytest.param({"validate_authority": False}, id="validate_authority=False"),
        pytest.param({"instance_discovery": "double"}, id="instance_discovery=url"),
    ],
)
def test_msal_client_credentials_against_the_double(
    entra_double: EntraDouble,  # noqa: F811
    options: dict,
) -> None:
    from portal.integrations.graph import _PinnedVerifySession

    if options.get("instance_discovery") == "double":
        options = {"instance_discovery": entra_double.instance_discovery_url}
    session = _PinnedVerifySession()
    session.verify = entra_double.ca_bundle  # wins over REQUESTS_CA_BUNDLE
    app = msal.ConfidentialClientApplication(
        entra_double.client_id,
        client_credential=entra_double.client_secret,
        authority=entra_double.https_authority,
        http_client=session,
        **options,
    )
    for _ in range(3):
        result = app.acquire_token_for_client(scopes=[f"{GRAPH_RESOURCE}/.default"])
        assert "access_token" in result, result
    assert entra_double.client_credentials_issued == 1  # msal served two from its cache
    claims = entra_double.verify_access_token(result["access_token"]).claims
    assert claims["aud"] == GRAPH_RESOURCE and claims["tid"] == entra_double.tenant_id
    assert "GroupMember.Read.All" in claims["roles"]


def test_msal_rejects_a_wrong_secret(entra_double: EntraDouble) -> None:  # noqa: F811
    session = _session(entra_double)
    app = msal.ConfidentialClientApplication(
        entra_double.client_id,
        client_credential="wrong",
        authority=entra_double.https_authority,
        instance_discovery=False,
        http_client=session,
    )
    result = app.acquire_token_for_client(scopes=[f"{GRAPH_RESOURCE}/.default"])
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]


def _session(double: EntraDouble):
    from portal.integrations.graph import _PinnedVerifySession

    session = _PinnedVerifySession()
    session.verify = double.ca_bundle
    return session


def test_https_listener_serves_the_same_tenant(entra_double: EntraDouble) -> None:  # noqa: F811
    import ssl

    trust = ssl.create_default_context(cafile=entra_double.ca_bundle)
    config = httpx.get(
        f"{entra_double.https_issuer}/.well-known/openid-configuration", verify=trust
    ).json()
    assert config["issuer"] == entra_double.https_issuer
    assert config["token_endpoint"] == f"{entra_double.https_authority}/oauth2/v2.0/token"
    keys = httpx.get(config["jwks_uri"], verify=trust).json()["keys"]
    assert keys[0]["kid"] == entra_double.kid
