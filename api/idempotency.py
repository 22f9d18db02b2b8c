"""``Idempotency-Key`` on POSTs: a retry gets the first answer, and the work happens once.

The record is inserted first, in the same transaction as the operation. A concurrent retry
with the same key blocks on the unique index until the first commits, then replays its
answer. Answers of 5xx are not kept (the transaction is rolled back), so a retry runs again.
Never used on the reveal operations: their answer is a secret and is not stored.
"""

from __future__ import annotations

import datetime
import functools
import hashlib

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone

from .models import IdempotencyRecord
from .problems import Problem, response

HEADER = "Idempotency-Key"


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.body):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    reply = HttpResponse(record.body, status=record.status_code, content_type=record.content_type)
    reply["Idempotent-Replayed"] = "true"
    return reply


def idempotent(run):
    """Wrap a ninja operation's ``run`` (via ``decorate_view``)."""

    @functools.wraps(run)
    def wrapped(request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return run(request, *args, **kwargs)
        from .auth import EntraBearer

        try:
            identity = EntraBearer()(request)
        except Problem:
            return run(request, *args, **kwargs)  # the operation answers 401/403 itself
        if not 1 <= len(key) <= 255:
            return response(request, Problem(400, "Bad Idempotency-Key", "Use 1-255 characters."))
        fingerprint = _fingerprint(request)
        cutoff = timezone.now() - datetime.timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
        with transaction.atomic():
            IdempotencyRecord.objects.filter(
                identity=identity.key, key=key, created_at__lt=cutoff
            ).delete()
            record, created = IdempotencyRecord.objects.get_or_create(
                identity=identity.key,
                key=key,
                defaults={
                    "method": request.method,
                    "path": request.path,
                    "fingerprint": fingerprint,
                },
            )
            if not created:
                if record.fingerprint != fingerprint:
                    return response(
                        request,
                        Problem(
                            422,
                            "Idempotency-Key reused",
                            "This key was used for a different request.",
                            type_="idempotency-key-reused",
                        ),
                    )
                return _replay(record)
            reply = run(request, *args, **kwargs)
            if reply.status_code >= 500 or reply.streaming:
                transaction.set_rollback(True)
                return reply
            record.status_code = reply.status_code
            record.content_type = reply.get("Content-Type", "application/json")
            record.body = reply.content.decode()
            record.save(update_fields=["status_code", "content_type", "body"])
        return reply

    return wrapped
