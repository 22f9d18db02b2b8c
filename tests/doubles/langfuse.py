"""A stateful Langfuse API double: a real HTTP server that checks itself against Langfuse's OpenAPI.

Every request it receives and every response it sends is validated against ``openapi.yml``
(``<repo>/../shared/reference/langfuse/`` or ``$LANGFUSE_OPENAPI_DIR``). A violation is recorded in
``double.errors`` and answered with 500, and the ``langfuse_double`` fixture fails the test at
teardown unless the test consumed the errors with ``double.take_errors()``.

Where Langfuse's code and its generated spec disagree, the code wins and the difference is listed
in ``KNOWN_DEVIATIONS`` (each one taken from the reference NOTES.md).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import secrets
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ..servers import QuietHandler, serve, shut

OTLP_TRACES = "/api/public/otel/v1/traces"

ENTITLEMENT_MESSAGE = "This feature is not available on your current plan."
ORG_KEY_REQUIRED = "Invalid API key. Organization-scoped API key required for this operation."
PROJECT_KEY_REQUIRED = "Access denied - insufficient permissions for this endpoint"
V4_EVENTS_ONLY = (
    "This endpoint is not available on deployments running in Langfuse v4 events_only mode. "
    "See https://langfuse.com/self-hosting/upgrade/upgrade-guides/upgrade-v3-to-v4"
)
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

#: Where the real server differs from its generated OpenAPI (source: NOTES.md §1, §3). The
#: statuses and shapes that follow from these are compared with the real Langfuse 4.16 by
#: tests/test_langfuse_contract.py (same client calls against both; no unexplained difference).
KNOWN_DEVIATIONS: dict[str, Any] = {
    # The handlers answer 201 (204) where fern documents 200; validate against the 200 entry.
    "status_alias": {
        ("post", "/api/public/projects", 201): 200,
        ("post", "/api/public/projects/{projectId}/apiKeys", 201): 200,
        ("post", "/api/public/scim/Users", 201): 200,
        ("delete", "/api/public/scim/Users/{userId}", 204): 200,
    },
    # Statuses the code returns that fern does not list (any operation): conflicts, rate limit,
    # server errors. Their bodies must still have Langfuse's error shape.
    "extra_error_statuses": {409, 422, 429, 500, 502, 503},
    # Prisma's Role enum (and the handlers' z.enum(Role)) also accept NONE.
    "membership_roles": ["OWNER", "ADMIN", "MEMBER", "VIEWER", "NONE"],
    # Fern's Project requires `organization`; createProject.ts and projectById/index.ts answer
    # without it (seen on the real server by tests/test_langfuse_contract.py).
    "omitted_required": {
        ("post", "/api/public/projects"): {"organization": {"id": "", "name": ""}},
        ("put", "/api/public/projects/{projectId}"): {"organization": {"id": "", "name": ""}},
    },
}

ERROR_BODY_SCHEMA = {
    "type": "object",
    "anyOf": [
        {"required": ["message"]},
        {"required": ["error"]},
        {"required": ["detail", "schemas"]},
    ],
}


def spec_dir() -> Path:
    override = os.environ.get("LANGFUSE_OPENAPI_DIR")
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "reference" / "langfuse"


# -- OpenAPI 3.0 -> JSON Schema ------------------------------------------------------------------


def _convert(node: Any, base: str) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema 2020-12 (nullable, $ref to an absolute URI)."""
    if isinstance(node, list):
        return [_convert(n, base) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v, base) for k, v in node.items() if k not in ("nullable", "example")}
    if "$ref" in out and out["$ref"].startswith("#"):
        out["$ref"] = base + out["$ref"]
    if node.get("nullable"):
        if "$ref" in out:
            ref = {"$ref": out.pop("$ref")}
            out = {"anyOf": [ref, {"type": "null"}], **out}
        elif "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
    return out


def _datetime_ok(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value


_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("date-time")(_datetime_ok)


@dataclass
class Operation:
    spec: str
    method: str
    template: str
    regex: re.Pattern[str]
    op: dict[str, Any]


class Spec:
    """Both Langfuse OpenAPI files, converted and indexed for request/response validation."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.operations: list[Operation] = []
        self.docs: dict[str, dict[str, Any]] = {}
        for name in ("openapi.yml", "organizations-openapi.yml"):
            raw = yaml.load((directory / name).read_text(), Loader=_Loader)  # noqa: S506
            base = f"urn:langfuse:{name}"
            if name == "openapi.yml":
                roles = KNOWN_DEVIATIONS["membership_roles"]
                raw["components"]["schemas"]["MembershipRole"]["enum"] = list(roles)
            doc = _convert(raw, base)
            doc["$id"] = base
            self.docs[name] = doc
            for template, item in doc["paths"].items():
                pattern = "^" + re.sub(r"\{([^/}]+)\}", r"(?P<\1>[^/]+)", template) + "$"
                for method, op in item.items():
                    if method in ("get", "put", "post", "delete", "patch"):
                        self.operations.append(
                            Operation(name, method, template, re.compile(pattern), op)
                        )
        # Literal templates first, so /organizations/projects beats /projects/{projectId}.
        self.operations.sort(key=lambda o: o.template.count("{"))
        self.registry = Registry().with_resources(
            (doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012))
            for doc in self.docs.values()
        )

    def find(self, method: str, path: str) -> tuple[Operation | None, dict[str, str]]:
        for op in self.operations:
            match = op.regex.match(path)
            if match and op.method == method.lower():
                return op, match.groupdict()
        return None, {}

    def _errors(self, schema: Any, instance: Any, where: str) -> list[str]:
        if schema in (None, {}):
            return []
        validator = jsonschema.Draft202012Validator(
            schema, registry=self.registry, format_checker=_FORMATS
        )
        return [
            f"{where}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def validate_request(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[Operation | None, list[str]]:
        op, path_params = self.find(method, path)
        if op is None:
            return None, [f"request: {method} {path} is not an operation in the OpenAPI files"]
        errors: list[str] = []
        where = f"request {method} {op.template}"
        declared = {p["name"]: p for p in op.op.get("parameters", [])}
        for name, param in declared.items():
            schema = param.get("schema", {})
            if param["in"] == "path":
                errors += self._errors(schema, path_params.get(name), f"{where} path {name}")
            elif param["in"] == "query":
                if name not in query:
                    if param.get("required"):
                        errors.append(f"{where}: missing required query parameter {name!r}")
                    continue
                for raw in query[name]:
                    errors += self._errors(schema, _coerce(raw, schema), f"{where} query {name}")
        for name in query:
            if name not in declared:
                errors.append(f"{where}: undeclared query parameter {name!r}")
        request_body = op.op.get("requestBody")
        if request_body is None:
            if body:
                errors.append(f"{where}: body sent but the operation takes none")
        elif not body:
            if request_body.get("required"):
                errors.append(f"{where}: required JSON body missing")
        else:
            ctype = headers.get("content-type", "")
            if not ctype.startswith("application/json"):
                errors.append(f"{where}: content-type {ctype!r} is not application/json")
            try:
                instance = json.loads(body)
            except ValueError:
                errors.append(f"{where}: body is not JSON")
            else:
                schema = request_body["content"]["application/json"]["schema"]
                errors += self._errors(schema, instance, f"{where} body")
        return op, errors

    def validate_response(self, op: Operation, status: int, body: Any) -> list[str]:
        where = f"response {op.method.upper()} {op.template} {status}"
        alias = KNOWN_DEVIATIONS["status_alias"].get((op.method, op.template, status))
        responses = op.op.get("responses", {})
        if status == 204:
            return [] if body is None else [f"{where}: 204 must have no body"]
        entry = responses.get(str(alias or status))
        if entry is None:
            if status in KNOWN_DEVIATIONS["extra_error_statuses"]:
                return self._errors(ERROR_BODY_SCHEMA, body, where)
            return [f"{where}: status not documented for this operation"]
        schema = (entry.get("content") or {}).get("application/json", {}).get("schema")
        omitted = KNOWN_DEVIATIONS["omitted_required"].get((op.method, op.template))
        if omitted and isinstance(body, dict) and status < 400:
            body = omitted | body
        errors = self._errors(schema, body, where)
        if status >= 400:
            errors += self._errors(ERROR_BODY_SCHEMA, body, where)
        return errors


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    try:
        if "integer" in types:
            return int(raw)
        if "number" in types:
            return float(raw)
        if "boolean" in types and raw in ("true", "false"):
            return raw == "true"
    except ValueError:
        return raw
    return raw


@functools.cache
def load_spec(directory: str | None = None) -> Spec:
    return Spec(Path(directory) if directory else spec_dir())


# -- the double ----------------------------------------------------------------------------------


class Reply(Exception):
    """Raised inside a handler to answer with ``status`` and ``body``."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _display(secret: str) -> str:
    return f"{secret[:6]}...{secret[-4:]}"


_VIEWS = {
    "v3": {"traces", "observations", "scores-numeric", "scores-categorical", "scores-boolean"},
    "v4": {"observations", "scores-numeric", "scores-categorical", "scores-boolean"},
}
# (view, measure, aggregation) -> seeded field
_MEASURES = {
    ("traces", "count", "count"): "traces",
    ("traces", "observationsCount", "sum"): "observations",
    ("traces", "totalTokens", "sum"): "total_tokens",
    ("traces", "totalCost", "sum"): "cost",
    ("observations", "count", "count"): "observations",
    ("observations", "inputTokens", "sum"): "input_tokens",
    ("observations", "outputTokens", "sum"): "output_tokens",
    ("observations", "totalTokens", "sum"): "total_tokens",
    ("observations", "totalCost", "sum"): "cost",
}
_V4_ONLY = {("observations", "traceId", "uniq"): "traces"}


class LangfuseDouble:
    """In-memory Langfuse (one organisation) behind a real HTTP server on 127.0.0.1."""

    def __init__(
        self,
        *,
        entitlement: bool = True,
        metrics_version: str = "v4",
        down: bool | str = False,
        openapi_dir: str | None = None,
    ) -> None:
        self.entitlement = entitlement
        self.metrics_version = metrics_version
        self.down = down  # True -> 503; "reset" -> close the connection without answering
        self.spec = load_spec(openapi_dir)
        self.org = {"id": "org-" + uuid.uuid4().hex[:8], "name": "Test Org"}
        self.org_public_key = "pk-lf-org-" + uuid.uuid4().hex[:8]
        self.org_secret_key = "sk-lf-org-" + secrets.token_hex(8)
        self.errors: list[str] = []
        self.requests: list[tuple[str, str, int]] = []
        self.create_project_calls = 0
        self.response_hook: Callable[[str, int, Any], Any] | None = None
        self.projects: dict[str, dict[str, Any]] = {}
        self.api_keys: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.org_members: dict[str, str] = {}
        self.project_members: dict[tuple[str, str], str] = {}
        self.metrics: dict[str, dict[date, dict[str, Any]]] = {}
        # OTLP batches received: (Authorization header, protobuf body).
        self.otel_batches: list[tuple[str, bytes]] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "double not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """Settings for a subprocess (e.g. a Celery worker) to talk to this double."""
        return {
            "LANGFUSE_HOST": self.url,
            "LANGFUSE_ORG_PUBLIC_KEY": self.org_public_key,
            "LANGFUSE_ORG_SECRET_KEY": self.org_secret_key,
        }

    def client(self, **kwargs: Any):
        from portal.integrations.langfuse import LangfuseClient

        return LangfuseClient(self.url, self.org_public_key, self.org_secret_key, **kwargs)

    def start(self) -> LangfuseDouble:
        double = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                double._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

        self._server = serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler), "langfuse-double")
        return self

    def stop(self) -> None:
        if self._server:
            shut(self._server)
            self._server = None

    def __enter__(self) -> LangfuseDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def take_errors(self) -> list[str]:
        """Return and clear the recorded spec violations (for tests that provoke them)."""
        with self._lock:
            errors, self.errors = self.errors, []
        return errors

    # -- seeding -----------------------------------------------------------------------------

    def add_user(self, email: str, name: str | None = None, *, org_role: str | None = None) -> str:
        """A Langfuse user (e.g. from an SSO login); ``org_role`` also makes them a member."""
        with self._lock:
            user_id = "user-" + uuid.uuid4().hex[:10]
            self.users[user_id] = {"email": email.lower(), "name": name, "created": _now()}
            if org_role:
                self.org_members[user_id] = org_role
            return user_id

    def add_project(self, name: str, **metadata: Any) -> dict[str, Any]:
        with self._lock:
            return self._new_project(name, metadata or {}, 0)

    def add_api_key(self, project_id: str, note: str | None = None) -> dict[str, Any]:
        """A project key pair (returns the dict with ``publicKey``/``secretKey``)."""
        with self._lock:
            return self._new_key(project_id, note, None, None)

    def seed_daily_metrics(
        self,
        project_id: str,
        day: date | str,
        *,
        traces: int = 0,
        observations: int = 0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        total_tokens: int | None = None,
        cost: float = 0.0,
    ) -> None:
        day = date.fromisoformat(day) if isinstance(day, str) else day
        total = input_tokens + output_tokens if total_tokens is None else total_tokens
        with self._lock:
            self.metrics.setdefault(project_id, {})[day] = {
                "traces": traces,
                "observations": observations,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": total,
                "cost": cost,
            }

    def project_by_name(self, name: str) -> dict[str, Any] | None:
        return next(
            (p for p in self.projects.values() if p["name"] == name and not p["deleted"]), None
        )

    # -- HTTP plumbing -----------------------------------------------------------------------

    def _dispatch(self, h: QuietHandler) -> None:
        url = urlsplit(h.path)
        body = h.body()
        if self.down == "reset":
            h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
            return
        if self.down:
            self._send(h, 503, {"message": "Service Unavailable"}, {"Retry-After": "7"})
            self.requests.append((h.command, url.path, 503))
            return
        if h.command == "POST" and url.path == OTLP_TRACES:
            # Langfuse's OpenTelemetry intake (OTLP/HTTP, protobuf): not in the public OpenAPI
            # files. LiteLLM's langfuse callback (SDK >= 4) exports routed traces here; the
            # double keeps the batches and answers as an OTLP receiver does (2xx, empty body).
            self.otel_batches.append((h.headers.get("Authorization", ""), body))
            self.requests.append((h.command, url.path, 200))
            self._send(h, 200, None, {})
            return
        query = parse_qs(url.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in h.headers.items()}
        op, errors = self.spec.validate_request(h.command, url.path, query, headers, body)
        status, payload, extra = 500, None, {}
        if errors:
            payload = {
                "message": "Langfuse double: request violates the OpenAPI spec",
                "error": errors,
            }
        else:
            try:
                with self._lock:
                    status, payload = self._route(op, h.command, url.path, query, headers, body)
            except Reply as reply:
                status, payload, extra = reply.status, reply.body, reply.headers
            except Exception as exc:  # noqa: BLE001
                errors = [f"double crashed on {h.command} {url.path}: {exc!r}"]
                payload = {"message": "Internal Server Error", "error": repr(exc)}
            if op is not None and not errors:
                if self.response_hook:
                    payload = self.response_hook(op.op.get("operationId", ""), status, payload)
                problems = self.spec.validate_response(op, status, payload)
                if problems:
                    errors = problems
                    status = 500
                    payload = {
                        "message": "Langfuse double: response violates the OpenAPI spec",
                        "error": problems,
                    }
        if errors:
            with self._lock:
                self.errors.extend(errors)
        self.requests.append((h.command, url.path, status))
        self._send(h, status, payload, extra)

    @staticmethod
    def _send(h: QuietHandler, status: int, payload: Any, headers: dict) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        if data:
            h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if data:
            h.wfile.write(data)

    def _key(self, headers: dict[str, str]) -> tuple[str, dict[str, Any] | None]:
        """Resolve Basic auth to ("org", None), ("project", key) or raise 401."""
        auth = headers.get("authorization", "")
        if not auth.startswith("Basic "):
            raise Reply(
                401,
                {
                    "message": "No authorization header. Confirm that you've "
                    "configured the correct host."
                },
            )
        try:
            public, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            raise Reply(401, {"message": "Invalid authorization header"}) from None
        if public == self.org_public_key and secret == self.org_secret_key:
            return "org", None
        for key in self.api_keys.values():
            if key["publicKey"] == public and key["secretKey"] == secret:
                return "project", key
        raise Reply(
            401,
            {"message": "Invalid credentials. Confirm that you've configured the correct host."},
        )

    def _admin(self, headers: dict[str, str], *, scim: bool = False) -> None:
        scope, _ = self._key(headers)
        if scope != "org":
            raise Reply(403, {"error": ORG_KEY_REQUIRED})
        if not self.entitlement:
            if scim:
                raise Reply(
                    403, {"schemas": [SCIM_ERROR], "detail": ENTITLEMENT_MESSAGE, "status": 403}
                )
            raise Reply(403, {"error": ENTITLEMENT_MESSAGE})

    def _project_key(self, headers: dict[str, str]) -> dict[str, Any]:
        scope, key = self._key(headers)
        if scope != "project" or key is None:
            raise Reply(403, {"message": PROJECT_KEY_REQUIRED})
        return key

    def _live_project(self, project_id: str) -> dict[str, Any]:
        project = self.projects.get(project_id)
        if project is None or project["deleted"]:
            raise Reply(404, {"message": "Project not found", "error": "LangfuseNotFoundError"})
        return project

    def _new_project(self, name: str, metadata: dict, retention: int) -> dict[str, Any]:
        project_id = "cl" + uuid.uuid4().hex[:23]
        now = _now()
        project = {
            "id": project_id,
            "name": name,
            "metadata": metadata or {},
            "retention": retention,
            "createdAt": now,
            "updatedAt": now,
            "deleted": False,
        }
        self.projects[project_id] = project
        return project

    def _new_key(self, project_id: str, note: str | None, pk: str | None, sk: str | None) -> dict:
        key = {
            "id": "ak-" + uuid.uuid4().hex[:12],
            "projectId": project_id,
            "createdAt": _now(),
            "publicKey": pk or f"pk-lf-{uuid.uuid4()}",
            "secretKey": sk or f"sk-lf-{uuid.uuid4()}",
            "note": note,
        }
        key["displaySecretKey"] = _display(key["secretKey"])
        self.api_keys[key["id"]] = key
        return key

    def _project_out(self, p: dict[str, Any], *, with_org: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": p["id"], "name": p["name"], "metadata": p["metadata"]}
        if with_org:
            # The real create/update handlers omit "organization", but fern marks it required.
            out["organization"] = dict(self.org)
        if p["retention"]:
            out["retentionDays"] = p["retention"]
        return out

    def _member_out(self, user_id: str, role: str) -> dict[str, Any]:
        user = self.users[user_id]
        return {"userId": user_id, "role": role, "email": user["email"], "name": user["name"] or ""}

    def _scim_user(self, user_id: str, *, listed: bool = False) -> dict[str, Any]:
        user = self.users[user_id]
        # The real list answer (scim/Users/index.ts GET) has no timestamps in ``meta``.
        meta = {"resourceType": "User"}
        if not listed:
            meta |= {"created": user["created"], "lastModified": user["created"]}
        return {
            "schemas": [SCIM_USER],
            "id": user_id,
            "userName": user["email"],
            "name": {"formatted": user["name"]},
            "emails": [{"primary": True, "value": user["email"], "type": "work"}],
            "meta": meta,
        }

    # -- routes ------------------------------------------------------------------------------

    def _route(self, op, method, path, query, headers, raw) -> tuple[int, Any]:
        _, params = self.spec.find(method, path)
        body = json.loads(raw) if raw else None
        handler = getattr(self, "_op_" + op.op["operationId"], None)
        if handler is None:
            raise Reply(
                405,
                {
                    "message": f"Not implemented by the double: {op.template}",
                    "error": "MethodNotAllowedError",
                },
            )
        return handler(headers=headers, query=query, body=body, **params)

    def _op_health_health(self, **_: Any) -> tuple[int, Any]:
        version = "4.16.0" if self.metrics_version == "v4" else "3.225.4"
        return 200, {"status": "OK", "version": version}

    def _op_projects_get(self, headers, **_: Any) -> tuple[int, Any]:
        key = self._project_key(headers)
        project = self._live_project(key["projectId"])
        return 200, {"data": [self._project_out(project)]}

    def _op_organizations_getOrganizationProjects(self, headers, **_: Any):  # noqa: N802
        self._admin(headers)
        projects = [
            {k: p[k] for k in ("id", "name", "metadata", "createdAt", "updatedAt")}
            for p in self.projects.values()
            if not p["deleted"]
        ]
        return 200, {"projects": projects}

    @staticmethod
    def _check_project_body(body: dict[str, Any]) -> None:
        # The real handlers (createProject.ts, projectById/index.ts) answer the first failing
        # check as {"message": ...}, pinned by tests/test_langfuse_contract.py.
        name = body.get("name", "")
        if not 3 <= len(name) <= 60 or re.search(r"[<>]", name):
            raise Reply(
                400, {"message": "Invalid project name. Should be between 3 and 60 characters."}
            )
        retention = body.get("retention")
        if retention not in (None, 0) and retention < 3:
            raise Reply(400, {"message": "Invalid retention value. Must be 0 or at least 3 days."})

    def _op_projects_create(self, headers, body, **_: Any) -> tuple[int, Any]:
        self._admin(headers)
        self.create_project_calls += 1
        self._check_project_body(body)
        if self.project_by_name(body["name"]):
            raise Reply(
                409,
                {"message": "A project with this name already exists in your organization"},
            )
        project = self._new_project(body["name"], body.get("metadata"), body.get("retention", 0))
        return 201, self._project_out(project, with_org=False)  # as createProject.ts

    def _op_projects_update(self, headers, body, projectId, **_: Any):  # noqa: N803
        self._admin(headers)
        project = self._live_project(projectId)
        self._check_project_body(body)
        other = self.project_by_name(body["name"])
        if other and other["id"] != projectId:
            raise Reply(409, {"message": f"A project with name '{body['name']}' already exists"})
        project["name"] = body["name"]
        if body.get("metadata") is not None:
            project["metadata"] = body["metadata"]
        if body.get("retention") is not None:
            project["retention"] = body["retention"]
        project["updatedAt"] = _now()
        return 200, self._project_out(project, with_org=False)  # as projectById/index.ts

    def _op_projects_delete(self, headers, projectId, **_: Any):  # noqa: N803
        self._admin(headers)
        project = self._live_project(projectId)
        project["deleted"] = True
        for key_id in [k for k, v in self.api_keys.items() if v["projectId"] == projectId]:
            del self.api_keys[key_id]
        for pair in [p for p in self.project_members if p[0] == projectId]:
            del self.project_members[pair]
        return 202, {
            "success": True,
            "message": "Project deletion has been initiated and is being processed asynchronously",
        }

    def _op_projects_getApiKeys(self, headers, projectId, **_: Any):  # noqa: N802,N803
        self._admin(headers)
        # A soft-deleted project still lists its (deleted, so no) keys: 200, as the real server.
        if projectId not in self.projects:
            self._live_project(projectId)
        keys = [
            {k: v[k] for k in ("id", "createdAt", "note", "publicKey", "displaySecretKey")}
            | {"expiresAt": None, "lastUsedAt": None}
            for v in self.api_keys.values()
            if v["projectId"] == projectId
        ]
        return 200, {"apiKeys": keys}

    def _op_projects_createApiKey(self, headers, body, projectId, **_: Any):  # noqa: N802,N803
        self._admin(headers)
        self._live_project(projectId)
        pk, sk = body.get("publicKey"), body.get("secretKey")
        if (pk is None) != (sk is None):
            raise Reply(
                400,
                {
                    "message": "Both publicKey and secretKey must be provided together",
                    "error": "InvalidRequestError",
                },
            )
        if pk is not None and not (pk.startswith("pk-lf-") and sk.startswith("sk-lf-")):
            raise Reply(
                400,
                {
                    "message": "publicKey must start with 'pk-lf-' and secretKey with 'sk-lf-'",
                    "error": "InvalidRequestError",
                },
            )
        if pk and any(k["publicKey"] == pk for k in self.api_keys.values()):
            raise Reply(
                409,
                {
                    "message": "API key with this public key already exists",
                    "error": "ConflictError",
                },
            )
        key = self._new_key(projectId, body.get("note"), pk, sk)
        out = {
            k: key[k]
            for k in ("id", "createdAt", "publicKey", "secretKey", "displaySecretKey", "note")
        }
        return 201, out

    def _op_projects_deleteApiKey(self, headers, projectId, apiKeyId, **_: Any):  # noqa: N802,N803
        self._admin(headers)
        key = self.api_keys.get(apiKeyId)
        if key is None or key["projectId"] != projectId:
            raise Reply(404, {"message": "API key not found"})
        del self.api_keys[apiKeyId]
        return 200, {"success": True}

    def _op_organizations_getOrganizationMemberships(self, headers, **_: Any):  # noqa: N802
        self._admin(headers)
        return 200, {"memberships": [self._member_out(u, r) for u, r in self.org_members.items()]}

    def _op_organizations_updateOrganizationMembership(self, headers, body, **_: Any):  # noqa: N802
        self._admin(headers)
        if body["userId"] not in self.users:
            raise Reply(404, {"error": "User not found"})
        self.org_members[body["userId"]] = body["role"]
        return 200, self._member_out(body["userId"], body["role"])

    def _op_organizations_deleteOrganizationMembership(self, headers, body, **_: Any):  # noqa: N802
        self._admin(headers)
        self.org_members.pop(body["userId"], None)
        for pair in [p for p in self.project_members if p[1] == body["userId"]]:
            del self.project_members[pair]
        return 200, {"message": "Membership deleted successfully", "userId": body["userId"]}

    def _op_organizations_getProjectMemberships(self, headers, projectId, **_: Any):  # noqa: N802,N803
        self._admin(headers)
        self._live_project(projectId)
        members = [
            self._member_out(u, r) for (p, u), r in self.project_members.items() if p == projectId
        ]
        return 200, {"memberships": members}

    def _op_organizations_updateProjectMembership(self, headers, body, projectId, **_: Any):  # noqa: N802,N803
        self._admin(headers)
        self._live_project(projectId)
        if body["userId"] not in self.org_members:
            raise Reply(404, {"error": "User is not a member of this organization"})
        self.project_members[(projectId, body["userId"])] = body["role"]
        return 200, self._member_out(body["userId"], body["role"])

    def _op_organizations_deleteProjectMembership(self, headers, body, projectId, **_: Any):  # noqa: N802,N803
        self._admin(headers)
        self._live_project(projectId)
        if self.project_members.pop((projectId, body["userId"]), None) is None:
            raise Reply(404, {"error": "Project membership not found"})
        return 200, {"message": "Project membership deleted successfully", "userId": body["userId"]}

    def _op_scim_listUsers(self, headers, query, **_: Any):  # noqa: N802
        self._admin(headers, scim=True)
        members = list(self.org_members)
        flt = (query.get("filter") or [""])[0]
        if flt:
            match = re.fullmatch(r'\s*userName\s+eq\s+"([^"]*)"\s*', flt)
            if not match:
                raise Reply(
                    400,
                    {
                        "schemas": [SCIM_ERROR],
                        "status": 400,
                        "detail": "Only 'userName eq' filter is supported",
                    },
                )
            members = [u for u in members if self.users[u]["email"] == match[1].lower()]
        start = int((query.get("startIndex") or ["1"])[0])
        count = int((query.get("count") or ["100"])[0])
        page = members[start - 1 : start - 1 + count]
        return 200, {
            "schemas": [SCIM_LIST],
            "totalResults": len(members),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": [self._scim_user(u, listed=True) for u in page],
        }

    def _op_scim_createUser(self, headers, body, **_: Any):  # noqa: N802
        self._admin(headers, scim=True)
        email = body["userName"].lower()
        user_id = next((u for u, v in self.users.items() if v["email"] == email), None)
        if user_id and user_id in self.org_members:
            raise Reply(
                409,
                {
                    "schemas": [SCIM_ERROR],
                    "status": 409,
                    "detail": "User already exists in the organization",
                },
            )
        if user_id is None:
            user_id = self.add_user(email, (body.get("name") or {}).get("formatted"))
        roles = body.get("roles") or ["NONE"]
        self.org_members[user_id] = roles[0]
        return 201, self._scim_user(user_id)

    def _op_scim_getUser(self, headers, userId, **_: Any):  # noqa: N802,N803
        self._admin(headers, scim=True)
        if userId not in self.org_members:
            raise Reply(404, {"schemas": [SCIM_ERROR], "status": 404, "detail": "User not found"})
        return 200, self._scim_user(userId)

    # -- metrics -----------------------------------------------------------------------------

    def _op_legacy_metricsV1_metrics(self, headers, query, **_: Any):  # noqa: N802
        key = self._project_key(headers)
        if self.metrics_version != "v3":
            raise Reply(404, {"message": V4_EVENTS_ONLY, "error": "LangfuseNotFoundError"})
        return 200, {"data": self._metrics(key["projectId"], query, "v3")}

    def _op_metrics_metrics(self, headers, query, **_: Any):  # noqa: N802
        key = self._project_key(headers)
        if self.metrics_version != "v4":
            # v3, or v4 without LANGFUSE_MIGRATION_V4_ALLOW_PREVIEW_OPT_IN (metrics_version
            # "v4-no-opt-in"): the real text of web/src/pages/api/public/v2/metrics.ts.
            raise Reply(
                404,
                {
                    "message": "The metrics v2 API is only available in a Langfuse v4 write "
                    "mode. Learn more at: https://langfuse.com/docs/v4",
                    "error": "LangfuseNotFoundError",
                },
            )
        return 200, {"data": self._metrics(key["projectId"], query, "v4")}

    def _metrics(self, project_id: str, params: dict[str, list[str]], version: str) -> list:
        def bad(message: str) -> Reply:
            return Reply(400, {"message": "Invalid request data", "error": message})

        try:
            q = json.loads(params["query"][0])
        except (ValueError, KeyError):
            raise bad("query must be a JSON object") from None
        view = q.get("view")
        if view not in _VIEWS[version]:
            raise bad(f"Invalid view {view!r} for {version}")
        if not q.get("metrics"):
            raise bad("At least one metric must be provided")
        try:
            start = datetime.fromisoformat(q["fromTimestamp"])
            end = datetime.fromisoformat(q["toTimestamp"])
        except (KeyError, TypeError, ValueError):
            raise bad("fromTimestamp and toTimestamp must be ISO datetimes") from None
        if end <= start:
            raise bad("toTimestamp must be after fromTimestamp")
        table = {**_MEASURES, **(_V4_ONLY if version == "v4" else {})}
        columns = []
        for m in q["metrics"]:
            fld = table.get((view, m.get("measure"), m.get("aggregation")))
            if fld is None:
                raise bad(f"Unsupported metric {m!r} on view {view!r}")
            columns.append((f"{m['aggregation']}_{m['measure']}", fld))
        if q.get("dimensions") or q.get("filters"):
            self.errors.append("double limitation: metrics dimensions/filters are not modelled")
            raise bad("dimensions/filters are not modelled by the double")
        td = q.get("timeDimension")
        if td not in (None, {"granularity": "day"}):
            self.errors.append(f"double limitation: timeDimension {td!r} is not modelled")
            raise bad("only daily or no time dimension is modelled by the double")
        seeded = self.metrics.get(project_id, {})

        def row(values: list[dict[str, Any]]) -> dict[str, Any]:
            out = {}
            for name, fld in columns:
                total = sum(v[fld] for v in values)
                # ClickHouse UInt64 sums arrive as strings, costs as numbers.
                out[name] = float(total) if fld == "cost" else str(int(total))
            return out

        if td is None:
            inside = [v for d, v in seeded.items() if start.date() <= d < end.date()]
            return [row(inside)]
        # ClickHouse's WITH FILL runs from the first day up to, not including, the day of
        # toTimestamp: that day comes back only when it has data (as on the real server).
        days = {start.date() + timedelta(days=n) for n in range((end.date() - start.date()).days)}
        days |= {d for d in seeded if start.date() <= d <= end.date()}
        return [
            {
                "time_dimension": f"{day.isoformat()}T00:00:00.000Z",
                **row([seeded[day]] if day in seeded else []),
            }
            for day in sorted(days)
        ]


@pytest.fixture
def langfuse_double() -> Iterator[LangfuseDouble]:
    """A started double (entitled, v4 metrics). Fails the test if any spec violation was left."""
    double = LangfuseDouble().start()
    try:
        yield double
    finally:
        double.stop()
    errors = double.take_errors()
    if errors:
        pytest.fail("Langfuse double saw OpenAPI violations:\n" + "\n".join(errors))
