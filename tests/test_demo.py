"""`scrutineer demo` from a clean directory: one valid multipart .eml per demo subscriber."""
from __future__ import annotations

import email
import subprocess
import sys
from email import policy
from pathlib import Path
from typing import Any

import lxml.html


def test_demo_leaves_a_digest_per_subscriber(tmp_path: Path, truth: dict[str, Any]) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("SCRUTINEER_")}
    proc = subprocess.run([sys.executable, "-m", "scrutineer.cli", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "outbox" in proc.stdout and "failed_sources 0" in proc.stdout
    outbox = sorted((tmp_path / "data" / "demo" / "outbox").glob("*.eml"))
    assert sorted(p.name.split("-", 1)[1] for p in outbox) == ["analyst.eml", "rights.eml", "vendor.eml"]
    off_topic = {v["title"] for arts in truth["articles"].values() for v in arts.values() if not v["relevant"]}
    for path in outbox:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg.get_content_type() == "multipart/alternative"
        html = msg.get_body(("html",)).get_content()
        stories = [h.text_content().strip() for h in lxml.html.fromstring(html).iter("h3")]
        assert len(stories) >= 2, path.name
        assert not off_topic & set(stories)
        text = msg.get_body(("plain",)).get_content()
        # The demo's procurement portal: two policing notices kept, the council's road tender not.
        if path.name.endswith("vendor.eml"):
            assert "Notice (tender): Workforce standards data platform" in text
            assert "Notice (award): Live facial recognition vans" in text
            assert "resurfacing" not in text.lower()
    assert "notices_new 2" in proc.stdout
