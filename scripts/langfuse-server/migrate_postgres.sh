#!/usr/bin/env bash
# Create Langfuse's PostgreSQL database if missing and apply its Prisma migrations with psql,
# recording each in _prisma_migrations as `prisma migrate deploy` would (its engine is absent).
# Usage: migrate_postgres.sh <database url> <migrations dir>
set -euo pipefail
URL="$1"
DIR="$2"
NAME="${URL##*/}"
NAME="${NAME%%\?*}"
ADMIN="${URL%/*}/postgres"
if [ -z "$(psql "$ADMIN" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$NAME'")" ]; then
  psql "$ADMIN" -qc "CREATE DATABASE \"$NAME\"" >/dev/null
fi
PGOPTIONS="-c client_min_messages=warning" psql "$URL" -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE IF NOT EXISTS _prisma_migrations (
  id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
  migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
  started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0);
SQL
applied="$(psql "$URL" -Atqc "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL")"
script="$(mktemp)"
trap 'rm -f "$script"' EXIT
count=0
# Directory names may contain spaces ("… copy"): read them line by line.
while IFS= read -r name; do
  path="$DIR/$name/migration.sql"
  [ -f "$path" ] || continue
  sum="$(sha256sum "$path" | cut -d' ' -f1)"
  { cat "$path"; printf '\n;\nINSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) VALUES (gen_random_uuid()::text, %s, now(), %s, 1);\n' "'$sum'" "'$name'"; } >>"$script"
  count=$((count + 1))
done < <(cd "$DIR" && ls -d -- */ | sed 's:/$::' | grep -vxF -f <(printf '%s\n' "$applied") || true)
if [ "$count" -gt 0 ]; then
  began=$SECONDS
  PGOPTIONS="-c client_min_messages=warning" psql "$URL" -q -v ON_ERROR_STOP=1 -f "$script" >/dev/null
  echo "[langfuse-migrate] applied $count PostgreSQL migrations in $((SECONDS - began)) s"
fi
