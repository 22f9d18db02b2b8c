#!/usr/bin/env bash
# Run the LiteLLM proxy in the foreground (install it first with install.sh).
#   LITELLM_PORT (4000), LITELLM_HOST (127.0.0.1), LITELLM_MASTER_KEY (sk-test-master),
#   LITELLM_DATABASE_URL (postgresql://postgres@127.0.0.1:5432/litellm_test), LITELLM_CONFIG.
# Creates the database if missing and applies LiteLLM's migrations before starting.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$ROOT/.litellm-venv"
ENGINES="$VENV/prisma-engines"

if [ ! -x "$VENV/bin/litellm" ] || [ ! -x "$ENGINES/query-engine" ]; then
  echo "LiteLLM is not installed: run scripts/litellm-proxy/install.sh" >&2
  exit 3
fi

export LITELLM_PORT="${LITELLM_PORT:-4000}"
export LITELLM_HOST="${LITELLM_HOST:-127.0.0.1}"
export LITELLM_MASTER_KEY="${LITELLM_MASTER_KEY:-sk-test-master}"
export DATABASE_URL="${LITELLM_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/litellm_test}"
CONFIG="${LITELLM_CONFIG:-$HERE/config.yaml}"

"$VENV/bin/python" - "$DATABASE_URL" <<'PY'
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

url = sys.argv[1]
parts = urlsplit(url)
name = parts.path.lstrip("/")
admin = urlunsplit(parts._replace(path="/postgres"))
with psycopg.connect(admin, autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"created database {name}")
PY
"$VENV/bin/python" "$HERE/migrate.py" "$DATABASE_URL"

export PATH="$VENV/bin:$PATH"
export PRISMA_QUERY_ENGINE_BINARY="$ENGINES/query-engine"
export PRISMA_SCHEMA_ENGINE_BINARY="$ENGINES/schema-engine"
export PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING=1 PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1
export DISABLE_SCHEMA_UPDATE=true
export LITELLM_TELEMETRY=False
export LITELLM_LOG="${LITELLM_LOG:-INFO}"
# Keep the master key out of anything LiteLLM logs about its config.
exec "$VENV/bin/litellm" --config "$CONFIG" --host "$LITELLM_HOST" --port "$LITELLM_PORT" --num_workers 1
