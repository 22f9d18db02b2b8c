"""What an identity trusts: the issuers it may name, and claim rules (exact or glob).

A rule's value is compared with the token's claim as a whole string; ``*`` matches any run of
characters except ``/``, ``**`` any run including ``/``, ``?`` one character. Nothing else is
special, so ``refs/heads/main`` is exact and ``refs/heads/release/*`` one level of releases.
"""

from __future__ import annotations

import functools
import re

from django.utils.translation import gettext_lazy as _

GITHUB = "https://token.actions.githubusercontent.com"
AZURE_DEVOPS = "https://vstoken.dev.azure.com/"  # + the organisation's id
GITLAB = "https://gitlab.com"
ENTRA = "https://login.microsoftonline.com/"  # + {tid}/v2.0

# The claims each CI names, for the form's help and the page (rules may name any claim).
KNOWN_CLAIMS = {
    "github": ["repository", "ref", "environment", "job_workflow_ref", "workflow_ref",
               "repository_owner", "event_name", "sub"],
    "azure_devops": ["sub", "org_id", "prj_id", "def_id", "rpo_uri", "rpo_ref"],
    "gitlab": ["project_path", "ref", "ref_type", "environment", "namespace_path", "sub"],
    "kubernetes": ["sub"],
    "entra": ["sub", "oid", "appid", "azp"],
}  # fmt: skip

ISSUER_KINDS = [
    ("github", _("GitHub Actions")),
    ("azure_devops", _("Azure DevOps")),
    ("gitlab", _("GitLab")),
    ("kubernetes", _("Kubernetes service account")),
    ("entra", _("Entra ID workload identity")),
]


def issuer_kind(issuer: str) -> str:
    if issuer == GITHUB:
        return "github"
    if issuer.startswith(AZURE_DEVOPS):
        return "azure_devops"
    if issuer.startswith(ENTRA):
        return "entra"
    if "gitlab" in issuer:
        return "gitlab"
    return "kubernetes"


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append(".")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def claim_matches(pattern: str, value) -> bool:
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, str | int):
        return False
    return compile_pattern(pattern).fullmatch(str(value)) is not None


def first_mismatch(rules: dict[str, str | list[str]], claims: dict) -> str | None:
    """The first rule's claim name that the token does not satisfy (None: all match). A rule
    may list several patterns: any one of them matches."""
    for name, patterns in sorted(rules.items()):
        options = patterns if isinstance(patterns, list) else [patterns]
        if name not in claims or not any(claim_matches(p, claims[name]) for p in options):
            return name
    return None


def run_facts(claims: dict) -> dict[str, str]:
    """What names the run, from the claims of whichever CI issued the token."""

    def first(*names: str) -> str:
        for name in names:
            if claims.get(name) not in (None, ""):
                return str(claims[name])[:300]
        return ""

    return {
        "repository": first("repository", "rpo_uri", "project_path"),
        "run_id": first("run_id", "pipeline_id"),
        "run_attempt": first("run_attempt"),
        "sha": first("sha", "rpo_ver"),
        "ref": first("ref", "rpo_ref"),
        "workflow": first("job_workflow_ref", "workflow_ref", "def_id"),
        "subject": first("sub"),
    }
