"""A Microsoft Graph double: a real HTTP server speaking Graph's v1.0 wire format.

The directory is the one defined on an ``EntraDouble`` (its users, their groups, managers and
``account_enabled``), so one place describes the organisation. Bearer tokens must be access tokens
that EntraDouble issued for Graph (signature, audience, expiry and tenant are checked); app-only
tokens also need the app roles (``User.Read.All``, ``GroupMember.Read.All``).

Served (all under ``/v1.0``):

* ``GET /groups/{id}/transitiveMembers`` (a ``directoryObject`` collection: users, nested groups
  and other member objects such as service principals, ``@odata.type`` on each item;
  ``/microsoft.graph.user`` cast also accepted, another cast is a 400
  ``Request_UnsupportedQuery``) with ``$select``, ``$top`` and ``@odata.nextLink``
* ``GET /users/{id}``, ``GET /users/{id}/manager`` (404 ``Request_ResourceNotFound`` when none)
* ``POST /users/{id}/getMemberObjects`` and ``getMemberGroups`` (the group-overage call)
* ``GET /users/{id}/transitiveMemberOf`` (optionally cast to ``/microsoft.graph.group``)

Knobs: ``page_size``, ``throttle_next(n, retry_after=1)`` (429 + Retry-After), ``down = True``
(503), ``nest_group(child, parent)``, ``add_member_object(group, odata_type, id)`` (a member
that is not a person), ``revoke_tokens()`` / ``refuse_tokens`` (401),
``request_count`` / ``requests``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest

from portal.integrations.graph import GraphClient

from ..servers import Closing, MethodHandler, serve, shut
from .entra import DirectoryUser, EntraDouble

USER_FIELDS = {
    "id": lambda u: u.oid,
    "displayName": lambda u: u.name,
    "givenName": lambda u: u.given_name or None,
    "surname": lambda u: u.surname or None,
    "mail": lambda u: u.email or None,
    "userPrincipalName": lambda u: u.preferred_username,
    "accountEnabled": lambda u: u.account_enabled,
    "jobTitle": lambda u: None,
    "businessPhones": lambda u: [],
    "mobilePhone": lambda u: None,
    "officeLocation": lambda u: None,
    "preferredLanguage": lambda u: None,
}
#: Graph returns these when there is no $select (accountEnabled is not among them).
DEFAULT_USER_SELECT = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
]
REQUIRED_ROLES = {
    "users": {"User.Read.All", "User.ReadBasic.All", "Directory.Read.All"},
    "groups": {"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"},
}


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, double: GraphDouble) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.double = double


class _Handler(MethodHandler):
    server: _Server

    def dispatch(self, method: str) -> None:
        body = self.body()
        status, headers, payload = self.server.double._serve(
            method, self.path, dict(self.headers), body
        )
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        headers = {"Content-Type": "application/json;odata.metadata=minimal", **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class GraphDouble(Closing):
    """Graph v1.0 over the directory of ``entra`` (read live, so later ``add_user`` shows up)."""

    def __init__(self, entra: EntraDouble, *, page_size: int = 100) -> None:
        self.entra = entra
        self.page_size = page_size
        self.down = False
        self.requests: list[tuple[str, str]] = []
        self.nested: dict[str, set[str]] = {}  # group id -> parent group ids
        self.objects: dict[str, list[dict]] = {}  # group id -> members that are not users
        self.revoked: set[str] = set()
        self.refuse_tokens = False  # 401 for every token
        self.next_link_base: str | None = None  # a hostile page: nextLink to another host
        self._throttle = 0
        self._retry_after: float = 1
        self._lock = threading.Lock()
        self._server = _Server(self)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        serve(self._server, "graph-double")

    def close(self) -> None:
        shut(self._server)

    # -- knobs ---------------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def throttle_next(self, n: int, retry_after: float = 1) -> None:
        """Answer the next ``n`` requests with 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._throttle = n
            self._retry_after = retry_after

    def revoke_tokens(self) -> None:
        """Refuse every token issued so far (401), as after a revocation or key rollover."""
        self.revoked |= set(self.entra.issued)

    def nest_group(self, child: str, parent: str) -> None:
        """Make group ``child`` a member of group ``parent`` (transitive queries expand it)."""
        self.entra.add_group(child)
        self.entra.add_group(parent)
        self.nested.setdefault(child, set()).add(parent)

    def add_member_object(self, group: str, odata_type: str, object_id: str) -> None:
        """Make a directory object that is not a user (``#microsoft.graph.servicePrincipal``,
        ``#microsoft.graph.device``, ``#microsoft.graph.orgContact``) a member of ``group``."""
        self.entra.add_group(group)
        item = {"@odata.type": odata_type, "id": object_id, "displayName": object_id}
        self.objects.setdefault(group, []).append(item)

    # -- directory -------------------------------------------------------------------------------

    def _user(self, key: str) -> DirectoryUser:
        users = self.entra.users
        user = users.get(key) or next(
            (u for u in users.values() if u.preferred_username.lower() == key.lower()), None
        )
        if user is None or user.tenant != self.entra.tenant_id:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        return user

    def _ancestors(self, group: str) -> set[str]:
        seen: set[str] = set()
        todo = [group]
        while todo:
            for parent in self.nested.get(todo.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    def _descendants(self, group: str) -> set[str]:
        return {child for child in self.nested if group in self._ancestors(child)}

    def _user_groups(self, user: DirectoryUser) -> list[str]:
        result: list[str] = []
        for group in user.groups:
            for g in [group, *sorted(self._ancestors(group))]:
                if g not in result:
                    result.append(g)
        return result

    def _user_json(self, user: DirectoryUser, select: list[str] | None, typed: bool) -> dict:
        fields = select or DEFAULT_USER_SELECT
        out: dict[str, Any] = {"@odata.type": "#microsoft.graph.user"} if typed else {}
        for name in fields:
            if name in USER_FIELDS:
                out[name] = USER_FIELDS[name](user)
        return out

    # -- HTTP ------------------------------------------------------------------------------------

    def _serve(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        request_id = str(uuid.uuid4())
        base_headers = {"request-id": request_id, "client-request-id": request_id}
        with self._lock:
            self.requests.append((method, raw_path))
            throttled = self._throttle > 0
            if throttled:
                self._throttle -= 1
        try:
            if self.down:
                raise GraphError(
                    503,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please retry later.",
                    {"Retry-After": "1"},
                )
            self._authorize(headers, raw_path)
            if throttled:
                raise GraphError(
                    429,
                    "TooManyRequests",
                    "Too many requests.",
                    {"Retry-After": f"{self._retry_after:g}"},
                )
            status, payload = self._route(method, raw_path, body)
            return status, base_headers, payload
        except GraphError as err:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            payload = {
                "error": {
                    "code": err.code,
                    "message": err.message,
                    "innerError": {
                        "date": now,
                        "request-id": request_id,
                        "client-request-id": request_id,
                    },
                }
            }
            return err.status, {**base_headers, **err.headers}, payload

    def _authorize(self, headers: dict[str, str], path: str) -> None:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not auth:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty.",
                {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
            )
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        try:
            issued = self.entra.verify_access_token(token)
        except Exception as exc:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                f"Access token validation failure. ({type(exc).__name__})",
                {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
            ) from exc
        if token in self.revoked or self.refuse_tokens:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
                {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
            )
        if issued.claims.get("tid") != self.entra.tenant_id:
            raise GraphError(401, "InvalidAuthenticationToken", "Invalid tenant.")
        if issued.kind == "app":
            area = "groups" if "/groups/" in path or "MemberObjects" in path else "users"
            if not REQUIRED_ROLES[area] & set(issued.claims.get("roles", [])):
                raise GraphError(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )

    def _page(self, items: list[dict], path: str, query: dict[str, str], context: str) -> dict:
        try:
            top = min(int(query.get("$top", self.page_size)), 999)
        except ValueError as exc:
            raise GraphError(400, "Request_BadRequest", "Invalid $top.") from exc
        size = max(1, min(top, self.page_size))
        skip = int(query.get("$skiptoken", "0") or 0)
        page = items[skip : skip + size]
        out: dict[str, Any] = {"@odata.context": f"{self.base_url}/v1.0/$metadata#{context}"}
        if skip + size < len(items):
            next_query = {k: v for k, v in query.items() if k != "$skiptoken"}
            next_query["$skiptoken"] = str(skip + size)
            base = self.next_link_base or self.base_url
            out["@odata.nextLink"] = f"{base}{path}?{urlencode(next_query, safe='$,')}"
        out["value"] = page
        return out

    def _route(self, method: str, raw_path: str, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        select = query["$select"].split(",") if "$select" in query else None
        seg = [unquote(s) for s in parts.path.split("/") if s]
        if not seg or seg[0] != "v1.0":
            raise GraphError(400, "BadRequest", "Invalid version.")
        seg = seg[1:]
        if (
            method == "GET"
            and len(seg) >= 3
            and seg[0] == "groups"
            and seg[2] == "transitiveMembers"
        ):
            group = seg[1]
            if group not in self.entra.groups:
                raise GraphError(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{group}' does not exist or one of its queried reference-property "
                    "objects are not present.",
                )
            cast = seg[3] if len(seg) > 3 else None
            if cast not in (None, "microsoft.graph.user"):
                raise GraphError(400, "Request_UnsupportedQuery", f"Unsupported cast '{cast}'.")
            items: list[dict] = []
            if cast is None:
                for child, parents in sorted(self.nested.items()):
                    if group in parents or group in self._ancestors(child):
                        items.append(
                            {
                                "@odata.type": "#microsoft.graph.group",
                                "id": child,
                                "displayName": self.entra.groups.get(child, child),
                            }
                        )
                for holder in [group, *sorted(self._descendants(group))]:
                    items.extend(dict(item) for item in self.objects.get(holder, []))
            for user in self.entra.users.values():
                if user.tenant == self.entra.tenant_id and group in self._user_groups(user):
                    items.append(self._user_json(user, select, typed=cast is None))
            context = "users" if cast else "directoryObjects"
            return 200, self._page(items, parts.path, query, context)
        if seg and seg[0] == "users":
            return self._user_route(method, seg, query, select, body, parts.path)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{seg[-1]}'.")

    def _user_route(
        self,
        method: str,
        seg: list[str],
        query: dict[str, str],
        select: list[str] | None,
        body: bytes,
        path: str,
    ) -> tuple[int, Any]:
        if len(seg) < 2 or seg[0] != "users":
            raise GraphError(400, "BadRequest", "Unsupported request.")
        user = self._user(seg[1])
        rest = seg[2:]
        if method == "GET" and not rest:
            payload = self._user_json(user, select, typed=False)
            ctx = f"users({'/'.join(select)})/$entity" if select else "users/$entity"
            return 200, {"@odata.context": f"{self.base_url}/v1.0/$metadata#{ctx}", **payload}
        if method == "GET" and rest == ["manager"]:
            if not user.manager or user.manager not in self.entra.users:
                raise GraphError(
                    404,
                    "Request_ResourceNotFound",
                    "Resource 'manager' does not exist or one of its queried reference-property "
                    "objects are not present.",
                )
            manager = self.entra.users[user.manager]
            ctx = f"{self.base_url}/v1.0/$metadata#directoryObjects/$entity"
            return 200, {"@odata.context": ctx, **self._user_json(manager, select, typed=True)}
        if method == "GET" and rest[:1] == ["transitiveMemberOf"]:
            cast = rest[1] if len(rest) > 1 else None
            items = [
                {
                    "@odata.type": "#microsoft.graph.group",
                    "id": g,
                    "displayName": self.entra.groups.get(g, g),
                }
                for g in self._user_groups(user)
            ]
            return 200, self._page(items, path, query, "groups" if cast else "directoryObjects")
        if method == "POST" and rest and rest[0] in ("getMemberObjects", "getMemberGroups"):
            try:
                data = json.loads(body or b"{}")
            except ValueError as exc:
                raise GraphError(400, "BadRequest", "Invalid JSON body.") from exc
            if "securityEnabledOnly" not in data:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    "The parameter 'securityEnabledOnly' in the request payload is not a valid "
                    "parameter for the operation.",
                )
            ctx = f"{self.base_url}/v1.0/$metadata#Collection(Edm.String)"
            return 200, {"@odata.context": ctx, "value": self._user_groups(user)}
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")


@pytest.fixture
def graph_double(entra_double: EntraDouble) -> Iterator[GraphDouble]:
    """Graph over ``entra_double``'s directory (page size 100, like Graph's default)."""
    double = GraphDouble(entra_double)
    try:
        yield double
    finally:
        double.close()


def client_for(
    entra: EntraDouble, graph_url: str, *, secret: str | None = None, **options: Any
) -> GraphClient:
    """A real GraphClient (msal, httpx) that signs in at ``entra`` (with its secret, unless
    ``secret`` is given) and reads Graph at ``graph_url``."""
    return GraphClient(
        entra.tenant_id,
        entra.client_id,
        entra.client_secret if secret is None else secret,
        authority_host=entra.https_base_url,
        graph_url=graph_url,
        instance_discovery=False,
        authority_ca_bundle=entra.ca_bundle,
        **options,
    )
