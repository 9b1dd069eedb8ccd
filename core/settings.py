"""The one Settings object, read from SCRUTINEER_* environment variables.

Built inside commands and tasks, never at import time, so DAG parsing and tests stay cheap and
an environment change is seen by the next task without a restart.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.resources import package_file


def rules_file(name: str) -> Path:
    """The analyst-edited rules (taxonomy, gazetteer, profiles, procurement) ship beside the stages,
    in the `pipelines` package, installed or checked out alike."""
    return package_file("pipelines", name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCRUTINEER_", extra="ignore")

    #: SQLAlchemy URL; relative SQLite paths are relative to the working directory (CONTRACT.md).
    db: str = "sqlite:///data/scrutineer.sqlite"
    #: "" refuses every non-public address; "1" allows all; else a comma list of IPs/CIDRs.
    allow_private_networks: str = ""
    #: smtp://host:port, smtps://…, ?starttls=1, user:password@ for AUTH.
    smtp_url: str = "smtp://127.0.0.1:25"
    mail_from: str = "Scrutineer <digest@scrutineer.invalid>"
    #: Base of the public site that serves one-click unsubscribe (RFC 8058 needs HTTPS).
    public_url: str = "https://scrutineer.invalid"
    unsubscribe_mailto: str = "unsubscribe@scrutineer.invalid"
    #: Comma-separated addresses that get failure alerts and the daily source-health report.
    analyst_emails: str = ""
    user_agent: str = "ScrutineerBot/0.1 (+https://scrutineer.invalid/bot)"
    taxonomy: Path = Field(default_factory=lambda: rules_file("taxonomy.yaml"))
    #: The UK policing gazetteer (forces, oversight bodies, vendors, technologies), same format.
    gazetteer: Path | None = Field(default_factory=lambda: rules_file("gazetteer.yaml"))
    profiles: Path = Field(default_factory=lambda: rules_file("profiles.yaml"))
    #: Where every built digest is kept; default: beside the SQLite file, else data/archive.
    archive_dir: Path | None = None
    #: Crawl bounds: one source's crawl subprocess is killed after this many seconds.
    crawl_timeout_s: float = 300.0
    crawl_parallelism: int = 4
    #: Extraction worker processes per crawl process; unset: one per core, at most 4; 0 extracts
    #: inline (crawlers/offload.py).
    extract_workers: int | None = None
    download_timeout_s: float = 30.0
    download_maxsize: int = 10 * 1024 * 1024
    #: A host name that does not resolve within this many seconds fails that request.
    dns_timeout_s: float = 10.0
    #: Derived artefacts that are safe to delete (the trained tone model); default data/cache, relative
    #: to the working directory like the SQLite default (never inside the installed package).
    cache_dir: Path | None = None
    #: Extra trusted CAs (PEM) for HTTPS, beside the system's: a private or test CA. Never "insecure".
    ca_bundle: str | None = None
    max_feed_items: int = 500
    #: Relevance threshold for the yes/no `relevant` flag.
    relevance_threshold: float = 0.5
