"""Encryption at rest for secrets that wait to be handed over once (Fernet).

``SECRETS_FERNET_KEYS`` lists keys newest first: new secrets are encrypted with the first,
and a secret encrypted with any listed key still decrypts, so a key can be rotated by putting
the new one in front and dropping the old one once nothing waits under it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables


def _fernet() -> MultiFernet:
    keys = list(settings.SECRETS_FERNET_KEYS)
    if not keys:  # demo only (DEBUG; settings refuse this in production)
        keys = [base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest())]
    return MultiFernet([Fernet(key) for key in keys])


@sensitive_variables("plaintext")
def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


@sensitive_variables()
def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """``token`` re-encrypted with the newest key (for re-keying stored secrets)."""
    return _fernet().rotate(token.encode()).decode()
