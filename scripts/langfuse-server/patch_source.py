"""Patch the unpacked Langfuse source so it runs without Prisma's downloaded native engines.

Usage: python3 patch_source.py <langfuse source dir>. Each patch fails loudly if its anchor is
missing (a new Langfuse version needs a look, not a silent no-op) and is skipped if already applied.
"""

import sys
from pathlib import Path


def patch(path: Path, anchor: str, replacement: str, marker: str) -> None:
    text = path.read_text()
    if marker in text:
        return
    if anchor not in text:
        raise SystemExit(f"patch anchor not found in {path}: {anchor!r}")
    path.write_text(text.replace(anchor, replacement, 1))
    print(f"patched {path}")


def main(src: Path) -> None:
    # Prisma's WASM query compiler (bundled in @prisma/client) instead of a native engine.
    patch(
        src / "packages/shared/prisma/schema.prisma",
        'provider        = "prisma-client-js"\n',
        'provider        = "prisma-client-js"\n  engineType      = "client"\n',
        'engineType      = "client"',
    )
    # engineType "client" needs a driver adapter: node-postgres through @prisma/adapter-pg.
    db = src / "packages/shared/src/db.ts"
    patch(
        db,
        'import { Prisma, PrismaClient } from "@prisma/client";\n',
        'import { Prisma, PrismaClient } from "@prisma/client";\n'
        'import { PrismaPg } from "@prisma/adapter-pg";\n',
        "@prisma/adapter-pg",
    )
    patch(
        db,
        '  >({\n    log: [',
        "  >({\n    adapter: new PrismaPg({ connectionString: env.DATABASE_URL }),\n    log: [",
        "adapter: new PrismaPg",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
