"""Policies as code: each department's approval policy as one YAML document (``<slug>.yaml``).

``export_documents`` reads what is live, ``load``/``validate`` read files (the JSON Schema in
``policy_schema.json``, then what only the database knows: departments, people), ``diff``
compares a file with what is live, field by field (``policy_apply`` writes what differs as
a new, audited policy version). People are named by e-mail and groups by their Entra object
id, never by a database id, so the files move between installations. Documents are always
written in one canonical form, so export → apply → export gives the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import jsonschema
import yaml

from tenants.models import Department, User

from .models import Policy, PolicyStage

SCHEMA_PATH = Path(__file__).with_name("policy_schema.json")
HEADER = "# Approval policy (policies as code). Schema: approvals/policy_schema.json\n"
CENT = Decimal("0.01")
MAX_FILE_CHARS = 200_000


@cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class FileError:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(document)'}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "path": self.path, "message": self.message}


# --- reading what is live -------------------------------------------------------------------
def _money(value) -> Decimal:
    return Decimal(value).quantize(CENT)


def stage_document(stage: PolicyStage) -> dict:
    approvers: dict = {"kind": stage.approver}
    if stage.approver == "group":
        approvers["group"] = stage.group_id
    elif stage.approver == "person":
        approvers["person"] = stage.person.email if stage.person_id else None
    return {
        "name": stage.name,
        "approvers": approvers,
        "quorum": stage.quorum,
        "quorum_n": stage.quorum_n,
        "condition": stage.condition,
        "threshold": _money(stage.threshold) if stage.threshold is not None else None,
        "premium_models": sorted(stage.premium_models or []),
        "sla": {
            "reminder_hours": stage.reminder_hours,
            "escalate_hours": stage.escalate_hours,
            "expire_days": stage.expire_days,
        },
        "fallback": stage.fallback.email if stage.fallback_id else None,
    }


def live_document(department: Department) -> dict:
    """What is live for ``department``, in the files' canonical form. No policy is the same as
    a policy without stages (the leads, or the manager, decide alone)."""
    policy = Policy.objects.filter(department=department).first()
    stages = []
    if policy is not None:
        stages = policy.stages.select_related("person", "fallback").order_by("position", "pk")
    return {
        "department": department.slug,
        "auto_approve": {
            "max_budget": _money(department.auto_approve_max_budget),
            "max_lifetime_days": department.auto_approve_max_lifetime_days,
        },
        "distinct_approvers": policy.distinct_approvers if policy is not None else True,
        "stages": [stage_document(s) for s in stages],
    }


def export_documents() -> dict[str, dict]:
    return {d.slug: live_document(d) for d in Department.objects.order_by("slug")}


# --- YAML -----------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    Decimal, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:float", str(value))
)


def dump(document: dict) -> str:
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return HEADER + body


def write_directory(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for slug, document in export_documents().items():
        path = directory / f"{slug}.yaml"
        path.write_text(dump(document), encoding="utf-8")
        written.append(path)
    return written


def parse(name: str, text) -> tuple[object, list[FileError]]:
    """A YAML text (or an already parsed document) as a Python value, or the parse error."""
    if not isinstance(text, str):
        return text, []
    if "\x00" in text:
        return None, [FileError(name, "", "The file contains a NUL byte.")]
    if len(text) > MAX_FILE_CHARS:
        return None, [FileError(name, "", f"Longer than {MAX_FILE_CHARS} characters.")]
    try:
        # A policy needs no anchors or aliases; refusing them keeps a small file small.
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, yaml.SafeLoader)):
            return None, [FileError(name, "", "YAML aliases (*name) are not allowed.")]
        return yaml.safe_load(text), []
    except RecursionError:
        return None, [FileError(name, "", "Nested too deeply.")]
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f"line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [FileError(name, line, f"Not valid YAML: {problem}")]


def read_directory(directory: Path) -> dict[str, str]:
    """``<slug>.yaml`` (and ``.yml``) files of ``directory`` by file name, sorted."""
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    return {p.name: p.read_text(encoding="utf-8", errors="replace") for p in files}


# --- validating -----------------------------------------------------------------------------
def _pointer(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _error_order(error) -> tuple:
    """Errors in document order (list indexes as numbers), then by message."""
    path = [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]
    return path, error.message


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _decimal(value, name: str, path: str, errors: list[FileError]) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors.append(FileError(name, path, "Not a number."))
        return None
    if number != number.quantize(CENT):
        errors.append(FileError(name, path, "At most two decimal places."))
    return number.quantize(CENT)


def normalise(document: dict) -> dict:
    """A schema-valid document in the canonical form (defaults filled in, numbers as Decimal,
    premium models sorted, keys in the export's order)."""
    stages = []
    for stage in document["stages"]:
        sla = stage.get("sla") or {}
        approvers = {"kind": stage["approvers"]["kind"]}
        for key in ("group", "person"):
            if key in stage["approvers"]:
                approvers[key] = stage["approvers"][key]
        threshold = stage.get("threshold")
        stages.append(
            {
                "name": stage["name"],
                "approvers": approvers,
                "quorum": stage.get("quorum", "any"),
                "quorum_n": stage.get("quorum_n", 1),
                "condition": stage.get("condition", "always"),
                "threshold": _money(str(threshold)) if threshold is not None else None,
                "premium_models": sorted(stage.get("premium_models") or []),
                "sla": {
                    "reminder_hours": sla.get("reminder_hours", 0),
                    "escalate_hours": sla.get("escalate_hours", 0),
                    "expire_days": sla.get("expire_days", 0),
                },
                "fallback": stage.get("fallback"),
            }
        )
    return {
        "department": document["department"],
        "auto_approve": {
            "max_budget": _money(str(document["auto_approve"]["max_budget"])),
            "max_lifetime_days": document["auto_approve"]["max_lifetime_days"],
        },
        "distinct_approvers": document["distinct_approvers"],
        "stages": stages,
    }


def _semantic(name: str, slug_hint: str, doc: dict, errors: list[FileError]) -> None:
    slug = doc["department"]
    if slug_hint and slug_hint != slug:
        errors.append(FileError(name, "department", f"The file for {slug_hint!r} names {slug!r}."))
    if not Department.objects.filter(slug=slug).exists():
        errors.append(FileError(name, "department", f"No department with the slug {slug!r}."))
    _decimal(doc["auto_approve"]["max_budget"], name, "auto_approve.max_budget", errors)
    for i, stage in enumerate(doc["stages"]):
        where = f"stages[{i}]"
        if stage.get("threshold") is not None:
            _decimal(stage["threshold"], name, f"{where}.threshold", errors)
        people = [("approvers.person", stage["approvers"].get("person"))]
        people.append(("fallback", stage.get("fallback")))
        for field, email in people:
            if email and not User.objects.filter(email__iexact=email).exists():
                errors.append(
                    FileError(name, f"{where}.{field}", f"Nobody has the e-mail {email}.")
                )


def validate(files: dict[str, object]) -> tuple[dict[str, dict], list[FileError]]:
    """Check every file (name → YAML text or parsed document). Returns the canonical documents
    by department slug and every error found, each with its file and path in the document."""
    validator = jsonschema.Draft202012Validator(schema())
    documents: dict[str, dict] = {}
    errors: list[FileError] = []
    for name in sorted(files):
        value, parse_errors = parse(name, files[name])
        if parse_errors:
            errors += parse_errors
            continue
        try:
            if _has_nul(value):
                errors.append(FileError(name, "", "The document contains a NUL character."))
                continue
            schema_errors = sorted(validator.iter_errors(value), key=_error_order)
        except RecursionError:
            errors.append(FileError(name, "", "Nested too deeply."))
            continue
        for error in schema_errors:
            errors.append(FileError(name, _pointer(error.absolute_path), error.message))
        if schema_errors:
            continue
        before = len(errors)
        hint = name.rsplit(".", 1)[0] if name.endswith((".yaml", ".yml")) else name
        _semantic(name, hint, value, errors)
        slug = value["department"]
        if slug in documents:
            errors.append(FileError(name, "department", f"A second file for {slug!r}."))
        if len(errors) == before:
            documents[slug] = normalise(value)
    return documents, errors


# --- comparing ------------------------------------------------------------------------------
def _flatten(value, prefix: str) -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: value}


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value


def diff(live: dict, planned: dict) -> list[dict]:
    """Field-by-field changes from ``live`` to ``planned`` (stages compared by position)."""
    changes = []
    for side in ("auto_approve", "distinct_approvers"):
        before, after = _flatten(live[side], side), _flatten(planned[side], side)
        for path in before:
            if before[path] != after[path]:
                changes.append(
                    {"path": path, "live": _plain(before[path]), "file": _plain(after[path])}
                )
    old, new = live["stages"], planned["stages"]
    for i in range(max(len(old), len(new))):
        where = f"stages[{i}]"
        if i >= len(old):
            changes.append({"path": where, "live": None, "file": {"stage": new[i]["name"]}})
        elif i >= len(new):
            changes.append({"path": where, "live": {"stage": old[i]["name"]}, "file": None})
        else:
            before, after = _flatten(old[i], where), _flatten(new[i], where)
            for path in sorted(set(before) | set(after)):
                if before.get(path) != after.get(path):
                    changes.append(
                        {
                            "path": path,
                            "live": _plain(before.get(path)),
                            "file": _plain(after.get(path)),
                        }
                    )
    return changes


def changes_by_department(documents: dict[str, dict]) -> dict[str, list[dict]]:
    departments = Department.objects.filter(slug__in=documents).order_by("slug")
    return {d.slug: diff(live_document(d), documents[d.slug]) for d in departments}
