"""Files that ship inside our packages (rules, templates, migrations, demo content), by package name.

Found through importlib.resources rather than from the repository folder, so an installed copy (a
wheel in site-packages, no checkout anywhere) finds the same files as a source checkout. Nothing is
ever written here: an installed package directory may be read-only or shared by several users.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_file(package: str, *parts: str) -> Path:
    """A file or folder shipped in `package`, as a real path: Jinja's FileSystemLoader, Alembic and
    Starlette's StaticFiles want directories on disk, and Settings holds plain Paths.

    Naming a package by string imports only its `__init__` (each is a docstring), not its modules."""
    found = files(package).joinpath(*parts)
    if not isinstance(found, Path):  # a zip import: we are installed unpacked, always
        raise RuntimeError(f"{package}/{'/'.join(parts)} is not on the file system ({found!r})")
    return found
