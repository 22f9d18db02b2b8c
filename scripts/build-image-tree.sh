#!/usr/bin/env bash
# Build the container image's file tree without Docker, by the Dockerfile's own steps:
#   DEST/app   the files `COPY . .` takes (.dockerignore applies), with collected static files
#   DEST/venv  a fresh virtualenv with `pip install .` (not editable), like the image's Python
# Run it from DEST/app with DEST/venv/bin first on PATH, e.g. `gunicorn portal.wsgi`.
# Usage: scripts/build-image-tree.sh DEST
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$(realpath -m "${1:?usage: build-image-tree.sh DEST}")"
PY="${PY:-python3}"
unset DJANGO_SETTINGS_MODULE PYTHONPATH  # the image has neither

rm -rf "$DEST"
mkdir -p "$DEST/app"
# Tracked and new (not ignored) files, less what .dockerignore keeps out of the image.
mapfile -t ignored < <(grep -v '^\s*#' "$ROOT/.dockerignore" | sed -e 's|^/||' -e 's|/$||' | grep .)
cd "$ROOT"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] || continue
  for pattern in "${ignored[@]}"; do
    # shellcheck disable=SC2053  # glob match, as Docker's patterns are
    if [[ "$f" == $pattern || "$f" == $pattern/* ]]; then continue 2; fi
  done
  printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$DEST/app"

"$PY" -m venv "$DEST/venv"
"$DEST/venv/bin/pip" install --quiet --disable-pip-version-check "$DEST/app"
cd "$DEST/app"
PATH="$DEST/venv/bin:$PATH" PYTHON="$DEST/venv/bin/python" sh scripts/collectstatic.sh
echo "image tree in $DEST (code in app/, Python in venv/)"
