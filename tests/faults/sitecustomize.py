"""Started by the interpreter when tests put this folder on a child's PYTHONPATH: arms the faults
the child's environment names (scrutineer_faults.py). A child naming none (most of them) imports
nothing more, so its start-up stays as it was."""
from __future__ import annotations

import os

if os.environ.get("SCRUTINEER_TEST_FAULT") or os.environ.get("SCRUTINEER_TEST_RESOLVER"):
    import sys

    import scrutineer_faults

    try:
        scrutineer_faults.install()
    except ValueError as exc:  # a misspelt fault must fail the test, not silently test nothing
        sys.stderr.write(f"tests/faults: {exc}\n")
        sys.stderr.flush()
        os._exit(2)
