"""Patch the unpacked Langfuse source so it runs without Prisma's downloaded native engines.

Usage: python3 patch_source.py <langfuse source dir>; it also drops the web UI (api_only).
Each patch fails loudly if its anchor is missing (a new Langfuse version needs a look, not a
silent no-op) and is skipped if already applied.
"""

import shutil
import sys
from pathlib import Path

#: The only web routes the portal (and its tests) call: the public API and the admin API.
KEPT_PAGES = ("api/public", "api/admin")
MINIMAL_APP = """// Test harness: API routes only, no UI (see the portal's scripts/langfuse-server).
import type { AppProps } from "next/app";

export default function App({ Component, pageProps }: AppProps) {
  return <Component {...pageProps} />;
}
"""


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
        "  >({\n    log: [",
        "  >({\n    adapter: new PrismaPg({ connectionString: env.DATABASE_URL }),\n    log: [",
        "adapter: new PrismaPg",
    )
    api_only(src)


def api_only(src: Path) -> None:
    """Build only the HTTP API: drop the UI pages and the App Router routes (billing, agents,
    playground), keep ``pages/api/public`` and ``pages/api/admin``. The UI is most of the
    build's time and memory, and nothing in the tests renders it."""
    web = src / "web/src"
    pages = web / "pages"
    marker = pages / ".api-only"
    if marker.exists():
        return
    shutil.rmtree(web / "app", ignore_errors=True)
    for entry in pages.iterdir():
        if entry.name != "api":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for entry in (pages / "api").iterdir():
        if f"api/{entry.name}" not in KEPT_PAGES:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    (pages / "_app.tsx").write_text(MINIMAL_APP)
    marker.write_text("pages other than the public and admin API removed\n")
    print(f"kept only {', '.join(KEPT_PAGES)} in {pages}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
