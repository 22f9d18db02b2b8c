"""Secrets at rest: a valid Fernet key is required in production, and keys can be rotated."""

import subprocess

import pytest
from cryptography.fernet import Fernet

from portal import crypto

from .factories import make_key
from .production import manage


def _check(**extra: str) -> subprocess.CompletedProcess:
    return manage("check", **extra)


@pytest.mark.parametrize(
    "env",
    [
        {"SECRETS_FERNET_KEY": ""},  # what .env.example used to ship
        {},
        {"SECRETS_FERNET_KEY": "replace-with-the-generated-key"},
        {"SECRETS_FERNET_KEYS": f"{Fernet.generate_key().decode()},not-a-key"},
    ],
    ids=["empty", "missing", "placeholder", "one-bad-in-list"],
)
def test_production_refuses_to_start_without_a_valid_fernet_key(env):
    result = _check(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Fernet key" in result.stderr


def test_production_starts_with_rotated_keys():
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    result = _check(SECRETS_FERNET_KEYS=keys)
    assert result.returncode == 0, result.stderr


def test_rotation_decrypts_old_secrets_and_encrypts_with_the_newest(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRETS_FERNET_KEYS = [old]
    stored = crypto.encrypt("sk-before-rotation")

    settings.SECRETS_FERNET_KEYS = [new, old]
    assert crypto.decrypt(stored) == "sk-before-rotation"
    fresh = crypto.encrypt("sk-after-rotation")
    assert Fernet(new.encode()).decrypt(fresh.encode()) == b"sk-after-rotation"
    rekeyed = crypto.rotate(stored)
    assert Fernet(new.encode()).decrypt(rekeyed.encode()) == b"sk-before-rotation"

    settings.SECRETS_FERNET_KEYS = [new]  # the old key dropped after re-keying
    assert crypto.decrypt(rekeyed) == "sk-before-rotation"


@pytest.mark.django_db
def test_rekey_command_moves_waiting_secrets_to_the_newest_key(org, settings):
    import io

    from django.core.management import call_command

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRETS_FERNET_KEYS = [old]
    key = make_key(
        org,
        llm_models=[],
        justification="j",
        lifetime_days=7,
        max_budget=5,
        rpm_limit=1,
        tpm_limit=1,
    )
    key.store_secret("sk-waiting-1234")
    key.save()
    settings.SECRETS_FERNET_KEYS = [new, old]
    out = io.StringIO()
    call_command("rekey_secrets", stdout=out)
    assert "1 secret(s)" in out.getvalue()
    settings.SECRETS_FERNET_KEYS = [new]
    key.refresh_from_db()
    assert crypto.decrypt(key.secret_encrypted) == "sk-waiting-1234"
