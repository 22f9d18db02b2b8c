#!/bin/sh
# Collect static files the way production serves them: DEBUG=0, hashed names and a manifest
# (WhiteNoise). Used by the Dockerfile and scripts/build-image-tree.sh. The secrets production
# requires are throwaway values here: collectstatic reads neither, and nothing keeps them.
set -eu
PY="${PYTHON:-python}"
export DEBUG=0
SECRET_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')" \
SECRETS_FERNET_KEY="$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
  "$PY" manage.py collectstatic --noinput --verbosity 0
