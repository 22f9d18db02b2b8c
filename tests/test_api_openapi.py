"""The OpenAPI document is generated from the code, valid OpenAPI 3.1, and answers match it."""

import functools
import json

import pytest
from django.test import Client
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource

pytestmark = pytest.mark.django_db


@functools.cache
def _document_text() -> bytes:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.content


def openapi_document() -> dict:
    """Generated from the code (cached: it does not change within a run)."""
    return json.loads(_document_text())


def operations(doc: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def check_response(doc: dict, method: str, path: str, response) -> None:
    """Validate a JSON answer against the schema the document declares for it."""
    responses = doc["paths"][path][method.lower()]["responses"]
    declared = responses.get(str(response.status_code))
    assert declared is not None, f"{method} {path} answered undeclared {response.status_code}"
    content_type = response["Content-Type"].split(";")[0]
    content = declared.get("content", {})
    if content_type == "text/csv":
        assert "text/csv" in content, f"{method} {path} answered undeclared CSV"
        return
    assert content_type in content, f"{method} {path} answered undeclared {content_type}"
    schema = content[content_type]["schema"]
    # Point the schema's references at the document, registered under one URI.
    wrapper = json.loads(json.dumps(schema).replace('"#/components', '"urn:doc#/components'))
    registry = Registry().with_resource("urn:doc", Resource.opaque(doc))
    validator = Draft202012Validator(wrapper, registry=registry)
    errors = sorted(validator.iter_errors(response.json()), key=str)
    assert not errors, f"{method} {path}: {errors[0].message}"


def test_the_document_is_valid_openapi_3_1():
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    assert doc["components"]["securitySchemes"]["EntraBearer"]["scheme"] == "bearer"


def test_the_document_and_docs_need_no_sign_in():
    assert Client().get("/api/v1/docs").status_code == 200


def test_every_operation_is_documented_with_a_summary_and_security():
    doc = openapi_document()
    assert len(operations(doc)) >= 30
    # The token exchange's credential is the CI's OIDC token in the form, not a bearer token.
    public = {"/api/v1/token-exchange"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path in public:
                assert not op.get("security") and "subject_token" in str(op["requestBody"])
                continue
            assert op.get("security"), f"{method} {path} has no security"
