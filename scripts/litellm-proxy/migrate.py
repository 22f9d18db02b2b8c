"""Apply LiteLLM's shipped SQL migrations without Prisma's schema engine (offline).

``prisma migrate deploy`` needs Prisma's native schema-engine binary, which is only
downloadable from Prisma's CDN. The migrations are plain SQL files shipped in the
``litellm-proxy-extras`` wheel, so this script applies each pending one in order, each in its
own transaction, and records it in ``_prisma_migrations`` exactly like Prisma would (same
table, same checksum), so a real ``prisma migrate`` later sees them as applied.

Usage: python migrate.py DATABASE_URL   (run with the LiteLLM venv's python)
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from pathlib import Path

import litellm_proxy_extras
import psycopg

PRISMA_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)
"""


def main(database_url: str) -> int:
    migrations = Path(litellm_proxy_extras.__file__).parent / "migrations"
    names = sorted(p.name for p in migrations.iterdir() if (p / "migration.sql").is_file())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(PRISMA_MIGRATIONS_TABLE)
        done = {
            row[0]
            for row in conn.execute(
                'SELECT migration_name FROM "_prisma_migrations" '
                "WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"
            )
        }
        applied = 0
        for name in names:
            if name in done:
                continue
            sql = (migrations / name / "migration.sql").read_text()
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            record = (
                'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, '
                "migration_name, applied_steps_count) VALUES (%s, %s, now(), %s, 1)"
            )
            try:
                if "CONCURRENTLY" in sql:
                    # Single-statement migrations Prisma runs outside a transaction.
                    conn.execute(sql)
                    conn.execute(record, (str(uuid.uuid4()), checksum, name))
                else:
                    with conn.transaction():
                        conn.execute(sql)
                        conn.execute(record, (str(uuid.uuid4()), checksum, name))
            except psycopg.Error as exc:
                print(f"migration {name} failed: {exc}", file=sys.stderr)
                return 1
            applied += 1
        print(f"litellm migrations: {applied} applied, {len(names) - applied} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
