#!/usr/bin/env bash
# Debian's chromium for the dashboard's browser tests (Playwright drives it through
# executable_path: no browser download). Installed once, as root, like the Go-built
# control plane; a machine that already has it is left alone.
set -euo pipefail
CHROMIUM=${TETHER_CHROMIUM:-/usr/bin/chromium}
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "chromium is missing ($CHROMIUM): run 'apt-get install chromium' as root, or set TETHER_CHROMIUM" >&2
  exit 1
fi
echo "installing Debian's chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
"$CHROMIUM" --version
