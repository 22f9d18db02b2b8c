"""``genai-portal`` commands. Everything goes through the REST API."""

from __future__ import annotations

import argparse
import sys

from . import exchange, pipelines, session
from .client import ApiError, Client
from .output import client_settings, emit

KEY_COLUMNS = ["id", "name", "kind", "status", "department", "secret_last4", "expires_at"]
PROJECT_COLUMNS = ["id", "name", "status", "department", "fulfilment", "expires_at"]
KINDS = [
    "key",
    "project",
    "budget",
    "pipeline",
    "model",
    "extension",
]  # what `requests` lists and decides
ACCESS_COLUMNS = [
    "id", "model_name", "change", "status", "department", "requester", "expected_monthly_spend",
    "created_at",
]  # fmt: skip
EXTENSION_COLUMNS = ["id", "key_id", "status", "lifetime_days", "new_expires_at"]
REQUEST_COLUMNS = ["kind", "id", "name", "status", "department", "requester", "created_at"]


def _list_or_show(client: Client, args, path: str, columns: list[str]) -> None:
    """``list`` (``--all``: everything the user may see) or ``show ID`` of one kind."""
    if args.action == "list":
        scope = "visible" if args.all else "mine"
        return emit(client.all(path, scope=scope), args.output, columns)
    return emit(client.get(f"{path}/{args.id}"), args.output, columns)


def _submit(client: Client, args, path: str, columns: list[str], fields: dict) -> None:
    """``request`` of any kind: its department, its own ``fields`` and why it is asked for."""
    body = {"department": args.department, **fields, "justification": args.justification}
    return emit(client.post(path, body), args.output, columns)


def _granted(client: Client, args, path: str, columns: list[str], fields: dict, reveal) -> None:
    """The actions keys and projects share: list, show, request, reveal, extend and the rest
    (a POST to ``{path}/{id}/{action}``). ``fields`` maps the request's own fields to arguments;
    ``reveal(secret)`` prints a revealed secret."""
    if args.action in ("list", "show"):
        return _list_or_show(client, args, path, columns)
    if args.action == "request":
        own = {field: getattr(args, arg) for field, arg in fields.items()}
        own.update(name=args.name, lifetime_days=args.days)
        return _submit(client, args, path, columns, own)
    if args.action == "reveal":
        secret = client.post(f"{path}/{args.id}/reveal")
        if args.output == "json":
            return emit(secret, "json")
        return reveal(secret)
    if args.action == "extend":
        body = {"lifetime_days": args.days, "justification": args.justification}
        shown = EXTENSION_COLUMNS if path == "/keys" else columns
        return emit(client.post(f"{path}/{args.id}/extend", body), args.output, shown)
    # rotate | revoke | end | cancel
    return emit(client.post(f"{path}/{args.id}/{args.action}"), args.output, columns)


# The request fields of each kind: API field <- command-line argument.
KEY_FIELDS = dict(
    kind="kind", llm_models="model", max_budget="budget", budget_duration="budget_period",
    rpm_limit="rpm", tpm_limit="tpm",
)  # fmt: skip
PROJECT_FIELDS = dict(purpose="purpose", retention_days="retention_days", route_key="route_key")


def _print_settings(secret: dict) -> None:
    print("Shown once, store it now:")
    for name, value in secret["settings"].items():
        print(f"  export {name}={value}")


def _keys(client: Client, args) -> None:
    return _granted(client, args, "/keys", KEY_COLUMNS, KEY_FIELDS, client_settings)


def _projects(client: Client, args) -> None:
    return _granted(client, args, "/projects", PROJECT_COLUMNS, PROJECT_FIELDS, _print_settings)


def _models(client: Client, args) -> None:
    """Model access requests: ask to add or remove a model for a department."""
    path = "/model-access"
    if args.action in ("list", "show"):
        return _list_or_show(client, args, path, ACCESS_COLUMNS)
    if args.action == "request":
        change = "remove" if args.remove else "add"
        fields = {"model_name": args.model, "change": change, "expected_monthly_spend": args.spend}
        return _submit(client, args, path, ACCESS_COLUMNS, fields)
    return emit(client.post(f"{path}/{args.id}/cancel"), args.output, ACCESS_COLUMNS)


def _requests(client: Client, args) -> None:
    if args.action == "list":
        path = "/requests/queue" if args.queue else "/requests/mine"
        return emit(client.all(path, kind=args.kind), args.output, REQUEST_COLUMNS)
    body = {"decision": args.action, "comment": args.comment or ""}
    decided = client.post(f"/requests/{args.kind}/{args.id}/decision", body)
    return emit(decided, args.output, REQUEST_COLUMNS)


def _costs(client: Client, args) -> None:
    paths = {"me": "/costs/me", "org": "/costs/org", "chargeback": "/costs/chargeback"}
    path = paths.get(args.scope) or f"/costs/departments/{args.department}"
    if args.scope == "chargeback":
        params = {"from": args.month_from, "to": args.month}
    else:
        params = {"month": args.month, "table": args.table}
    if args.output == "csv":
        # Without the byte order mark the pages add for Excel: a terminal pipes it on.
        sys.stdout.write(client.text(path, format="csv", **params).lstrip("\ufeff"))
        return None
    data = client.get(path, **params)
    if args.scope == "chargeback":
        return emit(data, args.output)
    if args.output == "json":
        return emit(data, "json")
    print(f"{args.scope} · {data['table']} · {data['month']}")
    return emit(data["rows"], "table", data["columns"])


def _request_parser(actions, *, days: int) -> argparse.ArgumentParser:
    """``request``: the arguments every kind of request has; the caller adds its own."""
    req = actions.add_parser("request")
    req.add_argument("--department", required=True)
    req.add_argument("--name", required=True)
    req.add_argument("--days", type=int, default=days)
    req.add_argument("--justification", required=True)
    return req


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genai-portal", description=__doc__)
    p.add_argument("--url", help="Portal URL (GENAI_PORTAL_URL)")
    p.add_argument("--output", "-o", choices=["table", "json", "csv"], default="table")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("login", help="Sign in with Entra ID (device code)")
    sub.add_parser("logout", help="Forget the cached tokens")
    sub.add_parser("whoami", help="Who the API thinks you are")

    keys = sub.add_parser("keys", help="LiteLLM virtual keys").add_subparsers(
        dest="action", required=True
    )
    keys.add_parser("list").add_argument("--all", action="store_true", help="all you may see")
    for name in ("show", "reveal", "rotate", "revoke", "cancel"):
        keys.add_parser(name).add_argument("id", type=int)
    req = _request_parser(keys, days=30)
    req.add_argument("--kind", choices=["personal", "service"], default="personal")
    req.add_argument("--model", action="append", required=True, help="repeat for more")
    req.add_argument("--budget", required=True, help="USD")
    req.add_argument("--budget-period", default="30d", choices=["", "1d", "7d", "30d"])
    req.add_argument("--rpm", type=int, default=60)
    req.add_argument("--tpm", type=int, default=100_000)
    ext = keys.add_parser("extend")
    ext.add_argument("id", type=int)
    ext.add_argument("--days", type=int, required=True)
    ext.add_argument("--justification", required=True)

    projects = sub.add_parser("projects", help="Langfuse tuning projects").add_subparsers(
        dest="action", required=True
    )
    projects.add_parser("list").add_argument("--all", action="store_true")
    for name in ("show", "reveal", "end", "cancel"):
        projects.add_parser(name).add_argument("id", type=int)
    preq = _request_parser(projects, days=14)
    preq.add_argument("--purpose", required=True)
    preq.add_argument("--retention-days", type=int)
    preq.add_argument("--route-key", type=int)

    models = sub.add_parser("models", help="Model access requests").add_subparsers(
        dest="action", required=True
    )
    models.add_parser("list").add_argument("--all", action="store_true", help="all you may see")
    for name in ("show", "cancel"):
        models.add_parser(name).add_argument("id", type=int)
    mreq = models.add_parser("request", help="ask to add (or --remove) a model")
    mreq.add_argument("--department", required=True)
    mreq.add_argument("--model", required=True)
    mreq.add_argument("--remove", action="store_true", help="ask to remove it instead")
    mreq.add_argument("--spend", default="0", help="expected monthly spend, USD")
    mreq.add_argument("--justification", required=True)

    requests = sub.add_parser("requests", help="Requests and approvals").add_subparsers(
        dest="action", required=True
    )
    rlist = requests.add_parser("list")
    rlist.add_argument("--queue", action="store_true", help="waiting for my decision")
    rlist.add_argument("--kind", choices=KINDS, default="key")
    for name in ("approve", "reject"):
        decide = requests.add_parser(name)
        decide.add_argument("id", type=int)
        decide.add_argument("--kind", choices=KINDS, default="key")
        decide.add_argument("--comment", required=name == "reject")

    pipelines.add_parser(sub)

    ex = sub.add_parser("exchange", help="In CI: the job's OIDC token for a short-lived key")
    ex.add_argument("--audience", help="the token's audience (default: the portal's URL)")
    ex.add_argument("--export", action="store_true", help="print export lines for eval")
    ex.add_argument("--token-file", default="", help="read the OIDC token from this file")
    ex.add_argument("--service-connection", default="", help="Azure DevOps: its id, if any")

    costs = sub.add_parser("costs", help="Spend").add_subparsers(dest="scope", required=True)
    for name in ("me", "department", "org", "chargeback"):
        c = costs.add_parser(name)
        if name == "department":
            c.add_argument("department", help="department slug")
        c.add_argument("--month", help="YYYY-MM (chargeback: last month of the range)")
        if name == "chargeback":
            c.add_argument("--from", dest="month_from", help="YYYY-MM")
        else:
            c.add_argument("--table", help="which table (default: the first)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = session.Config.from_env(args.url)
    try:
        if args.command == "login":
            claims = session.login(config)
            print(f"Signed in as {claims.get('preferred_username') or claims.get('name', '')}.")
            return 0
        if args.command == "logout":
            session.logout(config)
            return 0
        if args.command == "exchange":
            exchange.run(config, args)
            return 0
        client = Client(config)
        if args.command == "whoami":
            emit(client.get("/me"), args.output)
        else:
            commands = {
                "keys": _keys,
                "projects": _projects,
                "models": _models,
                "requests": _requests,
                "costs": _costs,
                "pipelines": pipelines.run,
            }
            commands[args.command](client, args)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except exchange.NoCiToken as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except session.LoginRequired as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
