"""`python -m demo.newsroom`: run the demo newsroom in the foreground for manual poking."""

from __future__ import annotations

import argparse
import sys
import time

from demo.newsroom import Newsroom


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.newsroom", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--sources", metavar="PATH", help="also write a sources YAML for these ports")
    args = parser.parse_args(argv)

    with Newsroom(args.host) as room:
        for slug, base in room.outlets.items():
            print(f"{slug:16} {base}/", flush=True)
        for src in room.sources():
            print(f"  source {src['name']:22} {src['kind']:8} {src['url']}", flush=True)
        if args.sources:
            print(f"sources written to {room.write_sources_yaml(args.sources)}", flush=True)
        print("serving; press Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
