"""Regenerate (or --check) docs/resources.md, the field reference, from the resource table.

tests/test_field_reference.py fails while the document and `target_shopimind/resources.py`
disagree; after changing a field or a resource, run:

    .venv/bin/python scripts/update_field_reference.py
"""

# ruff: noqa: INP001  (a script, not a package)
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from target_shopimind.field_reference import render  # noqa: E402

DOC = ROOT / "docs" / "resources.md"


def main() -> int:
    """Regenerate or check; the exit status says whether the document was current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/resources.md is out of date")
    args = parser.parse_args()
    wanted = render()
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if current == wanted:
        sys.stdout.write("docs/resources.md is up to date\n")
        return 0
    if args.check:
        sys.stderr.write(
            "docs/resources.md is out of date with target_shopimind/resources.py; "
            "run: .venv/bin/python scripts/update_field_reference.py\n",
        )
        return 1
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(wanted, encoding="utf-8")
    sys.stdout.write("docs/resources.md regenerated\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
