#!/usr/bin/env bash
# Install axe-core (the accessibility engine the browser test injects into each page of the built book)
# from the npm registry, at the version pinned in tools/axe/package-lock.json (checked by its integrity
# hash), into tools/axe/node_modules/. Needs node and npm; does nothing when that version is already there.
# On failure it says why and exits 0: the browser test then fails with the same reason (it does not skip,
# a missing axe is not a missing browser).
set -u
here="$(cd "$(dirname "$0")" && pwd)/axe"
want="$(sed -n 's/^ *"axe-core": "\([0-9.]*\)".*/\1/p' "$here/package.json" | head -n 1)"
have="$(sed -n 's/^ *"version": "\([0-9.]*\)".*/\1/p' "$here/node_modules/axe-core/package.json" 2>/dev/null | head -n 1)"
if [ -n "$want" ] && [ "$have" = "$want" ] && [ -f "$here/node_modules/axe-core/axe.min.js" ]; then exit 0; fi
if ! command -v npm >/dev/null 2>&1; then
  echo "note: npm not found; axe-core $want not installed (the accessibility test will fail; install node and npm)"
  exit 0
fi
echo "installing axe-core $want (npm ci in tools/axe) for the accessibility test..."
log="${TMPDIR:-/tmp}/histogan-axe-install.log"
( cd "$here" && npm ci --no-audit --no-fund --ignore-scripts ) >"$log" 2>&1 \
  || echo "note: axe-core install failed (see $log); the accessibility test will fail"
exit 0
