"""GraphClient against the Entra and Graph doubles: real msal, real httpx, real sockets."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from portal.integrations.errors import NotFound, Rejected, Unavailable
from portal.integrations.graph import GraphClient, GraphUser

from .doubles.entra import EntraDouble, entra_double  # noqa: F401
from .doubles.graph import GraphDouble, client_for, graph_double  # noqa: F401


def make_client(entra: EntraDouble, graph_url: str, sleeps: list[float], **kwargs) -> GraphClient:
    return client_for(entra, graph_url, sleep=sleeps.append, **kwargs)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def user_a(entra_double: EntraDouble) -> str:  # noqa: F811
    """A user in the directory; its object id."""
    entra_double.add_user("oid-a", "a@contoso.example", "A")
    return "oid-a"


@pytest.fixture
def throttled_past_retries(
    entra_double: EntraDouble,  # noqa: F811
    graph_double: GraphDouble,  # noqa: F811
    sleeps: list[float],
    user_a: str,
):
    """What ``get_user`` raises while Graph answers 429 ``times`` times in a row, with a
    client made with ``options``."""

    def get_user(*, times: int, retry_after: float, **options) -> Unavailable:
        graph_double.throttle_next(times, retry_after=retry_after)
        client = make_client(entra_double, graph_double.base_url, sleeps, **options)
        with client, pytest.raises(Unavailable) as err:
            client.get_user(user_a)
        return err.value

    return get_user


@pytest.fixture
def client(entra_double: EntraDouble, graph_double: GraphDouble, sleeps):  # noqa: F811
    with make_client(entra_double, graph_double.base_url, sleeps) as c:
        yield c


def test_transitive_members_pages_and_keeps_users_only(
    entra_double: EntraDouble,  # noqa: F811
    graph_double: GraphDouble,  # noqa: F811
    client: GraphClient,
) -> None:
    graph_double.page_size = 7
    graph_double.nest_group("grp-team", "grp-dept")  # team is nested in dept
    for i in range(15):
        entra_double.add_user(f"oid-{i:02}", f"u{i}@contoso.example", f"User {i}", ["grp-dept"])
    for i in range(15, 20):
        entra_double.add_user(f"oid-{i:02}", f"u{i}@contoso.example", f"User {i}", ["grp-team"])
    entra_double.add_user("oid-off", "off@contoso.example", "Gone", ["grp-dept"])
    entra_double.users["oid-off"].account_enabled = False
    entra_double.add_user("oid-other", "o@contoso.example", "Elsewhere", ["grp-other"])

    before = graph_double.request_count
    members = list(client.group_transitive_members("grp-dept"))

    assert all(isinstance(m, GraphUser) for m in members)
    ids = [m.id for m in members]
    assert len(ids) == 21 == len(set(ids))  # 15 direct + 5 via the nested group + disabled
    assert "grp-team" not in ids and "oid-other" not in ids  # the nested group itself is skipped
    assert {f"oid-{i:02}" for i in range(20)} <= set(ids)
    off = next(m for m in members if m.id == "oid-off")
    assert off.account_enabled is False and off.email == "off@contoso.example"
    assert next(m for m in members if m.id == "oid-00").display_name == "User 0"
    # 22 directory objects (21 users + 1 group) in pages of 7: four pages, four requests.
    assert graph_double.request_count - before == 4
    paths = [p for _, p in graph_double.requests[before:]]
    assert "%24select=id%2CdisplayName%2Cmail%2CuserPrincipalName%2CaccountEnabled" in paths[0]
    assert all("skiptoken" in p for p in paths[1:])


def test_unknown_group_is_not_found(client: GraphClient) -> None:
    with pytest.raises(NotFound) as err:
        list(client.group_transitive_members("no-such-group"))
    assert err.value.status == 404 and "Request_ResourceNotFound" in str(err.value)


def test_throttling_honours_retry_after_then_succeeds(
    graph_double: GraphDouble,  # noqa: F811
    client: GraphClient,
    sleeps: list[float],
    user_a: str,
) -> None:
    graph_double.throttle_next(2, retry_after=3)
    user = client.get_user("oid-a")
    assert user.id == "oid-a"
    assert sleeps == [3.0, 3.0]
    assert graph_double.request_count == 3


def test_throttling_exhausted_raises_unavailable(
    graph_double: GraphDouble,  # noqa: F811
    sleeps: list[float],
    throttled_past_retries,
) -> None:
    error = throttled_past_retries(times=10, retry_after=2, max_retries=3)
    assert error.status == 429 and error.retry_after == 2.0
    assert "TooManyRequests" in str(error)
    assert sleeps == [2.0, 2.0, 2.0]
    assert graph_double.request_count == 4


def test_retry_after_beyond_the_limit_is_not_waited_for(
    sleeps: list[float], throttled_past_retries
) -> None:
    error = throttled_past_retries(times=1, retry_after=600, max_retry_after=60)
    assert error.retry_after == 600.0 and sleeps == []


def test_graph_down_raises_unavailable(
    graph_double: GraphDouble,  # noqa: F811
    client: GraphClient,
    sleeps: list[float],
    user_a: str,
) -> None:
    graph_double.down = True
    with pytest.raises(Unavailable) as err:
        client.get_user("oid-a")
    assert err.value.status == 503 and "serviceNotAvailable" in str(err.value)
    assert len(sleeps) == client.max_retries  # retried, then gave up
    graph_double.down = False
    assert client.get_user("oid-a").id == "oid-a"


def test_unreachable_graph_raises_unavailable(
    entra_double: EntraDouble,  # noqa: F811
    sleeps: list[float],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    client = make_client(entra_double, f"http://127.0.0.1:{port}", sleeps, max_retries=1)
    with client, pytest.raises(Unavailable) as err:
        client.get_user("oid-a")
    assert err.value.status is None and "ConnectError" in str(err.value)
    assert len(sleeps) == 1


def test_manager_none_on_404_and_user_lookups(
    entra_double: EntraDouble,  # noqa: F811
    client: GraphClient,
) -> None:
    entra_double.add_user("oid-boss", "boss@contoso.example", "The Boss")
    entra_double.add_user("oid-dev", "dev@contoso.example", "Dev", manager="oid-boss")
    assert client.user_manager("oid-boss") is None
    manager = client.user_manager("oid-dev")
    assert (
        manager is not None and manager.id == "oid-boss" and manager.mail == "boss@contoso.example"
    )
    assert client.get_user("dev@contoso.example").id == "oid-dev"  # by UPN too
    with pytest.raises(NotFound):
        client.get_user("oid-nobody")


def test_transitive_groups_for_an_overage_user(
    entra_double: EntraDouble,  # noqa: F811
    graph_double: GraphDouble,  # noqa: F811
    client: GraphClient,
) -> None:
    many = [f"grp-{i}" for i in range(230)]
    entra_double.add_user("oid-big", "big@contoso.example", "Big", many, overage=True)
    graph_double.nest_group("grp-0", "grp-parent")
    groups = client.user_transitive_groups("oid-big")
    assert set(groups) == {*many, "grp-parent"}
    assert graph_double.requests[-1][0] == "POST"
    assert graph_double.requests[-1][1].endswith("/v1.0/users/oid-big/getMemberObjects")


def test_msal_caches_the_app_token(
    entra_double: EntraDouble,  # noqa: F811
    graph_double: GraphDouble,  # noqa: F811
    client: GraphClient,
) -> None:
    entra_double.add_user("oid-a", "a@contoso.example", "A", ["grp-x"])
    for _ in range(5):
        client.get_user("oid-a")
        client.user_manager("oid-a")
        list(client.group_transitive_members("grp-x"))
    assert graph_double.request_count == 15
    assert entra_double.client_credentials_issued == 1


def test_wrong_secret_is_rejected(
    entra_double: EntraDouble,  # noqa: F811
    graph_double: GraphDouble,  # noqa: F811
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(
        entra_double, graph_double.base_url, secret="not-the-secret", sleep=sleeps.append
    )
    with client, pytest.raises(Rejected) as err:
        client.get_user("oid-a")
    assert "invalid_client" in str(err.value)
    assert graph_double.request_count == 0 and sleeps == []
    assert "not-the-secret" not in caplog.text and "not-the-secret" not in repr(client)


def test_missing_app_permission_is_rejected(
    entra_double: EntraDouble,  # noqa: F811
    client: GraphClient,
    user_a: str,
) -> None:
    entra_double.app_roles = ["Mail.Read"]  # admin consent not granted for directory reads
    with pytest.raises(Rejected) as err:
        client.get_user("oid-a")
    assert err.value.status == 403 and "Authorization_RequestDenied" in str(err.value)


def test_no_secret_or_token_is_logged(
    entra_double: EntraDouble,  # noqa: F811
    graph_double: GraphDouble,  # noqa: F811
    client: GraphClient,
    caplog: pytest.LogCaptureFixture,
    user_a: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    graph_double.throttle_next(1)
    client.get_user("oid-a")
    tokens = list(entra_double.issued)
    assert tokens
    assert entra_double.client_secret not in caplog.text
    assert not any(token in caplog.text for token in tokens)


def test_a_refused_cached_token_is_replaced_once(
    entra_double: EntraDouble,  # noqa: F811
    graph_double: GraphDouble,  # noqa: F811
    client: GraphClient,
    user_a: str,
) -> None:
    client.get_user("oid-a")
    graph_double.revoke_tokens()
    assert client.get_user("oid-a").id == "oid-a"
    assert entra_double.client_credentials_issued == 2
    graph_double.refuse_tokens = True  # still 401 with a fresh token: Rejected, no loop
    with pytest.raises(Rejected) as err:
        client.get_user("oid-a")
    assert err.value.status == 401 and "InvalidAuthenticationToken" in str(err.value)
    assert entra_double.client_credentials_issued == 3


def test_from_settings_reads_the_entra_settings(
    entra_double: EntraDouble,  # noqa: F811
    graph_double: GraphDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    user_a: str,
) -> None:
    import django.conf

    fake = SimpleNamespace(
        ENTRA_TENANT_ID=entra_double.tenant_id,
        ENTRA_CLIENT_ID=entra_double.client_id,
        ENTRA_CLIENT_SECRET=entra_double.client_secret,
        ENTRA_AUTHORITY_HOST=entra_double.https_base_url,
        GRAPH_URL=graph_double.base_url,
        ENTRA_INSTANCE_DISCOVERY=False,
        ENTRA_CA_BUNDLE=entra_double.ca_bundle,
    )
    monkeypatch.setattr(django.conf, "settings", fake)
    with GraphClient.from_settings(sleep=lambda _: None) as client:
        assert client.authority == f"{entra_double.https_base_url}/{entra_double.tenant_id}"
        assert client.get_user("oid-a").id == "oid-a"


def test_next_link_to_another_host_is_not_followed(
    entra_double: EntraDouble,  # noqa: F811
    graph_double: GraphDouble,  # noqa: F811
    client: GraphClient,
) -> None:
    """A page whose @odata.nextLink names another host: the bearer token never goes there."""
    seen: list[dict] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"value": []}')

        def log_message(self, *args):
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    try:
        graph_double.page_size = 2
        graph_double.next_link_base = f"http://127.0.0.1:{elsewhere.server_address[1]}"
        for i in range(5):
            entra_double.add_user(f"oid-n{i}", f"n{i}@contoso.example", f"N {i}", ["grp-n"])
        with pytest.raises(Rejected, match="nextLink"):
            list(client.group_transitive_members("grp-n"))
    finally:
        elsewhere.shutdown()
    assert seen == []
