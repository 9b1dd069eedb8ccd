"""Issue 13 item 4: production code carries no test machinery. Faults are armed from tests/faults
(a sitecustomize in the child processes tests start), so no production module may read a
SCRUTINEER_TEST_* variable, nor import whatever dotted path the environment names (that turns an
environment variable into code execution in every process that inherits it).

Production is every .py file outside tests/ and bench/ (and outside data/, build output and
hidden folders such as .venv). The checker itself is tested on small sources first, so a scan
that finds nothing is known to be able to find something.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_PRODUCTION = {"tests", "bench", "data", "build", "dist", "node_modules", "__pycache__"}
#: Calls that turn a string into a module or an object: importlib, pkgutil, Scrapy, Airflow, builtins.
LOADERS = {"import_module", "__import__", "load_object", "resolve_name", "import_string", "spec_from_file_location"}
TEST_PREFIX = "SCRUTINEER_" + "TEST_"  # split, so this file does not match its own scan


def production_files(root: Path = ROOT) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in NOT_PRODUCTION or any(p.startswith(".") or p.endswith(".egg-info") for p in parts):
            continue
        yield path


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _reads_environment(node: ast.AST, tainted: set[str]) -> bool:
    """True when the expression reads os.environ / os.getenv, or a name assigned from one."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in ("environ", "getenv", "environb"):
            return True
        if isinstance(sub, ast.Name) and (sub.id in ("environ", "getenv") or sub.id in tainted):
            return True
    return False


def _tainted_names(tree: ast.AST) -> set[str]:
    """Names ever assigned from the environment (to a fixed point, so `a = env; b = a` counts)."""
    tainted: set[str] = set()
    while True:
        before = len(tainted)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                if _reads_environment(node.value, tainted):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    tainted |= {t.id for tgt in targets for t in ast.walk(tgt) if isinstance(t, ast.Name)}
        if len(tainted) == before:
            return tainted


def problems(source: str) -> list[str]:
    """What one module does that production code must not: each as 'line N: what'."""
    found = [f"line {n}: mentions {TEST_PREFIX}*" for n, line in enumerate(source.splitlines(), 1)
             if TEST_PREFIX in line]
    tree = ast.parse(source)
    tainted = _tainted_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in LOADERS:
            args = [*node.args, *(k.value for k in node.keywords)]
            if any(_reads_environment(a, tainted) for a in args):
                found.append(f"line {node.lineno}: {_call_name(node)}() of a value from the environment")
    return found


@pytest.mark.parametrize("source, expected", [
    ('import os\nif os.environ.get("' + TEST_PREFIX + 'FAULT") == "x":\n    pass\n', ["line 2: mentions"]),
    ("import os\nfrom scrapy.utils.misc import load_object\n"
     "def f():\n    hook = os.environ.get('HOOK')\n    return load_object(hook) if hook else None\n",
     ["line 5: load_object()"]),
    ("import importlib, os\nmod = importlib.import_module(os.getenv('PLUGIN', 'x'))\n", ["line 2: import_module()"]),
    ("import os\nname = os.environ['P']\nalias = name\n__import__(alias)\n", ["line 4: __import__()"]),
    # A fixed dotted path (Scrapy settings, Airflow) and reading ordinary settings are fine.
    ("import importlib, os\nimportlib.import_module('crawlers.guard')\ntimeout = os.environ.get('T', '5')\n", []),
])
def test_the_checker_finds_test_hooks_and_environment_imports(source: str, expected: list[str]) -> None:
    found = problems(source)
    assert len(found) == len(expected) and all(f.startswith(e) for f, e in zip(found, expected, strict=True)), found


def test_the_scan_covers_every_production_package() -> None:
    tops = {p.relative_to(ROOT).parts[0] for p in production_files()}
    assert {"core", "storage", "crawlers", "pipelines", "console", "demo", "scrutineer", "dags"} <= tops, tops
    assert not tops & {"tests", "bench"}, tops


def test_no_production_module_reads_test_variables_or_imports_from_the_environment() -> None:
    offences = [f"{path.relative_to(ROOT)} {what}" for path in production_files()
                for what in problems(path.read_text(encoding="utf-8"))]
    assert offences == [], "\n".join(offences)
