#!/usr/bin/env bash
# Install a real LiteLLM proxy into <repo>/.litellm-venv, offline-safe (PyPI + npm + apt only).
#
# LiteLLM keeps keys/teams/spend in PostgreSQL through prisma-client-py, whose native Prisma
# engines are normally downloaded from Prisma's CDN (not reachable here). Instead:
#   * the Python client is generated with the Prisma CLI from npm (`prisma generate` only needs
#     the CLI's bundled wasm schema parser, not the native engines);
#   * the query engine is query-engine/server.mjs: the same engine commit from npm
#     (@prisma/query-engine-wasm) behind the HTTP interface prisma-client-py expects;
#   * migrations are applied by migrate.py from the SQL files LiteLLM ships (run.sh does it).
# Idempotent: re-running only redoes what changed.
set -euo pipefail

LITELLM_VERSION="1.106.2"
PRISMA_PY_VERSION="0.15.0"
# The SDK behind LiteLLM's `langfuse` callback (OTel export; LiteLLM 1.106 needs >=4.7,<5).
LANGFUSE_SDK_VERSION="4.18.0"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$ROOT/.litellm-venv"
ENGINES="$VENV/prisma-engines"
PYTHON="${LITELLM_PYTHON:-}"

log() { echo "[litellm-install] $*"; }

# --- toolchain: Python >= 3.10 and Node >= 18 (apt as root when missing) ----------------------
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$(command -v "$candidate")"; break; fi
  done
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm with apt"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import venv, sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  log "installing python3 and python3-venv with apt"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv
  PYTHON="$(command -v python3)"
fi

# --- the LiteLLM virtualenv ----------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "
import importlib.metadata as m, sys
sys.exit(m.version('litellm') != '$LITELLM_VERSION' or m.version('prisma') != '$PRISMA_PY_VERSION')
" 2>/dev/null; then
  log "installing litellm[proxy]==$LITELLM_VERSION prisma==$PRISMA_PY_VERSION"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "litellm[proxy]==$LITELLM_VERSION" "prisma==$PRISMA_PY_VERSION" "psycopg[binary]>=3.1,<4"
fi
if ! "$VENV/bin/python" -c "
import importlib.metadata as m, sys
sys.exit(m.version('langfuse') != '$LANGFUSE_SDK_VERSION')
" 2>/dev/null; then
  log "installing langfuse==$LANGFUSE_SDK_VERSION (for LiteLLM's langfuse callback)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "langfuse==$LANGFUSE_SDK_VERSION"
fi

# --- the query-engine stand-in (npm) --------------------------------------------------------------
mkdir -p "$ENGINES"
for f in server.mjs package.json package-lock.json query-engine schema-engine; do
  if ! cmp -s "$HERE/query-engine/$f" "$ENGINES/$f"; then cp "$HERE/query-engine/$f" "$ENGINES/$f"; fi
done
chmod +x "$ENGINES/query-engine" "$ENGINES/schema-engine"
if ! cmp -s "$ENGINES/package-lock.json" "$ENGINES/node_modules/.installed-lock.json" 2>/dev/null; then
  log "installing the wasm query engine from npm"
  (cd "$ENGINES" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$ENGINES/package-lock.json" "$ENGINES/node_modules/.installed-lock.json"
fi

# --- prisma generate (offline) ---------------------------------------------------------------------
SCHEMA_SRC="$("$VENV/bin/python" -c 'import litellm_proxy_extras, os; print(os.path.join(os.path.dirname(litellm_proxy_extras.__file__), "schema.prisma"))')"
SCHEMA="$ENGINES/schema.prisma"
# One binary target: ours. (The shipped schema lists five, which the CLI would try to download.)
sed -E 's/^(\s*)binaryTargets\s*=.*$/\1binaryTargets = ["native"]/' "$SCHEMA_SRC" > "$SCHEMA.new"
STAMP="$ENGINES/.generated"
WANT="$(cat "$SCHEMA.new" "$ENGINES/query-engine" | sha256sum | cut -d' ' -f1)-$LITELLM_VERSION-$PRISMA_PY_VERSION"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ] || ! "$VENV/bin/python" -c 'from prisma import Prisma' 2>/dev/null; then
  mv "$SCHEMA.new" "$SCHEMA"
  log "generating the Prisma client (offline)"
  (
    cd "$ENGINES"
    export PATH="$VENV/bin:$PATH"
    export PRISMA_QUERY_ENGINE_BINARY="$ENGINES/query-engine"
    export PRISMA_SCHEMA_ENGINE_BINARY="$ENGINES/schema-engine"
    export PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING=1 PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1
    export PRISMA_USE_GLOBAL_NODE=1
    "$VENV/bin/prisma" generate --schema "$SCHEMA"
  )
  echo "$WANT" > "$STAMP"
else
  rm -f "$SCHEMA.new"
fi
"$VENV/bin/python" -c 'from prisma import Prisma' \
  && log "ready: litellm $LITELLM_VERSION in $VENV"
