"""REDTEAM R6: json_depth on a 9 MB OCDS page holding one long string (or one long run of escapes)
stays near the page's own size in memory; peak RSS of a fresh subprocess, not timing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = r"""
import resource, sys
from crawlers.ocds import json_depth, load_package
body = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
depth = json_depth(body)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(depth, (after - before) * 1024)
"""


@pytest.mark.parametrize("filler", [b"a", b"\\n", b"\\\""])
def test_r6_json_depth_memory_is_bounded(tmp_path: Path, filler: bytes) -> None:
    size = 9 * 1024 * 1024
    body = b'{"releases": [{"id": "1", "tender": {"title": "' + filler * (size // len(filler)) + b'"}}]}'
    page = tmp_path / "page.json"
    page.write_bytes(body)
    proc = subprocess.run([sys.executable, "-c", PROBE, str(page)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, check=True)
    depth, grown = map(int, proc.stdout.split())
    assert depth == 4
    assert grown < 2 * len(body), f"json_depth grew the process by {grown / 2**20:.0f} MiB for a 9 MiB page"


def test_r6_depth_still_ignores_brackets_in_strings() -> None:
    from crawlers.ocds import json_depth

    doc = {"a": "[[[[{{{{", "b": [{"c": "\\\"]]]}}}", "d": [[[["x"]]]]}]}
    assert json_depth(json.dumps(doc).encode()) == 7
    assert json_depth(b"[" * 5000 + b"]" * 5000) == 5000
    assert json_depth(b'{"unterminated": "[[[') == 4
