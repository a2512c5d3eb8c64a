#!/usr/bin/env bash
# Debian's Chromium for the browser tests and axe-core (npm) for the accessibility checks.
# Nothing is downloaded at run time: both are installed here, once.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

if ! command -v chromium >/dev/null; then
  as_root apt-get update -q >/dev/null || true
  as_root apt-get install -y -q chromium >/dev/null
fi
command -v chromium >/dev/null || { echo "chromium could not be installed" >&2; exit 1; }
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  npm ci --no-audit --no-fund --silent
fi
echo "browser: $(chromium --version 2>/dev/null | head -1); axe-core $(node -p "require('./node_modules/axe-core/package.json').version")"
