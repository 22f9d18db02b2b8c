"""Claim rules: exact values and simple patterns, on GitHub's and Azure DevOps' claims."""

import pytest

from pipelines.claims import claim_matches, first_mismatch, run_facts


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("refs/heads/main", "refs/heads/main", True),
        ("refs/heads/main", "refs/heads/main2", False),
        ("refs/heads/release/*", "refs/heads/release/1.2", True),
        ("refs/heads/release/*", "refs/heads/release/1.2/hotfix", False),
        ("refs/heads/release/**", "refs/heads/release/1.2/hotfix", True),
        ("octo-org/*", "octo-org/app", True),
        ("octo-org/*", "octo-org-evil/app", False),
        ("octo-org/app", "Octo-Org/app", False),
        ("p://contoso/payments/*", "p://contoso/payments/payments-ci", True),
        ("v?.0", "v1.0", True),
        ("a.b", "axb", False),  # a dot is a dot
        ("true", True, True),
        ("42", 42, True),
        ("*", ["a"], False),  # only strings and numbers are compared
    ],
)
def test_patterns(pattern, value, matches):
    assert claim_matches(pattern, value) is matches


def test_every_rule_must_match_and_the_first_failing_claim_is_named():
    claims = {
        "repository": "octo-org/app",
        "ref": "refs/heads/dev",
        "environment": "prod",
        "job_workflow_ref": "octo-org/app/.github/workflows/eval.yml@refs/heads/dev",
    }
    rules = {"repository": "octo-org/app", "ref": "refs/heads/main", "environment": "prod"}
    assert first_mismatch(rules, claims) == "ref"
    assert first_mismatch({**rules, "ref": ["refs/heads/main", "refs/heads/dev"]}, claims) is None
    assert first_mismatch({"environment": "prod", "workflow": "CI"}, claims) == "workflow"
    assert first_mismatch({"job_workflow_ref": "octo-org/app/.github/workflows/eval.yml@**"},
                          claims) is None  # fmt: skip


def test_run_facts_read_each_ci_s_claims():
    github = run_facts({"repository": "o/r", "run_id": "7", "sha": "abc", "ref": "refs/heads/m"})
    assert (github["repository"], github["run_id"], github["sha"]) == ("o/r", "7", "abc")
    ado = run_facts({"rpo_uri": "https://dev.azure.com/c/p/_git/p", "run_id": "9",
                     "rpo_ver": "def", "rpo_ref": "refs/heads/main"})  # fmt: skip
    assert (ado["repository"], ado["sha"], ado["ref"]) == (
        "https://dev.azure.com/c/p/_git/p", "def", "refs/heads/main")  # fmt: skip
