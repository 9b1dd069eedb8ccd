"""`python -m scrutineer`: the same as the `scrutineer` command."""
from __future__ import annotations

from scrutineer.cli import main

raise SystemExit(main())
