"""The `scrutineer` command: a thin argparse layer over the stage functions.

Exit status (CONTRACT.md): 0 success, 1 handled error (one line on stderr, no traceback),
2 bad usage (argparse's own convention).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

from pipelines.errors import UserError

PROG = "scrutineer"


class UsageError(Exception):
    """Bad usage found after parsing: exit 2 with one line, like argparse's own errors."""


def _settings(args: argparse.Namespace) -> Any:
    from core.settings import Settings

    overrides = {"db": args.db} if getattr(args, "db", None) else {}
    if overrides:
        _check_db_dir(args.db)
    return Settings(**overrides)


def _check_db_dir(url: str) -> None:
    """An explicit --db names an existing place: a mistyped directory must not become an empty registry."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"--db {url!r} is not a database URL (e.g. sqlite:///data/scrutineer.sqlite)") from None
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return
    parent = Path(parsed.database).parent
    if not parent.is_dir():
        raise UserError(f"--db: directory {str(parent)!r} does not exist (create it first)")


def version() -> str:
    """The installed distribution's version; a source checkout without install reads pyproject.toml."""
    from importlib import metadata

    try:
        return metadata.version("scrutineer")
    except metadata.PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])


def _when(value: Any) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if value else "-"


# -- sources -------------------------------------------------------------------------------------
def cmd_sources_import(args: argparse.Namespace) -> int:
    from pipelines import sources

    outcome, errors = sources.import_file(_settings(args), Path(args.file))
    for name, what in outcome.items():
        print(f"{name}: {what}")
    for err in errors:
        print(f"{PROG}: refused {err}", file=sys.stderr)
    print(f"{len(outcome)} sources imported, {len(errors)} refused")
    return 1 if errors else 0


def cmd_sources_add(args: argparse.Namespace) -> int:
    from pipelines import sources

    raw: dict[str, Any] = {"name": args.name, "kind": args.kind, "url": args.url, "tags": args.tag or []}
    if args.schedule:
        raw["schedule"] = args.schedule
    if args.outlet is not None:
        raw["outlet"] = args.outlet
    if args.rate:
        raw["rate"] = args.rate
    print(f"{args.name}: {sources.add(_settings(args), raw)}")
    return 0


def cmd_sources_list(args: argparse.Namespace) -> int:
    from pipelines import sources

    rows = sources.listing(_settings(args))
    if args.format == "json":
        for r in rows:
            print(json.dumps({**r, **{k: r[k] and r[k].isoformat() for k in ("last_success", "last_error",
                                                                               "next_poll_at", "resting_until")}},
                             ensure_ascii=False))
        return 0
    header = (f"{'name':<28} {'outlet':<28} {'kind':<8} {'status':<7} {'last success':<17} {'last error':<17} "
              f"{'7d':>5}  {'state':<13} message")
    print(header)
    for r in rows:
        message = r["message"] or ""
        if r.get("resting_until"):  # a rate limit asked for quiet (Retry-After, Contracts Finder's 403)
            message = f"resting until {_when(r['resting_until'])} UTC: {message}"
        outlet = (r["outlet"] or "-")[:28]
        print(f"{r['name']:<28} {outlet:<28} {r['kind']:<8} {r['status']:<7} {_when(r['last_success']):<17} "
              f"{_when(r['last_error']):<17} {r['items_7d']:>5}  {r['state']:<13} {message[:120]}")
    return 0


def cmd_sources_test(args: argparse.Namespace) -> int:
    from pipelines import source_test

    report = source_test.run(_settings(args), args.name, args.kind)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        print(source_test.render(report), end="")
    if report.status == "error":
        print(f"{PROG}: error: {report.source} cannot be fetched: {report.message or 'no message'}", file=sys.stderr)
        return 1
    return 0


def _status(status: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from pipelines import sources

        sources.set_status(_settings(args), args.name, status)
        print(f"{args.name}: {status}")
        return 0

    return run


# -- stages --------------------------------------------------------------------------------------
def _verbosity(args: argparse.Namespace) -> int:
    """0 with -q (summary and failures only), 2 with -v (every page and the crawl's log), else 1."""
    return 0 if getattr(args, "quiet", False) else 2 if getattr(args, "verbose", False) else 1


def _collect_summary(results: list[Any]) -> str:
    """The total line; an ocds source's items are notices, not articles."""
    failed = sum(r.status == "error" for r in results)
    notices = sum(r.new for r in results if r.kind == "ocds")
    articles = sum(r.new for r in results) - notices
    extra = f", {notices} new notices" if any(r.kind == "ocds" for r in results) else ""
    line = f"collected {len(results)} sources: {articles} new articles{extra}, {failed} failed"
    skipped = sum(r.status == "interrupted" for r in results)
    return line + (f"; interrupted, {skipped} sources not crawled (the next pass does them)" if skipped else "")


def cmd_collect(args: argparse.Namespace) -> int:
    """Sources finish in any order; each gets its line as it does (live in a terminal)."""
    from pipelines import collect, interrupt, progress

    with interrupt.handling(), progress.reporter(_verbosity(args)) as shown:
        results = collect.run(_settings(args), args.source or None, progress=shown)
        shown.summary(_collect_summary(results))
        if interrupt.requested():
            print(f"{PROG}: interrupted; whole articles already stored are kept", file=sys.stderr)
            return 130
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    """In-process stages: Ctrl-C (or SIGTERM) raises KeyboardInterrupt, rolls back the open
    transaction and exits 130 (main)."""
    import signal

    from pipelines import process, progress

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with progress.reporter(_verbosity(args), total=3, title="processing", unit="stages") as shown:
        counts = process.run(_settings(args), on_stage=lambda name, n: shown.step(f"{name} {n}"))
        shown.summary(", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    code = cmd_collect(argparse.Namespace(**{**vars(args), "source": None}))
    if code:
        return code
    return cmd_process(args)


def cmd_recheck(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from pipelines import interrupt, progress, recheck
    from storage import articles as store
    from storage.db import get_engine, read

    settings = _settings(args)
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    with interrupt.handling(), progress.reporter(_verbosity(args), total=1, title="rechecking", unit="passes") as shown:
        code = recheck.run(settings, args.since, progress=shown)
        shown.close()
        with read(get_engine(settings.db)) as conn:
            events = store.events_between(conn, started, datetime.now(timezone.utc) + timedelta(seconds=1))
        if _verbosity(args) >= 1:
            for e in events:
                print(f"{e['kind']}: {e['title'][:100]} ({e['url']})")
        shown.summary(f"rechecked articles of the last {args.since} days: {len(events)} events"
                      + ("; interrupted" if code == 130 else ""))
    return code


def cmd_health_report(args: argparse.Namespace) -> int:
    from pipelines import alerts, health_report

    settings = _settings(args)
    report = health_report.run(settings, send=args.send)
    print(health_report.render(report), end="")
    if args.send:
        print(f"sent to {', '.join(alerts.analyst_emails(settings))}")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from pipelines import digest

    report = digest.run(_settings(args), week=args.week, subscriber=args.subscriber,
                        out=Path(args.out) if args.out else None, send=args.send,
                        allow_partial=args.allow_partial)
    for d in report.digests:
        print(f"{d.email}: {d.stories} stories for {d.week}")
    for path in report.files:
        print(f"wrote {path}")
    unknown = 0
    for o in report.outcomes:
        print(f"{o.email}: {o.status}" + (f" ({o.detail})" if o.detail else ""))
        unknown += o.status in ("unknown", "failed")
    if unknown:
        print(f"{PROG}: {unknown} deliveries failed or have an unknown outcome; see above", file=sys.stderr)
        return 1
    return 0


def cmd_subscribers_add(args: argparse.Namespace) -> int:
    from pipelines import subscribers

    subscribers.add(_settings(args), args.email, args.profile, args.topic, args.name)
    print(f"{args.email.strip().lower()}: subscribed ({args.profile})")
    return 0


def cmd_subscribers_list(args: argparse.Namespace) -> int:
    from pipelines import subscribers

    for s in subscribers.listing(_settings(args)):
        topics = ",".join(s["topics"]) if s["topics"] else (
            f"(profile) {','.join(s['profile_topics'])}" if s["profile_topics"] else "(profile) all relevant stories")
        print(f"{s['email']:<40} {s['profile']:<8} {s['status']:<13} {topics}")
    return 0


def cmd_subscribers_remove(args: argparse.Namespace) -> int:
    from pipelines import subscribers

    known = subscribers.remove(_settings(args), args.email)
    print(f"{args.email}: {'removed' if known else 'not subscribed'}")
    return 0


def cmd_unsubscribe(args: argparse.Namespace) -> int:
    from pipelines import subscribers

    email = subscribers.unsubscribe(_settings(args), args.token)
    if email is None:
        raise UserError("unknown unsubscribe token")
    print(f"{email}: unsubscribed")
    return 0


def cmd_unsubscribe_server(args: argparse.Namespace) -> int:
    from console.app import serve as server

    httpd = server(_settings(args), args.host, args.port)
    print(f"one-click unsubscribe endpoint on http://{args.host}:{httpd.server_address[1]}/unsubscribe/TOKEN")
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    from console.app import create_app
    from console.server import AppServer
    from storage.db import get_engine

    settings = _settings(args)
    get_engine(settings.db)  # migrate (and fail with one line) before listening
    try:
        httpd = AppServer(create_app(settings), args.host, args.port)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    print(f"console on http://{args.host}:{httpd.server_address[1]}/", flush=True)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_file:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UserError(f"cannot read {args.password_file}: {exc.strerror}") from exc
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the passwords differ")
    return first


def cmd_users_add(args: argparse.Namespace) -> int:
    from console import auth

    outcome = auth.add_user(_settings(args), args.email, args.role, _read_password(args))
    print(f"{args.email.strip().lower()}: {outcome} ({args.role})")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from console import auth

    for u in auth.list_users(_settings(args)):
        print(f"{u['email']:<40} {u['role']:<8} {_when(u['created_at'])}")
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    from console import auth

    known = auth.remove_user(_settings(args), args.email)
    print(f"{args.email}: {'removed' if known else 'no such user'}")
    return 0


def cmd_users_token(args: argparse.Namespace) -> int:
    from console import auth

    print(auth.new_token(_settings(args), args.email))
    return 0


def _day(value: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value), time(0), timezone.utc)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def _utf8_stdout() -> Any:
    """Exports are UTF-8 whatever the locale says (a £ in a CSV must not depend on LANG)."""
    enc = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if enc != "utf8" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.flush()
        sys.stdout.reconfigure(encoding="utf-8")
    return sys.stdout


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines import export

    out = _utf8_stdout()
    if args.kind == "notices":
        recs = export.notice_records(_settings(args), since=args.since, until=args.until)
        if args.format == "csv":
            export.write_notices_csv(recs, out)
        else:
            for rec in recs:
                out.write(export.to_jsonl(rec) + "\n")
        return 0
    if args.format != "jsonl":
        raise UsageError("export --kind articles: only --format jsonl")
    for rec in export.records(_settings(args), since=args.since, until=args.until):
        out.write(export.to_jsonl(rec) + "\n")
    return 0


# -- tenders -------------------------------------------------------------------------------------
def _money(value: str) -> float:
    text = value.strip().replace(",", "").replace("_", "").lstrip("£")
    try:
        amount = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an amount: {value!r} (write e.g. 250000 or 1.5e6)") from exc
    if amount != amount or amount in (float("inf"), float("-inf")) or amount < 0:
        raise argparse.ArgumentTypeError(f"not an amount: {value!r} (a number, zero or more)")
    return amount


def _cpv(value: str) -> str:
    code = value.strip().split("-")[0]
    if not code.isdigit() or not 1 <= len(code) <= 8:
        raise argparse.ArgumentTypeError(f"not a CPV code or prefix: {value!r} (1 to 8 digits, e.g. 72 or 72300000)")
    return code


def _iso_week(value: str) -> str:
    from core.weeks import BadWeek, parse_week

    try:
        parse_week(value)
    except BadWeek as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def cmd_tenders_list(args: argparse.Namespace) -> int:
    from core.weeks import window
    from pipelines import export
    from storage import notices as notice_store
    from storage.db import get_engine, read

    if args.min_value is not None and args.max_value is not None and args.min_value > args.max_value:
        raise UsageError(f"--min-value {args.min_value:g} is more than --max-value {args.max_value:g}")
    settings = _settings(args)
    start, end = window(args.week) if args.week else (None, None)
    with read(get_engine(settings.db)) as conn:
        rows = notice_store.filtered(conn, buyer=args.buyer, cpv=args.cpv, min_value=args.min_value,
                                     max_value=args.max_value, stage=args.stage, closing_before=args.closing_before,
                                     published_from=start, published_to=end)
    recs = list(export.notice_records(settings, rows))
    _utf8_stdout()
    if args.format == "csv":
        export.write_notices_csv(recs, sys.stdout)
    elif args.format == "json":
        for rec in recs:
            print(export.to_jsonl(rec))
    else:
        print(f"{'published':<10} {'stage':<8} {'deadline':<10} {'value':>14}  {'buyer':<32} title")
        for rec in recs:
            value = f"{rec['value']:,.0f} {rec['currency'] or ''}".strip() if rec["value"] is not None else "-"
            title = " ".join(rec["title"].split())
            print(f"{rec['published_at'][:10]:<10} {rec['stage']:<8} {(rec['deadline'] or '-')[:10]:<10} "
                  f"{value:>14}  {(rec['buyer'] or '-')[:32]:<32} {title[:100]}")
        print(f"{len(recs)} notices")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from crawlers.extract import extract_article

    failed = 0
    for name in args.file:
        path = Path(name)
        try:
            body = path.read_bytes()
        except OSError as exc:
            print(f"{PROG}: cannot read {name}: {exc.strerror}", file=sys.stderr)
            failed += 1
            continue
        url = args.url or path.resolve().as_uri()
        fields = extract_article(url, body)
        published = fields.published_at
        print(json.dumps({"file": name, "url": url, "canonical_url": fields.canonical_url,
                          "title": fields.title, "text": fields.text,
                          "published_at": published.isoformat() if published else None,
                          "authors": fields.authors, "language": fields.language}, ensure_ascii=False))
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    import demo

    demo.run(Path(args.dir), db=getattr(args, "db", None) or os.environ.get("SCRUTINEER_DB"))
    return 0


class _Version(argparse.Action):
    """--version, looked up only when asked (package metadata costs start-up time otherwise)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"{PROG} {version()}")
        parser.exit()


# -- parser --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, metavar="URL",
                        help="SQLAlchemy database URL (default: $SCRUTINEER_DB, else sqlite:///data/scrutineer.sqlite)")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only the summary and errors")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="print debug detail (every page fetched, the crawl's log)")
    parser = argparse.ArgumentParser(prog=PROG, parents=[common],
                                     description="Scrutineer: monitor news coverage of police use of AI.")
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(parent: Any, name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p = parent.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    src = sub.add_parser("sources", help="manage the source registry", description="Manage the source registry.")
    srcs = src.add_subparsers(dest="sources_command", required=True, metavar="ACTION")
    p = add(srcs, "import", cmd_sources_import, "add or update the sources in a YAML file (idempotent)")
    p.add_argument("file", metavar="FILE.yaml")
    p = add(srcs, "add", cmd_sources_add, "add one source")
    p.add_argument("--name", required=True)
    p.add_argument("--kind", required=True, choices=["rss", "sitemap", "site", "ocds"])
    p.add_argument("--url", required=True)
    p.add_argument("--schedule", help="5-field cron expression or @hourly/@daily/@weekly/@monthly (default @hourly)")
    p.add_argument("--tag", action="append", help="a label of the source itself (repeatable)")
    p.add_argument("--outlet", help="the outlet's name readers see (default: learnt from its pages and feed)")
    p.add_argument("--rate", help="request pacing, e.g. 12/2min, 1/s, 30/min (default: the API host's known limit)")
    p = add(srcs, "list", cmd_sources_list, "the registry with health: last success, last error, items in 7 days")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p = add(srcs, "test", cmd_sources_test, "fetch once and show what would be stored and why; store nothing")
    p.add_argument("name", metavar="NAME|URL", help="a registered source, or an http(s) URL to try")
    p.add_argument("--kind", choices=["rss", "sitemap", "site", "ocds"],
                   help="the kind of an unregistered URL (default rss)")
    p.add_argument("--json", action="store_true", help="one JSON object: the pass and every item's verdict")
    for verb, status, text in (("pause", "paused", "stop collecting a source"),
                               ("resume", "active", "collect a paused source again"),
                               ("remove", "removed", "remove a source (its articles are kept)")):
        p = add(srcs, verb, _status(status), text)
        p.add_argument("name")

    p = add(sub, "collect", cmd_collect, "one collection pass over all active (or the named) sources")
    p.add_argument("--source", action="append", metavar="NAME", help="collect only this source (repeatable)")
    add(sub, "process", cmd_process, "deduplicate, tag, score relevance and sentiment, group stories")
    add(sub, "run", cmd_run, "collect, then process")

    p = add(sub, "recheck", cmd_recheck, "re-fetch recent relevant articles; record edits, corrections, takedowns")
    p.add_argument("--since", type=int, default=14, metavar="DAYS", help="published in the last DAYS days")

    p = add(sub, "health-report", cmd_health_report,
            "the daily source-health report: failing and silent sources, volume far below normal")
    p.add_argument("--send", action="store_true", help="email it to $SCRUTINEER_ANALYST_EMAILS")

    p = add(sub, "digest", cmd_digest,
            "build the weekly digest(s); --send delivers at most once per subscriber and week")
    p.add_argument("--week", help="ISO week like 2026-W47 (default: the last complete week, Europe/London)")
    p.add_argument("--subscriber", metavar="EMAIL")
    p.add_argument("--out", metavar="DIR", help="write .html, .txt and .eml files here")
    p.add_argument("--send", action="store_true",
                   help="deliver by SMTP ($SCRUTINEER_SMTP_URL; needs $SCRUTINEER_PUBLIC_URL for unsubscribe links)")
    p.add_argument("--allow-partial", action="store_true",
                   help="with --send: allow a week that has not ended yet (its digest is sent once, incomplete)")

    subs = sub.add_parser("subscribers", help="digest recipients", description="Digest recipients.")
    subss = subs.add_subparsers(dest="subscribers_command", required=True, metavar="ACTION")
    p = add(subss, "add", cmd_subscribers_add, "add or update a subscriber")
    p.add_argument("email")
    p.add_argument("--profile", default="analyst", help="rights, vendor or analyst (profiles.yaml)")
    p.add_argument("--topic", action="append", help="a tag slug that narrows the profile (repeatable)")
    p.add_argument("--name", help="display name for the To: header")
    add(subss, "list", cmd_subscribers_list, "list subscribers")
    p = add(subss, "remove", cmd_subscribers_remove, "remove a subscriber (idempotent)")
    p.add_argument("email")

    p = add(sub, "unsubscribe", cmd_unsubscribe, "unsubscribe by the token in a digest's List-Unsubscribe link")
    p.add_argument("token")

    p = add(sub, "unsubscribe-server", cmd_unsubscribe_server,
            "serve the one-click unsubscribe endpoint (RFC 8058; put it behind HTTPS)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)

    p = add(sub, "web", cmd_web, "serve the console (web app and JSON API; put it behind HTTPS)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)

    usr = sub.add_parser("users", help="console accounts", description="Console accounts.")
    usrs = usr.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    p = add(usrs, "add", cmd_users_add, "add a user or change their role and password")
    p.add_argument("email")
    p.add_argument("--role", required=True, choices=["viewer", "analyst", "admin"])
    p.add_argument("--password-file", metavar="FILE", help="read the password from FILE (else prompted)")
    add(usrs, "list", cmd_users_list, "list users")
    p = add(usrs, "remove", cmd_users_remove, "remove a user with their sessions and API tokens")
    p.add_argument("email")
    p = add(usrs, "token", cmd_users_token, "print a new API token for the user (only its hash is stored)")
    p.add_argument("email")

    p = add(sub, "export", cmd_export, "one record per stored article (JSONL) or notice (JSONL or CSV) on stdout")
    p.add_argument("--kind", choices=["articles", "notices"], default="articles",
                   help="articles (default) or procurement notices")
    p.add_argument("--format", choices=["jsonl", "csv"], required=True, help="csv: notices only")
    p.add_argument("--since", type=_day, metavar="DATE", help="published on or after this day (UTC)")
    p.add_argument("--until", type=_day, metavar="DATE", help="published before this day (UTC)")

    ten = sub.add_parser("tenders", help="stored procurement notices", description="Stored procurement notices.")
    tens = ten.add_subparsers(dest="tenders_command", required=True, metavar="ACTION")
    p = add(tens, "list", cmd_tenders_list, "the stored procurement notices, filtered (newest first)")
    p.add_argument("--buyer", help="buyer name contains this (case-insensitive)")
    p.add_argument("--cpv", type=_cpv, metavar="PREFIX", help="a CPV code starting with these digits")
    p.add_argument("--min-value", type=_money, metavar="N", help="value at least N (notices without a value drop out)")
    p.add_argument("--max-value", type=_money, metavar="N", help="value at most N")
    p.add_argument("--stage", choices=["planning", "tender", "award", "contract"])
    p.add_argument("--closing-before", type=_day, metavar="DATE", help="tender deadline before this day (UTC)")
    p.add_argument("--week", type=_iso_week, metavar="ISO_WEEK", help="published in this week, e.g. 2026-W47")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")

    p = add(sub, "extract", cmd_extract, "extract saved HTML pages (no network), one JSON object per file")
    p.add_argument("--url", help="the URL the pages were fetched from (for canonical URLs)")
    p.add_argument("file", nargs="+", metavar="FILE")

    p = add(sub, "demo", cmd_demo, "the whole job offline against the bundled demo newsroom")
    p.add_argument("--dir", default="data/demo", help="where the demo writes its database, digests and outbox")
    return parser


#: Commands whose stdout is their data (or that quiet themselves): -q keeps it.
_QUIET_KEEPS_STDOUT = {cmd_collect, cmd_run, cmd_process, cmd_recheck, cmd_export, cmd_extract,
                       cmd_sources_list, cmd_subscribers_list, cmd_health_report, cmd_sources_test}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "quiet", False) and getattr(args, "verbose", False):
        parser.error("-q and -v cannot be used together")
    if getattr(args, "verbose", False):
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    elif getattr(args, "quiet", False) and args.func not in _QUIET_KEEPS_STDOUT:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process's life
    if getattr(args, "command", None) == "digest" and args.week:
        from core.weeks import BadWeek, parse_week

        try:
            parse_week(args.week)
        except BadWeek as exc:
            parser.error(str(exc))
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import StorageError
    from storage.redact import install_log_redaction, redact

    install_log_redaction()

    try:
        return int(args.func(args))
    except (UserError, StorageError) as exc:
        print(f"{PROG}: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:  # disk full, database gone, lock timeout: one line, no traceback
        first = (str(exc.orig if hasattr(exc, 'orig') else exc).splitlines() or [""])[0]
        print(f"{PROG}: database error: {redact(first)}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
