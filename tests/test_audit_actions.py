"""Every audit action the portal writes is declared once (``audit.action``), every
``audit.record`` call names a declared action, and one event of each renders on the audit page
(English and Japanese), in the API's audit list and in the CSV."""

from __future__ import annotations

import ast
import csv
import importlib
import io
import pkgutil
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.conf import settings

from portal import audit, audit_display
from portal.models import AuditEvent

ROOT = Path(__file__).resolve().parent.parent
# The portal's own packages: every installed app that lives in this repository.
PACKAGES = sorted(
    {c.name.split(".")[0] for c in apps.get_app_configs() if Path(c.path).is_relative_to(ROOT)}
)
NOT_IMPORTED = {"settings", "wsgi", "asgi", "migrations"}  # entry points and schema history
# Functions that return a declared name built at run time (and check it is declared).
NAMING_FUNCTIONS = {"action_for", "admin_action", "declared"}


def project_modules():
    """Every module of the portal's own packages (declarations live beside their writers)."""
    for package in PACKAGES:
        yield importlib.import_module(package)
        path = [str(ROOT / package)]
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            if NOT_IMPORTED & set(info.name.split(".")):
                continue
            yield importlib.import_module(info.name)


@pytest.fixture(scope="module")
def modules():
    return {m.__name__: m for m in project_modules()}


def source_of(module) -> ast.Module | None:
    file = getattr(module, "__file__", None)
    return ast.parse(Path(file).read_text(), file) if file and file.endswith(".py") else None


def is_call(node, owner: str, name: str) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    return (
        isinstance(func, ast.Attribute)
        and func.attr == name
        and isinstance(func.value, ast.Name)
        and func.value.id == owner
    )


def resolve(node, module):
    """What an expression names at module level (constants, imported modules), or None."""
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.Attribute):
        owner = resolve(node.value, module)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def declared_names(node, module) -> list[str] | None:
    """The declared names an action argument can take, or None if it is not built from them."""
    if isinstance(node, ast.IfExp):
        body, orelse = declared_names(node.body, module), declared_names(node.orelse, module)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.Subscript):
        table = resolve(node.value, module)
        return list(table.values()) if isinstance(table, dict) else None
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return [] if name in NAMING_FUNCTIONS else None  # these raise on undeclared names
    value = resolve(node, module)
    return [value] if isinstance(value, str) else None


def test_every_record_call_names_a_declared_action(modules):
    calls, wrong = 0, []
    for name, module in modules.items():
        tree = source_of(module)
        for node in ast.walk(tree) if tree else ():
            if not is_call(node, "audit", "record"):
                continue
            calls += 1
            names = declared_names(node.args[0], module) if node.args else None
            if names is None or any(n not in audit.ACTIONS for n in names):
                wrong.append(f"{name}:{node.lineno}: {ast.unparse(node.args[0])}")
    assert calls > 40  # the scan found the portal's writers
    assert wrong == [], "audit.record() with an undeclared action:\n" + "\n".join(wrong)


def test_each_action_is_declared_once_and_never_spelled_out_elsewhere(modules):
    declarations, spelled = Counter(), []
    for name, module in modules.items():
        tree = source_of(module)
        inside = set()
        for node in ast.walk(tree) if tree else ():
            if is_call(node, "audit", "action") and isinstance(node.args[0], ast.Constant):
                declarations[node.args[0].value] += 1
                inside.add(id(node.args[0]))
        for node in ast.walk(tree) if tree else ():
            named = isinstance(node, ast.Constant) and node.value in audit.ACTIONS
            if named and id(node) not in inside:
                spelled.append(f"{name}:{node.lineno}: {node.value}")
    assert [a for a, n in declarations.items() if n > 1] == []
    assert spelled == [], "use the declared constant:\n" + "\n".join(spelled)


def test_a_name_that_was_not_declared_is_refused():
    with pytest.raises(ValueError):
        audit.declared("virtualkey.teleported")
    with pytest.raises(ValueError):
        audit.action("Not a name")


def test_every_field_kind_has_a_label():
    """Whatever ``_meta.get_field`` returns (fields, reverse relations, many-to-many, generic
    relations) an event naming it gets a label, and a changed value renders."""
    for model in apps.get_models():
        for field in model._meta.get_fields():
            name = field.name
            label = audit_display._field_label(model._meta.label_lower, name)
            assert isinstance(label, str) and label, (model, name)


# --- one event of each action, rendered --------------------------------------------------
def model_named(model_name: str):
    return next((m for m in apps.get_models() if m._meta.model_name == model_name), None)


def make_events(org) -> dict[str, AuditEvent]:
    """One event per declared action, on the model it is named after where there is one,
    its before/after naming every field that model has (reverse relations included)."""
    events = {}
    for number, action in enumerate(sorted(audit.ACTIONS)):
        model = model_named(action.partition(".")[0])
        names = [f.name for f in model._meta.get_fields()] if model else ["detail"]
        events[action] = audit.record(
            action,
            actor=org["infra"],
            object_type=model._meta.label_lower if model else "",
            object_id=str(number),
            object_repr=f"object of {action}",
            before={name: None for name in names},
            after={name: str(number + 1) for name in names},
        )
    return events


@pytest.fixture
def events(org, settings):
    settings.PAGE_SIZE = 1000  # one page holds them all
    # Modules with declarations are imported (the list is the code's own), then one of each.
    list(project_modules())
    return make_events(org)


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_audit_page_renders_every_action(org, client, events, language):
    assert len(events) >= 100
    client.force_login(org["infra"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get("/audit/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response["Content-Language"] == language
    html = response.content.decode()
    rows = html.split('id="audit-rows"')[1]
    missing = [a for a, e in events.items() if f'<code class="muted">{a}</code>' not in rows]
    assert missing == []
    # The htmx part of the page too.
    part = client.get("/audit/", HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE=language)
    assert part.status_code == 200 and all(a in part.content.decode() for a in events)


@pytest.mark.django_db
def test_the_audit_csv_has_every_action(org, client, events):
    client.force_login(org["infra"])
    response = client.get("/audit/", {"format": "csv"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["action"] for r in rows} >= set(events)
    assert {r["object"] for r in rows} >= {e.object_repr for e in events.values()}


@pytest.mark.django_db
def test_the_api_audit_list_has_every_action(org, api, events):
    seen, path = [], "/audit?page_size=50"
    while path:
        response = api.get(org["infra"], path)
        assert response.status_code == 200, response.content[:500]
        page = response.json()
        seen += [(e["id"], e["action"]) for e in page["results"]]
        following = page.get("next")
        path = None
        if following:
            parts = urlsplit(following)
            path = parts.path.removeprefix("/api/v1") + f"?{parts.query}"
    ours = {(e.pk, action) for action, e in events.items()}
    assert ours <= set(seen)  # the fixtures' own events (sign-ins…) come too
    assert len(seen) == len(set(seen))  # no row twice across pages


@pytest.mark.django_db
def test_the_audit_page_answers_once_an_access_review_has_started(org, client):
    """The reported 500: a campaign's event names ``items``, a reverse relation."""
    import datetime

    from django.utils import timezone

    from approvals import reviews

    reviews.start(
        name="Q4 review", departments=[org["a"]], actor=org["infra"],
        deadline=timezone.now() + datetime.timedelta(days=7),
    )  # fmt: skip
    client.force_login(org["infra"])
    response = client.get("/audit/")
    assert response.status_code == 200
    assert reviews.STARTED in response.content.decode()
    assert client.get("/audit/", {"format": "csv"}).status_code == 200
