#!/usr/bin/env bash
# Creates (or refreshes) everything the demo and the tests run with, from Python alone:
#   .meltano/meltano-venv  Meltano in its own virtualenv (it pins SQLAlchemy below what
#                          singer-sdk wants, so it never shares one with the target), plus uv
#   .venv                  the project (target-shopimind + shopimind-sandbox), `-e .[dev]` with --dev
#   .meltano/...           the plugins of meltano.yml (`meltano install`, cached)
# Usage: scripts/bootstrap.sh [--dev] [PLUGIN...]   (no PLUGIN: every plugin of meltano.yml)
#        PYTHON=python3.12 picks the interpreter.
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

if ! "$MELTANO_VENV/bin/meltano" --version 2>/dev/null | grep -q "version $MELTANO_VERSION"; then
  step "Meltano $MELTANO_VERSION in $MELTANO_VENV"
  rm -rf "$MELTANO_VENV"
  mkdir -p .meltano
  "$PYTHON" -m venv "$MELTANO_VENV"
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
