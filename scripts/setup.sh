#!/usr/bin/env bash
# Install everything the publisher toolchain needs on a fresh Debian 12 machine
# (run as root). Idempotent: reruns skip every step that is already done.
#
#   1. Debian packages (Java for EPUBCheck, Chromium for Ace + screenshots,
#      poppler-utils, pandoc, WeasyPrint's Pango/HarfBuzz libs, a fallback font)
#   2. .venv with `pip install -e '.[test]'` (redone only when pyproject.toml changes)
#   3. Node tools in tools/node_modules via `npm ci` (redone only when the lock changes)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'setup: %s\n' "$*"; }

# --- 1. Debian packages -----------------------------------------------------
APT_PACKAGES=(
  default-jre-headless            # EPUBCheck
  chromium                        # DAISY Ace, epub.js screenshots
  poppler-utils                   # pdftoppm, pdffonts, pdfinfo
  pandoc                          # benchmark peer
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0   # WeasyPrint
  fonts-dejavu-core               # fallback font
  nodejs npm                      # tools/ (Ace, epub.js, playwright-core)
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == "installed" ]] || missing+=("$pkg")
done
# Node may come from elsewhere (e.g. NodeSource); don't fight an existing one.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for pkg in "${missing[@]}"; do
    [[ "$pkg" == nodejs || "$pkg" == npm ]] || filtered+=("$pkg")
  done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "apt packages already installed"
fi

# --- 2. Python venv -----------------------------------------------------------
PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
STAMP=".venv/.publisher-setup-stamp"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want" != "$have" ]]; then
  log "pip install -e '.[test]'"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  printf '%s\n' "$want" > "$STAMP"
else
  log "python deps up to date (pyproject.toml unchanged)"
fi

# --- 3. Node tools ------------------------------------------------------------
NODE_STAMP="tools/node_modules/.publisher-setup-stamp"
want="$(cat tools/package.json tools/package-lock.json | sha256sum | cut -d' ' -f1)"
have="$(cat "$NODE_STAMP" 2>/dev/null || true)"
if [[ "$want" != "$have" || ! -x tools/node_modules/.bin/ace-cli ]]; then
  log "npm ci in tools/"
  (cd tools && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$want" > "$NODE_STAMP"
else
  log "node tools up to date"
fi

log "done"
