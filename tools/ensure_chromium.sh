#!/usr/bin/env bash
# Make Debian's Chromium available for the browser test of the built book (make test).
# Playwright drives it through its executable path; no browser is downloaded by Playwright itself.
# Installs with apt-get only when running as root on a Debian-like system; otherwise it says why
# and the browser test skips with that reason. Also installs the pinned axe-core the test injects
# (tools/ensure_axe.sh).
set -u
bash "$(dirname "$0")/ensure_axe.sh"
for exe in chromium chromium-browser; do
  if command -v "$exe" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: Chromium not found and cannot be installed here (needs root and apt-get); the browser test will skip"
  exit 0
fi
echo "installing Chromium (Debian package) for the browser test..."
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -qq && apt-get install -y -qq chromium; } >/tmp/histogan-chromium-install.log 2>&1 \
  || echo "note: Chromium install failed (see /tmp/histogan-chromium-install.log); the browser test will skip"
exit 0
