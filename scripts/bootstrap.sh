#!/usr/bin/env bash
# Creates (or refreshes) everything the demo and the tests run with, from Python alone:
#   .meltano/meltano-venv  Meltano in its own virtualenv (it pins SQLAlchemy below what
#                          singer-sdk wants, so it never shares one with the target), plus uv
#   .venv                  the project (target-shopimind + shopimind-sandbox) as uv.lock pins it
#                          (`uv sync --locked`), editable; with --dev also the `dev` dependency group
#   .meltano/...           the plugins of meltano.yml (`meltano install`, cached)
# Usage: scripts/bootstrap.sh [--dev] [PLUGIN...]   (no PLUGIN: every plugin of meltano.yml)
#        PYTHON=python3.12 picks the project's interpreter, MELTANO_PYTHON Meltano's (default: PYTHON).
# Meltano 4.4.1's `meltano config test <loader>` calls terminate() on the loader after it has
# exited, which raises ProcessLookupError when asyncio has already reaped it (always on
# Python 3.10/3.11, about one run in three on 3.12); patch_meltano below makes that call
# tolerate it, in our own Meltano virtualenv only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MELTANO_VERSION=4.4.1
PYTHON=${PYTHON:-python3}
MELTANO_VENV=.meltano/meltano-venv
dev=""
if [[ "${1:-}" == "--dev" ]]; then
  dev=1
  shift
fi

export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_CLI_DISABLE_VERSION_CHECK=true

step() { printf '\n==> %s\n' "$*" >&2; }

meltano_ok() {
  "$MELTANO_VENV/bin/meltano" --version 2>/dev/null | grep -q "version $MELTANO_VERSION"
}

patch_meltano() {
  "$MELTANO_VENV/bin/python" - <<'PY'
import pathlib
import meltano.core.plugin_test_service as module

path = pathlib.Path(module.__file__)
text = path.read_text()
old = "        finally:\n            process.terminate()\n            await process.wait()\n"
new = (
    "        finally:\n"
    "            try:  # patched by target-shopimind's scripts/bootstrap.sh\n"
    "                process.terminate()\n"
    "            except ProcessLookupError:  # the loader has already exited and been reaped\n"
    "                pass\n"
    "            await process.wait()\n"
)
if old in text:
    path.write_text(text.replace(old, new))
elif new not in text:
    raise SystemExit(f"{path}: the code patch_meltano fixes has changed; review scripts/bootstrap.sh")
PY
}

if ! meltano_ok; then
  meltano_python=${MELTANO_PYTHON:-$PYTHON}
  step "Meltano $MELTANO_VERSION in $MELTANO_VENV ($("$meltano_python" --version 2>&1))"
  rm -rf "$MELTANO_VENV"
  mkdir -p .meltano
  "$meltano_python" -m venv "$MELTANO_VENV"
  # (drop pip's warnings about unreachable extra indexes some machines configure)
  "$MELTANO_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "meltano==$MELTANO_VERSION" uv \
    2> >(grep -v "^WARNING: Location" >&2)
fi
patch_meltano
UV="$MELTANO_VENV/bin/uv"

# uv creates .venv (or recreates it for another interpreter) and installs exactly the locked
# versions; --locked fails when uv.lock no longer matches pyproject.toml (`uv lock` updates it).
# Without --dev, a .venv that already has the dev group (an earlier --dev run) keeps it.
sync=(--locked --python "$(command -v "$PYTHON")")
if [[ -n "$dev" || -x .venv/bin/pytest ]]; then
  step "installing target-shopimind and its dev group into .venv from uv.lock ($("$PYTHON" --version 2>&1))"
else
  sync+=(--no-dev)
  step "installing target-shopimind into .venv from uv.lock ($("$PYTHON" --version 2>&1))"
fi
"$UV" sync --quiet "${sync[@]}"

# output/: where meltano.yml's rejected_records_path writes (the Meltano project convention).
mkdir -p output

step "meltano install (plugins of meltano.yml, cached in .meltano/)"
"$MELTANO_VENV/bin/meltano" install "$@" >.meltano/install.log 2>&1 || {
  cat .meltano/install.log >&2
  echo "meltano install failed (log above)" >&2
  exit 1
}
