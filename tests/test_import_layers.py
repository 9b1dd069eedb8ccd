"""The import layers (pyproject [tool.importlinter]) hold on this tree, and a deliberate upward
import breaks them: the check in `make lint` (and so CI) can fail."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "storage", "crawlers", "pipelines", "console", "demo", "scrutineer", "evaluation")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.yaml", "content"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_layers_kept_on_this_tree(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    # The lowest layer reaching up into the stages: exactly what issue 13 found in crawlers/.
    weeks = tree / "core" / "weeks.py"
    upward = "\n\ndef _up() -> None:\n    import pipelines.digest  # noqa\n"
    weeks.write_text(weeks.read_text(encoding="utf-8") + upward, encoding="utf-8")
    result = _lint(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "core.weeks -> pipelines.digest" in result.stdout, result.stdout
