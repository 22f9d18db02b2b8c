"""Print a GitHub Actions-shaped OIDC token from the demo's CI issuer (scripts/demo_ci_issuer.py),
for the demo pipeline identity: what a job of ``demo-org/demo-repo`` on ``main`` would get.

    GENAI_PORTAL_ID_TOKEN=$(.venv/bin/python scripts/demo_ci_token.py) \\
        GENAI_PORTAL_URL=http://127.0.0.1:8000 .venv/bin/genai-portal exchange --export

Options: --repository, --ref, --audience (default: the issuer's issuer.json, i.e. the demo
portal's URL). The token lives 5 minutes and has a fresh ``jti`` (the portal refuses a replay).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import uuid

import jwt
from demo_ci_issuer import kid, signing_key, state_dir

REPOSITORY = "demo-org/demo-repo"
REF = "refs/heads/main"


def claims(issuer: str, audience: str, repository: str, ref: str, now: int) -> dict:
    """GitHub's claim set (and its times: nbf = iat − 600 s, exp = iat + 300 s)."""
    sha = secrets.token_hex(20)
    workflow_ref = f"{repository}/.github/workflows/eval.yml@{ref}"
    return {
        "jti": str(uuid.uuid4()),
        "sub": f"repo:{repository}:ref:{ref}",
        "aud": audience,
        "ref": ref,
        "sha": sha,
        "repository": repository,
        "repository_owner": repository.split("/", 1)[0],
        "run_id": str(secrets.randbelow(10**10)),
        "run_attempt": "1",
        "actor": "tanaka.kenji",
        "event_name": "push",
        "ref_type": "branch",
        "workflow_ref": workflow_ref,
        "job_workflow_ref": workflow_ref,
        "iss": issuer,
        "nbf": now - 600,
        "iat": now,
        "exp": now + 300,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default=REPOSITORY)
    parser.add_argument("--ref", default=REF)
    parser.add_argument("--audience", default="")
    args = parser.parse_args(argv)
    directory = state_dir()
    try:
        issuer = json.loads((directory / "issuer.json").read_text())
    except (OSError, ValueError):
        print(f"No demo CI issuer in {directory}: start `make demo` first.", file=sys.stderr)
        return 2
    key = signing_key(directory)
    payload = claims(issuer["issuer"], args.audience or issuer["audience"], args.repository,
                     args.ref, int(time.time()))  # fmt: skip
    headers = {"typ": "JWT", "kid": kid(key), "x5t": kid(key)}
    print(jwt.encode(payload, key, algorithm="RS256", headers=headers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
