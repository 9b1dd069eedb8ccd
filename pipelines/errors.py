"""The one exception the CLI turns into a single clear stderr line and exit status 1."""
from __future__ import annotations


class UserError(Exception):
    """Something the user can fix (bad input, unknown name, unreachable server)."""
