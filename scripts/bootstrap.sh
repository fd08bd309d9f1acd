#!/usr/bin/env bash
# Creates (or refreshes) everything the demo and the tests run with, from Python alone:
#   .meltano/meltano-venv  Meltano in its own virtualenv (it pins SQLAlchemy below what
#                          singer-sdk wants, so it never shares one with the target), plus uv
#   .venv                  the project (target-shopimind + shopimind-sandbox), `-e .[dev]` with --dev
#   .meltano/...           the plugins of meltano.yml (`meltano install`, cached)
# Usage: scripts/bootstrap.sh [--dev] [PLUGIN...]   (no PLUGIN: every plugin of meltano.yml)
#        PYTHON=python3.12 picks the project's interpreter; MELTANO_PYTHON Meltano's.
# Meltano runs on Python >= 3.12 when one is found: on 3.10/3.11, Meltano 4.4.1's
# `meltano config test <loader>` crashes with ProcessLookupError after the loader exits
# (asyncio's terminate() on a finished process raises there, not on 3.12+).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MELTANO_VERSION=4.4.1
PYTHON=${PYTHON:-python3}
MELTANO_VENV=.meltano/meltano-venv
extras=""
if [[ "${1:-}" == "--dev" ]]; then
  extras="[dev]"
  shift
fi

export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_CLI_DISABLE_VERSION_CHECK=true

step() { printf '\n==> %s\n' "$*" >&2; }

is_312() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
pick_meltano_python() {
  local candidate
  for candidate in ${MELTANO_PYTHON:-} python3.13 python3.12 "$PYTHON" \
      $(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.1[23]*/bin/python 2>/dev/null); do
    if is_312 "$candidate"; then command -v "$candidate"; return; fi
  done
  echo "warning: no Python >= 3.12 found for Meltano; using $PYTHON (meltano config test for loaders crashes there)" >&2
  command -v "$PYTHON"
}

meltano_ok() {
  "$MELTANO_VENV/bin/meltano" --version 2>/dev/null | grep -q "version $MELTANO_VERSION" || return 1
  # Rebuild a venv on an older Python when a 3.12+ is available now.
  is_312 "$MELTANO_VENV/bin/python" || ! is_312 "$(pick_meltano_python 2>/dev/null)"
}

if ! meltano_ok; then
  meltano_python=$(pick_meltano_python)
  step "Meltano $MELTANO_VERSION in $MELTANO_VENV ($("$meltano_python" --version 2>&1))"
  rm -rf "$MELTANO_VENV"
  mkdir -p .meltano
  "$meltano_python" -m venv "$MELTANO_VENV"
  "$MELTANO_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "meltano==$MELTANO_VERSION" uv
fi
UV="$MELTANO_VENV/bin/uv"

if [[ ! -x .venv/bin/python ]]; then
  step "project virtualenv .venv ($("$PYTHON" --version 2>&1))"
  "$UV" venv --quiet --python "$(command -v "$PYTHON")" .venv
fi
step "installing target-shopimind into .venv (-e .$extras)"
"$UV" pip install --quiet --python .venv/bin/python -e ".$extras"

step "meltano install (plugins of meltano.yml, cached in .meltano/)"
"$MELTANO_VENV/bin/meltano" install "$@" >.meltano/install.log 2>&1 || {
  cat .meltano/install.log >&2
  echo "meltano install failed (log above)" >&2
  exit 1
}
