#!/usr/bin/env bash
# README command 2: the whole check, from a fresh clone with only Python.
# Creates .venv (the project and its dev tools, as uv.lock pins them) and Meltano's own
# virtualenv, installs the Meltano plugins, then runs ruff, mypy and pytest (every step runs;
# the script fails if any did).
# Extra arguments go to pytest (e.g. `-m "not e2e"`). The end-to-end tests (tests/e2e) need
# PostgreSQL's server binaries and wal2json (`apt-get install postgresql postgresql-15-wal2json`;
# .ci/run installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_CLI_DISABLE_VERSION_CHECK=true

bash scripts/bootstrap.sh --dev

failed=()
step() {
  local name=$1
  shift
  echo "==> $name" >&2
  "$@" || failed+=("$name")
}

step "ruff check" .venv/bin/ruff check .
step "ruff format" .venv/bin/ruff format --check .
step "mypy" .venv/bin/mypy target_shopimind tests

echo "==> pytest" >&2
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure" >&2
  failed+=("pytest (no tests)")
elif [[ $status -ne 0 ]]; then
  failed+=("pytest")
fi

if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all checks passed" >&2
