"""The demo's CI OIDC issuer: a small HTTP server speaking what GitHub Actions' issuer serves.

`make demo` starts it (scripts/demo.py) so the README's workflow can run against the demo:
the demo pipeline identity trusts it, `scripts/demo_ci_token.py` signs a GitHub-shaped token
with its key, and the portal's exchange verifies that token unchanged, by OIDC discovery:

* ``GET /.well-known/openid-configuration``: ``issuer``, ``jwks_uri``, the supported claims,
  ``id_token_signing_alg_values_supported`` (RS256);
* ``GET /.well-known/jwks``: the RSA public key (``kid`` = its SHA-1 thumbprint, as GitHub).

The signing key is made on the first run and kept in ``<DEMO_VAR_DIR>/ci-issuer/`` (mode
0600), beside ``issuer.json`` (the issuer URL and the audience the token script uses).
Environment: DEMO_CI_ISSUER_PORT (8090), DEMO_VAR_DIR (var/demo), SITE_URL (the audience).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository",
          "repository_owner", "run_id", "run_attempt", "workflow_ref", "job_workflow_ref",
          "event_name", "ref_type", "environment", "actor"]  # fmt: skip


def state_dir() -> Path:
    var = Path(os.environ.get("DEMO_VAR_DIR") or ROOT / "var" / "demo").resolve()
    return var / "ci-issuer"


def signing_key(directory: Path) -> rsa.RSAPrivateKey:
    """The issuer's RSA key, made on the first run."""
    path = directory / "signing-key.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def kid(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _b64url(hashlib.sha1(der).digest())  # noqa: S324 (a thumbprint, as GitHub's x5t)


def jwk(key: rsa.RSAPrivateKey) -> dict:
    numbers = key.public_key().public_numbers()

    def b64int(n: int) -> str:
        return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid(key), "x5t": kid(key),
            "n": b64int(numbers.n), "e": b64int(numbers.e)}  # fmt: skip


def documents(issuer: str, key: rsa.RSAPrivateKey) -> dict[str, dict]:
    return {
        "/.well-known/openid-configuration": {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks",
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": CLAIMS,
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        },
        "/.well-known/jwks": {"keys": [jwk(key)]},
    }


class Handler(BaseHTTPRequestHandler):
    served: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.served.get(self.path.split("?", 1)[0])
        status = 200 if body is not None else 404
        body = body if body is not None else b'{"message": "Not found"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        sys.stdout.write(f"{self.address_string()} {format % args}\n")
        sys.stdout.flush()


def main() -> int:
    port = int(os.environ.get("DEMO_CI_ISSUER_PORT", "8090"))
    directory = state_dir()
    key = signing_key(directory)
    issuer = f"http://127.0.0.1:{port}"
    audience = os.environ.get("SITE_URL") or "http://127.0.0.1:8000"
    Handler.served = {
        path: json.dumps(doc).encode() for path, doc in documents(issuer, key).items()
    }
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    (directory / "issuer.json").write_text(json.dumps({"issuer": issuer, "audience": audience}))
    print(f"demo CI issuer at {issuer} (audience {audience})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
