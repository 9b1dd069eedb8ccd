"""Files the digest leaves on disk (--out and the archive): private, collision-free, symlink-proof.

They hold subscribers' addresses and unsubscribe tokens, so they are created 0600 in directories we
create 0700 whatever the umask. Each file is written to a fresh temporary name (O_EXCL|O_NOFOLLOW)
and renamed over its final name inside a directory opened without following a symlink: a symlink
planted at the final name is replaced, never written through, and a reader never sees half a file.
Names carry a short hash of the address, so two addresses that sanitise alike never share a file.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pipelines.errors import UserError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def file_stem(email: str, week: str) -> str:
    """`2026-W47--ann_b_example.org--1a2b3c4d5e`: readable, and unique per exact address."""
    tag = hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{week}--{_UNSAFE.sub('_', email)[:60]}--{tag}"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextmanager
def open_dir(path: Path, *, follow: bool = True, label: str = "") -> Iterator[int]:
    """A file descriptor of directory `path`, created (0700, parents too) when missing.

    `follow=False` for directories we name ourselves (a week folder in the archive): a symlink there
    was planted, and is refused rather than followed. Every failure is one UserError line."""
    what = f"{label} {path}".strip()
    try:
        if path.is_symlink() and not follow:
            raise UserError(f"refusing to write in {what}: it is a symbolic link")
        if path.exists() and not path.is_dir():
            raise UserError(f"cannot write in {what}: it is a file, not a directory")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | _DIRECTORY | (0 if follow else _NOFOLLOW))
    except UserError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"refusing to write in {what}: it is a symbolic link") from None
        raise UserError(f"cannot write in {what}: {_why(exc)}") from None
    try:
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"cannot write in {what}: Permission denied")
        yield fd
    finally:
        os.close(fd)


def write_file(dir_fd: int, name: str, data: bytes, *, where: Path | None = None) -> None:
    """Atomically (re)place `name` in the open directory: 0600, never through a symlink."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=dir_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by the umask; never wider than 0600
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # a planted symlink is replaced
    except OSError as exc:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise UserError(f"cannot write {(where / name) if where else name}: {_why(exc)}") from None


def write_files(directory: Path, files: Mapping[str, bytes], *, follow: bool = True, label: str = "") -> list[Path]:
    """Write each name → bytes in `directory` (see open_dir, write_file); the paths written."""
    with open_dir(directory, follow=follow, label=label) as fd:
        for name, data in files.items():
            write_file(fd, name, data, where=directory)
    return [directory / name for name in files]
