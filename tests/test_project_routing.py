"""A tuning project that routes a virtual key's traces: the real LiteLLM proxy keeps the key's
per-key Langfuse logging metadata while the lease runs, and loses only that when it ends."""

import json
import subprocess

import httpx
import pytest

from approvals.lifecycle import Status
from keys.models import VirtualKey
from portal.celery import app as celery_app
from portal.integrations.litellm import LiteLLMClient
from projects.models import TuningProject

from . import integration
from .integration import (
    chat,
    request_and_approve,
    reveal_key,
    start_worker,
    wait_for_status,
    wait_project,
)
from .litellm_proxy import LITELLM_VENV

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]

KEY_REQUEST = {
    **integration.KEY_REQUEST,
    "name": "traced-agent",
    "justification": "Agent whose traces we want to tune.",
}

PROJECT_REQUEST = {
    "name": "agent-tuning",
    "purpose": "Tune the agent on its own traces.",
    "lifetime_days": "14",
    "retention_days": "7",
    "justification": "Before the pilot.",
}


@pytest.fixture
def both_worker(litellm, langfuse, transactional_db):
    """One worker that talks to the real LiteLLM proxy (settings set by ``litellm``) and to the
    Langfuse double: it provisions the key, then the project and its routing."""
    worker = start_worker(**langfuse.env())
    yield worker
    worker.stop()
    celery_app.conf.task_default_queue = "portal"


def key_info(key: VirtualKey) -> dict:
    return LiteLLMClient.from_settings().key_info(key.litellm_key_id)["info"]


DECRYPT = """
import json, sys
from litellm.proxy.common_utils.encrypt_decrypt_utils import _decrypt_with_signing_key
prefix = "litellm_enc::"
args = json.load(sys.stdin)
out = {}
for name, value in args["vars"].items():
    if isinstance(value, str) and value.startswith(prefix):
        value = _decrypt_with_signing_key(value=value[len(prefix):], signing_key=args["key"])
    out[name] = value
print(json.dumps(out))
"""


def plain_callback_vars(litellm, callback_vars: dict) -> dict:
    """LiteLLM stores credential-like callback vars encrypted (``litellm_enc::`` + its salt key,
    here the master key); decrypt them with LiteLLM's own code to compare."""
    result = subprocess.run(
        [str(LITELLM_VENV / "bin" / "python"), "-c", DECRYPT],
        input=json.dumps({"vars": callback_vars, "key": litellm.master_key}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def active_key(client, org, worker) -> VirtualKey:
    key = request_and_approve(client, org, "keys", KEY_REQUEST)
    key = wait_for_status(key.pk, Status.ACTIVE, worker=worker)
    assert key.litellm_key_id
    key.revealed_secret = reveal_key(client, key)
    return key


def routed_project(client, org, key) -> TuningProject:
    project = request_and_approve(client, org, "projects", PROJECT_REQUEST, route_key=key.pk)
    assert project.route_key_id == key.pk
    return project


def test_project_routes_key_traces_then_unroutes_at_the_end(
    client, org, litellm, langfuse, both_worker
):
    key = active_key(client, org, both_worker)
    before = key_info(key)["metadata"]
    assert before["portal_request_id"] == key.pk and before["department"] == "alpha"
    assert "logging" not in before

    project = routed_project(client, org, key)
    project = wait_project(project.pk, lambda p: p.status == Status.ACTIVE, both_worker)
    assert project.routed_at is not None
    assert project.steps["routing"]["result"] == "routed"
    assert project.portal_public_key and project.portal_public_key != project.public_key

    metadata = key_info(key)["metadata"]
    assert metadata["portal_request_id"] == key.pk
    assert metadata["department"] == "alpha"
    [callback] = metadata["logging"]
    assert callback["callback_name"] == "langfuse"
    callback_vars = plain_callback_vars(litellm, callback["callback_vars"])
    assert callback_vars["langfuse_public_key"] == project.portal_public_key
    assert callback_vars["langfuse_secret_key"] == project.portal_secret()
    assert callback_vars["langfuse_host"] == langfuse.url
    # While routed, the key keeps answering (LiteLLM sends its traces to the project).
    answer = chat(litellm.base_url, key.revealed_secret)
    assert answer.status_code == 200, answer.text
    # The project page tells the owner that the key's traces go there.
    assert "✓" in client.get(f"/projects/{project.pk}/").content.decode()

    # The owner ends the lease: a worker removes the routing, the keys and the project.
    response = client.post(f"/projects/{project.pk}/end/")
    assert response.status_code == 302
    project = wait_project(project.pk, lambda p: p.torn_down_at is not None, both_worker)
    assert project.status == Status.REVOKED and project.routed_at is None
    assert langfuse.project_by_name(project.project_name) is None

    metadata = key_info(key)["metadata"]
    assert "logging" not in metadata
    assert metadata["portal_request_id"] == key.pk
    assert metadata["department"] == "alpha"

    # The key itself is untouched: still active in the portal and answering in LiteLLM.
    assert VirtualKey.objects.get(pk=key.pk).status == Status.ACTIVE
    answer = chat(litellm.base_url, key.revealed_secret)
    assert answer.status_code == 200, answer.text


def test_key_holder_cannot_read_the_portals_langfuse_secret(
    client, org, litellm, langfuse, both_worker
):
    """The routed key's LiteLLM metadata carries the portal's own Langfuse key pair for the
    lease. Its holder asks LiteLLM about their own key, user and team with the key itself:
    the secret never comes back in plain text."""
    key = active_key(client, org, both_worker)
    project = routed_project(client, org, key)
    project = wait_project(project.pk, lambda p: p.status == Status.ACTIVE, both_worker)
    secret = project.portal_secret()
    assert secret.startswith("sk-lf-")
    holder = {"Authorization": f"Bearer {key.revealed_secret}"}
    answers = {}
    for path, params in [
        ("/key/info", {"key": key.revealed_secret}),
        ("/key/info", {}),
        ("/user/info", {"user_id": org["dev_a"].entra_oid}),
        ("/user/info", {}),
        ("/team/info", {"team_id": f"portal-{org['a'].slug}"}),
        ("/key/list", {}),
        ("/v2/key/info", {}),
    ]:
        response = httpx.get(f"{litellm.base_url}{path}", params=params, headers=holder)
        answers[(path, tuple(params))] = (response.status_code, response.text)
        assert secret not in response.text, f"{path} {params} leaks the secret"
    # The holder did get an answer about their own key (so the check above means something):
    # the callback variables are there, the secret only as LiteLLM's ciphertext (its salt key).
    status, text = answers[("/key/info", ("key",))]
    assert status == 200, text[:500]
    [callback] = json.loads(text)["info"]["metadata"]["logging"]
    assert callback["callback_vars"]["langfuse_secret_key"].startswith("litellm_enc::")
