"""The one exception the CLI turns into a single clear stderr line and exit status 1."""
from __future__ import annotations


class UserError(Exception):
    """Something the user can fix (bad input, unknown name, unreachable server)."""


class ConfigError(UserError):
    """A setting that is wrong, not a server that is down: retrying cannot help (Airflow tasks fail
    at once on it instead of retrying, pipelines.alerts.fail_fast)."""
