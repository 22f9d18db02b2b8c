#!/usr/bin/env bash
# Screenshots of the console as it was before a change, for a before/after comparison:
#   bash scripts/screenshots-before.sh [COMMIT] [OUT]
# COMMIT (default: main before the console of issue 12 was merged) is checked out in a temporary
# worktree outside this tree; the browser test of the issue-12 merge takes its screenshots into
# OUT (default test-results/screenshots-before/). Its assertions fail on old pages; that is
# expected (exit status 0 when screenshots were written). Needs DATABASE_URL and REDIS_URL as for
# the tests (pytest uses a test_<name> database: give it a name of your own).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COMMIT="${1:-336d107^1}"
OUT="$(realpath -m "${2:-$ROOT/test-results/screenshots-before}")"
TEST_FROM="336d107"  # the merge that brought tests/test_ux_browser.py
TMP="$(mktemp -d /tmp/portal-before.XXXXXX)"
cleanup() { git -C "$ROOT" worktree remove --force "$TMP" 2>/dev/null || rm -rf "$TMP"; }
trap cleanup EXIT

git -C "$ROOT" worktree add --quiet --detach "$TMP" "$COMMIT"
git -C "$ROOT" show "$TEST_FROM:tests/test_ux_browser.py" > "$TMP/tests/test_ux_browser.py"
git -C "$ROOT" show "$TEST_FROM:tests/browser.py" > "$TMP/tests/browser.py"
sed -i "s|^SHOTS = .*|SHOTS = Path(\"$OUT\")|" "$TMP/tests/test_ux_browser.py"
ln -s "$ROOT/.test-tools" "$TMP/.test-tools"
# The venv's editable install would fill packages the old tree lacks from this tree: shadow them.
for pkg in portal/templatetags; do
    [ -d "$TMP/$pkg" ] || { mkdir -p "$TMP/$pkg" && touch "$TMP/$pkg/__init__.py"; }
done
mkdir -p "$OUT"
cd "$TMP"
PYTHONPATH="$TMP" "$ROOT/.venv/bin/pytest" -q -p no:cacheprovider tests/test_ux_browser.py \
    -k "main_pages or sign_in_page" || true
count=$(find "$OUT" -name '*.png' | wc -l)
echo "$count screenshots in $OUT"
[ "$count" -gt 0 ]
