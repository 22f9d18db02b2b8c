"""The sweep removes run keys past their expiry from LiteLLM (keeping their spend), reconcile
removes keys the portal does not know as live; the identity page lists recent exchanges."""

import datetime

import pytest

from pipelines import services
from pipelines.models import PipelineExchange
from pipelines.tasks import sweep_pipeline_keys

from .integration import chat, wait_for
from .pipelines_support import AUDIENCE, exchange, litellm_keys, make_identity

pytestmark = [pytest.mark.litellm, pytest.mark.django_db]


def test_expired_run_keys_are_removed_with_their_spend(org, litellm, github, client):
    identity = make_identity(org, github.issuer)
    secret = exchange(github.token(audience=AUDIENCE)).json()["access_token"]
    assert chat(litellm.base_url, secret).status_code == 200
    row = PipelineExchange.objects.get(identity=identity)
    api = services.client()
    spent = wait_for(lambda: api.key_info(row.key_hash)["info"].get("spend"), timeout=60,
                     message="LiteLLM never recorded the key's spend")  # fmt: skip

    # Not yet expired: nothing to remove.
    assert services.remove_expired(now=row.key_expires_at - datetime.timedelta(seconds=1)) == 0
    # The clock past the key's expiry: removed from LiteLLM, its spend kept.
    assert services.remove_expired(now=row.key_expires_at + datetime.timedelta(seconds=1)) == 1
    row.refresh_from_db()
    assert row.key_removed_at is not None and float(row.spend) == pytest.approx(spent)
    assert litellm_keys(litellm, identity) == []
    assert chat(litellm.base_url, secret).status_code in (400, 401)

    # The department page: runs and spend per identity and repository.
    client.force_login(org["lead_a"])
    page = client.get(f"/departments/{org['a'].slug}/").content.decode()
    table = page[page.index('id="department-pipelines"') :]
    assert "payments-ci" in table and "octo-org/octo-repo" in table
    assert f'title="{format(row.spend.normalize(), "f")}"' in table  # the run's spend


def test_reconcile_deletes_keys_the_portal_does_not_know(org, litellm, github):
    identity = make_identity(org, github.issuer)
    assert exchange(github.token(audience=AUDIENCE)).status_code == 200
    live = PipelineExchange.objects.get(identity=identity).key_hash
    stray = services.client().generate_key(key_alias="stray", user_id=identity.litellm_user_id)
    result = sweep_pipeline_keys()
    assert result["stray"] == 1 and result["removed"] == 0
    assert [k["token"] for k in litellm_keys(litellm, identity)] == [live]
    assert stray["token"] != live


def test_the_identity_page_lists_recent_exchanges(org, client, github, pipeline_settings):
    identity = make_identity(org, github.issuer, active=False)
    PipelineExchange.objects.create(identity=identity, outcome="issued", run_id="987654",
                                    repository="octo-org/octo-repo", sha="a" * 40)  # fmt: skip
    PipelineExchange.objects.create(identity=identity, outcome="claim-mismatch",
                                    detail="The token's ref claim does not match.")  # fmt: skip
    client.force_login(org["lead_a"])
    page = client.get(identity.get_absolute_url()).content.decode()
    assert "987654" in page and "octo-org/octo-repo" in page and "ref claim" in page
    assert identity.decide_url() in page
    client.force_login(org["dev_b"])
    assert client.get(identity.get_absolute_url()).status_code == 404
