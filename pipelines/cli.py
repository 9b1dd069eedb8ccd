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


def _settings(args: argparse.Namespace) -> Any:
    from pipelines.settings import Settings

    overrides = {"db": args.db} if getattr(args, "db", None) else {}
    return Settings(**overrides)


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
    print(f"{args.name}: {sources.add(_settings(args), raw)}")
    return 0


def cmd_sources_list(args: argparse.Namespace) -> int:
    from pipelines import sources

    rows = sources.listing(_settings(args))
    if args.format == "json":
        for r in rows:
            print(json.dumps({**r, **{k: r[k] and r[k].isoformat() for k in ("last_success", "last_error",
                                                                               "next_poll_at")}},
                             ensure_ascii=False))
        return 0
    header = (f"{'name':<28} {'kind':<8} {'status':<7} {'last success':<17} {'last error':<17} {'7d':>5}  "
              f"{'alarm':<10} message")
    print(header)
    for r in rows:
        message = r["alarm_message"] or r["last_error_message"] or r["last_warning_message"] or ""
        print(f"{r['name']:<28} {r['kind']:<8} {r['status']:<7} {_when(r['last_success']):<17} "
              f"{_when(r['last_error']):<17} {r['items_7d']:>5}  {(r['alarm'] or '-'):<10} {message[:120]}")
    return 0


def cmd_sources_test(args: argparse.Namespace) -> int:
    from pipelines import collect, sources

    settings = _settings(args)
    src = sources.get(settings, args.name)
    if src["kind"] not in collect.SUPPORTED:
        raise UserError(f"source kind {src['kind']!r} is not collected by this version")
    code, err = collect.run_crawl(settings, src, dry_run=True)
    if code != 0:
        raise UserError(f"dry run failed: {err.strip().splitlines()[-1] if err.strip() else code}")
    return 0


def _status(status: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from pipelines import sources

        sources.set_status(_settings(args), args.name, status)
        print(f"{args.name}: {status}")
        return 0

    return run


# -- stages --------------------------------------------------------------------------------------
def _print_collect(results: list[Any]) -> None:
    for r in results:
        line = f"{r.source}: {r.status}, {r.new} new, {r.known} known, {r.updated} updated"
        print(line + (f" ({r.message[:160]})" if r.message and r.status != "ok" else ""))
    failed = sum(r.status == "error" for r in results)
    print(f"collected {len(results)} sources: {sum(r.new for r in results)} new articles, {failed} failed")


def cmd_collect(args: argparse.Namespace) -> int:
    from pipelines import collect

    _print_collect(collect.run(_settings(args), args.source or None))
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    from pipelines import process

    counts = process.run(_settings(args))
    print(", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cmd_collect(argparse.Namespace(**{**vars(args), "source": None}))
    return cmd_process(args)


def cmd_recheck(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from pipelines import recheck
    from storage import articles as store
    from storage.db import get_engine, read

    settings = _settings(args)
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    recheck.run(settings, args.since)
    with read(get_engine(settings.db)) as conn:
        events = store.events_between(conn, started, datetime.now(timezone.utc) + timedelta(seconds=1))
    for e in events:
        print(f"{e['kind']}: {e['title'][:100]} ({e['url']})")
    print(f"rechecked articles of the last {args.since} days: {len(events)} events")
    return 0


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
                        out=Path(args.out) if args.out else None, send=args.send)
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
    print(f"{args.email}: subscribed ({args.profile})")
    return 0


def cmd_subscribers_list(args: argparse.Namespace) -> int:
    from pipelines import subscribers

    for s in subscribers.listing(_settings(args)):
        print(f"{s['email']:<40} {s['profile']:<8} {s['status']:<13} {','.join(s['topics'])}")
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
    from pipelines.unsubscribe import server

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


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines import export

    out = sys.stdout
    for rec in export.records(_settings(args), since=args.since, until=args.until):
        out.write(export.to_jsonl(rec) + "\n")
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
        published = fields["published_at"]
        print(json.dumps({"file": name, "url": url, "canonical_url": fields["canonical_url"],
                          "title": fields["title"], "text": fields["text"],
                          "published_at": published.isoformat() if published else None,
                          "authors": fields["authors"], "language": fields["language"]}, ensure_ascii=False))
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines import demo

    demo.run(Path(args.dir), db=getattr(args, "db", None) or os.environ.get("SCRUTINEER_DB"))
    return 0


# -- parser --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, metavar="URL",
                        help="SQLAlchemy database URL (default: $SCRUTINEER_DB, else sqlite:///data/scrutineer.sqlite)")
    parser = argparse.ArgumentParser(prog=PROG, parents=[common],
                                     description="Scrutineer: monitor news coverage of police use of AI.")
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
    p.add_argument("--schedule", help="cron expression or @hourly/@daily/@weekly (default @hourly)")
    p.add_argument("--tag", action="append", help="a label of the source itself (repeatable)")
    p = add(srcs, "list", cmd_sources_list, "the registry with health: last success, last error, items in 7 days")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p = add(srcs, "test", cmd_sources_test, "dry run: fetch once and print what would be stored, store nothing")
    p.add_argument("name")
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
    p.add_argument("--send", action="store_true", help="deliver by SMTP ($SCRUTINEER_SMTP_URL)")

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

    p = add(sub, "export", cmd_export, "one JSON object per stored article on stdout")
    p.add_argument("--format", choices=["jsonl"], required=True)
    p.add_argument("--since", type=_day, metavar="DATE", help="published on or after this day (UTC)")
    p.add_argument("--until", type=_day, metavar="DATE", help="published before this day (UTC)")

    p = add(sub, "extract", cmd_extract, "extract saved HTML pages (no network), one JSON object per file")
    p.add_argument("--url", help="the URL the pages were fetched from (for canonical URLs)")
    p.add_argument("file", nargs="+", metavar="FILE")

    p = add(sub, "demo", cmd_demo, "the whole job offline against the bundled demo newsroom")
    p.add_argument("--dir", default="data/demo", help="where the demo writes its database, digests and outbox")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "digest" and args.week:
        from pipelines.weeks import BadWeek, parse_week

        try:
            parse_week(args.week)
        except BadWeek as exc:
            parser.error(str(exc))
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import StorageError

    try:
        return int(args.func(args))
    except (UserError, StorageError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:  # disk full, database gone, lock timeout: one line, no traceback
        print(f"{PROG}: database error: {str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
