"""Test side of fault injection: what a test adds to a child's environment to arm a fault there.

The child-side code is `scrutineer_faults.py` in this folder, started by `sitecustomize.py` when
the folder is on the child's PYTHONPATH; production modules know nothing about it.
conftest.py puts the folder on PYTHONPATH for every child; `pythonpath()` is for a test that
sets a child's PYTHONPATH itself.
"""
from __future__ import annotations

import os
from pathlib import Path

DIR = Path(__file__).resolve().parent


def pythonpath(*rest: str | Path) -> str:
    """A PYTHONPATH value with this folder first, then `rest` (the project, tests/, ...)."""
    return os.pathsep.join([str(DIR), *map(str, rest)])
