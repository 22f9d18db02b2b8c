"""Secrets that pass through a view or service never reach an error report: the frames that
hold them and the POST fields that carry them are cleansed by Django's reporter filter."""

import pytest
from django.core.signals import got_request_exception
from django.views.debug import SafeExceptionReporterFilter

from approvals.lifecycle import Status
from projects.models import TuningProject

from .routes import build_world

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def failing_request(client, method, url, data, monkeypatch, target, attr):
    """Make ``target.attr`` raise mid-request; return (request, traceback) of the failure."""
    seen = {}

    def boom(*args, **kwargs):
        raise Boom("while the secret is in hand")

    monkeypatch.setattr(target, attr, boom)

    def capture(sender, request, **kwargs):
        seen["request"] = request

    got_request_exception.connect(capture)
    try:
        with pytest.raises(Boom) as info:
            getattr(client, method)(url, data)
    finally:
        got_request_exception.disconnect(capture)
    return seen["request"], info.tb


def frame_variables(request, tb, function: str) -> dict:
    report = SafeExceptionReporterFilter()
    while tb is not None:
        if tb.tb_frame.f_code.co_name == function:
            return dict(report.get_traceback_frame_variables(request, tb.tb_frame))
        tb = tb.tb_next
    raise AssertionError(f"{function} not in the traceback")


def test_reveal_keeps_the_secret_out_of_error_reports(client, monkeypatch):
    world = build_world()
    client.force_login(world["dev"])
    from approvals import pages

    request, tb = failing_request(
        client, "post", f"/keys/{world['active'].pk}/reveal/", {}, monkeypatch, pages, "render"
    )
    variables = frame_variables(request, tb, "reveal_once")
    assert "sk-matrix-secret-0001" not in repr(variables)
    assert variables["secret"] == SafeExceptionReporterFilter.cleansed_substitute


def test_manual_fulfilment_keeps_the_secret_out_of_error_reports(client, monkeypatch):
    world = build_world()
    project = world["manual_project"]
    assert project.status == Status.MANUAL
    client.force_login(world["infra"])
    data = {
        "langfuse_host": "https://langfuse.example.com",
        "langfuse_project_id": "lf-by-hand",
        "public_key": "pk-lf-hand",
        "secret_key": "sk-lf-typed-by-infra",
    }
    request, tb = failing_request(
        client,
        "post",
        f"/projects/{project.pk}/fulfil/",
        data,
        monkeypatch,
        TuningProject,
        "store_secret",
    )
    report = SafeExceptionReporterFilter()
    assert report.get_post_parameters(request)["secret_key"] == report.cleansed_substitute
    for function in ("fulfil_manually", "fulfil_project"):
        assert "sk-lf-typed-by-infra" not in repr(frame_variables(request, tb, function))
