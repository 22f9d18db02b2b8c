"""``genai-portal pipelines``: request, list, show and disable pipeline identities."""

from __future__ import annotations

import argparse

from .client import ApiError, Client
from .output import emit

COLUMNS = ["id", "name", "status", "department", "requester", "issuer", "expires_at"]
ISSUERS = ["github", "azure_devops", "gitlab", "kubernetes", "entra"]


def add_parser(sub) -> None:
    actions = sub.add_parser(
        "pipelines", help="Pipeline identities (CI jobs get keys without stored secrets)"
    ).add_subparsers(dest="action", required=True)
    actions.add_parser("list").add_argument("--all", action="store_true", help="all you may see")
    actions.add_parser("show").add_argument("id", type=int)
    disable = actions.add_parser("disable")
    disable.add_argument("id", type=int)
    disable.add_argument("--reason", default="")
    req = actions.add_parser("request")
    req.add_argument("--department", required=True)
    req.add_argument("--name", required=True)
    req.add_argument("--issuer", choices=ISSUERS, required=True)
    req.add_argument(
        "--issuer-detail",
        default="",
        help="Azure DevOps org id, Entra tenant id, GitLab/Kubernetes issuer URL",
    )
    req.add_argument("--audience", required=True)
    req.add_argument(
        "--claim",
        action="append",
        required=True,
        metavar="NAME=PATTERN",
        help="a claim the token must carry; repeat for more",
    )
    req.add_argument("--model", action="append", required=True, help="repeat for more")
    req.add_argument("--run-budget", required=True, help="USD per run")
    req.add_argument("--run-lifetime", type=int, default=3600, help="seconds a run's key lives")
    req.add_argument("--daily-budget", required=True, help="USD per UTC day, all runs")
    req.add_argument("--max-live-keys", type=int, default=5)
    req.add_argument("--days", type=int, default=90, help="how long the identity is trusted")
    req.add_argument("--justification", required=True)  # fmt: skip


def claim_rules(pairs: list[str]) -> dict[str, str]:
    rules = {}
    for pair in pairs:
        name, sep, pattern = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--claim {pair!r}: write NAME=PATTERN")
        rules[name.strip()] = pattern.strip()
    return rules


def run(client: Client, args) -> None:
    if args.action == "list":
        scope = "visible" if args.all else "mine"
        return emit(client.all("/pipelines", scope=scope), args.output, COLUMNS)
    if args.action == "show":
        return emit(client.get(f"/pipelines/{args.id}"), args.output, COLUMNS)
    if args.action == "disable":
        path = f"/pipelines/{args.id}/disable"
        disabled = client.request("POST", path, params={"reason": args.reason}).json()
        return emit(disabled, args.output, COLUMNS)
    try:
        rules = claim_rules(args.claim)
    except argparse.ArgumentTypeError as exc:
        raise ApiError(400, {"title": "Bad argument", "detail": str(exc)}) from None
    body = {
        "department": args.department,
        "name": args.name,
        "issuer_kind": args.issuer,
        "issuer_detail": args.issuer_detail,
        "audience": args.audience,
        "claim_rules": rules,
        "llm_models": args.model,
        "run_budget": args.run_budget,
        "run_lifetime_seconds": args.run_lifetime,
        "daily_budget": args.daily_budget,
        "max_live_keys": args.max_live_keys,
        "lifetime_days": args.days,
        "justification": args.justification,
    }
    return emit(client.post("/pipelines", body), args.output, COLUMNS)
