"""Concurrent exchanges for one identity, released together by a barrier (real PostgreSQL,
real LiteLLM proxy)."""

import threading
from collections import Counter

import pytest
from django.db import connections

from pipelines.models import PipelineExchange

from .pipelines_support import AUDIENCE, exchange, litellm_keys, make_identity

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]


def run_together(tokens: list[str]) -> list:
    barrier = threading.Barrier(len(tokens))
    answers: list = [None] * len(tokens)

    def one(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            response = exchange(tokens[i])
            answers[i] = (response.status_code, response.json().get("type", "issued"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_twenty_concurrent_exchanges_with_two_live_keys_at_most_mint_exactly_two(
    org, litellm, github
):
    identity = make_identity(org, github.issuer, max_live_keys=2)
    tokens = [github.token(audience=AUDIENCE) for _ in range(20)]
    answers = Counter(run_together(tokens))
    assert answers == {(200, "issued"): 2, (429, "/api/v1/problems/too-many-keys"): 18}, answers
    assert PipelineExchange.objects.filter(identity=identity, outcome="issued").count() == 2
    assert PipelineExchange.objects.filter(outcome="too-many-keys").count() == 18
    assert len(litellm_keys(litellm, identity)) == 2


def test_one_token_used_by_five_at_once_mints_one_key(org, litellm, github):
    identity = make_identity(org, github.issuer)
    token = github.token(audience=AUDIENCE)
    answers = Counter(run_together([token] * 5))
    assert answers == {(200, "issued"): 1, (401, "/api/v1/problems/replay"): 4}, answers
    assert len(litellm_keys(litellm, identity)) == 1
