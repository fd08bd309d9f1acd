"""`typing.override` on every supported Python (it is in `typing` from 3.12)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 12):
    from typing import override
else:  # singer-sdk depends on typing-extensions for these versions too
    from typing_extensions import override

__all__ = ["override"]
