"""A real install works: `pip install .` (not editable) into a fresh venv, then `scrutineer demo` from a
directory that is not the repository gives the same summary as the source checkout's demo.

Runtime data used to be found from the repository folder, so only an editable install ran. The fresh
venv borrows the shared venv's third-party packages through a `.pth` line (the `.pth` files inside a
directory added that way are not processed, so the shared venv's editable install of our own
packages stays invisible) and gets only the build backend from the package index.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_SUMMARY = re.compile(r"^demo finished in [\d.]+ s: (.*)$", re.M)


def _skip(folder: str, names: list[str]) -> set[str]:
    """Not ours to copy: version control, caches, build output, and the checkout's own venv and data."""
    top = {".git", ".venv", "data", "build"} if Path(folder) == REPO else set()
    return {n for n in names if n in top or n == "__pycache__" or n.endswith((".egg-info", "_cache"))}


def _env() -> dict[str, str]:
    """A user's shell: no PYTHONPATH (it would put the checkout first) and no SCRUTINEER_* settings."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("SCRUTINEER_")}


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _summary(stdout: str) -> dict[str, str]:
    found = _SUMMARY.search(stdout)
    assert found, stdout[-2000:]
    return dict(part.rsplit(" ", 1) for part in found.group(1).split(", "))


def _fresh_venv(root: Path) -> Path:
    """A venv with no pip of its own: the shared venv's pip and third-party packages through a .pth."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             env=_env(), capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    (Path(purelib) / "shared-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return python


@pytest.mark.timeout(1500)
def test_wheel_install_runs_the_demo_from_another_directory(tmp_path: Path) -> None:
    src, venv, installed_run, checkout_run = (tmp_path / d for d in ("src", "venv", "run", "checkout-run"))
    shutil.copytree(REPO, src, ignore=_skip)
    installed_run.mkdir()
    checkout_run.mkdir()
    python = _fresh_venv(venv)

    # Before the install: our code is not visible through the shared venv.
    probe = _run([str(python), "-c", "import importlib.util as u; print(u.find_spec('pipelines'))"], installed_run, 60)
    assert probe.stdout.strip() == "None", probe.stdout + probe.stderr

    # The source checkout's demo, for comparison, runs while the package is built and installed.
    checkout_env = {**_env(), "PYTHONPATH": str(REPO)}
    checkout = subprocess.Popen([sys.executable, "-m", "scrutineer.cli", "demo"], cwd=checkout_run, env=checkout_env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        backend = tomllib.loads((src / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
        # setuptools>=70.1 (builds wheels itself), from the package index; the venv's own is older.
        got = _run([str(python), "-m", "pip", "install", "--quiet", *backend], installed_run, 300)
        if got.returncode != 0:
            pytest.skip(f"no package index for the build backend {backend}: {got.stderr.strip()[-300:]}")
        install = _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(src)],
                       installed_run, 600)
        assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
        shutil.rmtree(src)  # nothing may still need the source tree

        site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    installed_run, 60).stdout.strip()
        where = _run([str(python), "-c", "import pipelines, demo, storage, importlib.util as u; "
                      "print(pipelines.__file__); print(u.find_spec('evaluation'), u.find_spec('bench'))"],
                     installed_run, 60)
        lines = where.stdout.splitlines()
        assert where.returncode == 0 and lines, where.stderr[-2000:]
        assert Path(lines[0]).resolve().is_relative_to(Path(site).resolve()), lines[0]
        assert lines[1] == "None None"  # development tools are not installed

        demo = _run([str(venv / "bin" / "scrutineer"), "demo"], installed_run, 600)
        assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
        out, err = checkout.communicate(timeout=600)
    finally:
        if checkout.poll() is None:
            checkout.kill()
            checkout.wait()
    assert checkout.returncode == 0, out[-2000:] + err[-2000:]

    got_summary, want_summary = _summary(demo.stdout), _summary(out)
    assert got_summary == want_summary
    assert got_summary["failed_sources"] == "0" and int(got_summary["sent"]) > 0
    outbox = sorted(p.name for p in (installed_run / "data" / "demo" / "outbox").glob("*.eml"))
    assert outbox == sorted(p.name for p in (checkout_run / "data" / "demo" / "outbox").glob("*.eml"))
    # Written where it was run, never inside the installed package.
    assert list((installed_run / "data" / "cache").glob("tone-*.npz"))
    written = [p for p in Path(site).rglob("*") if p.suffix in (".npz", ".sqlite", ".eml", ".html") and
               "templates" not in p.parts]
    assert written == []
