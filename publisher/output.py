"""Writing edition files atomically: a temporary file in the output folder, renamed into place.

A failed or interrupted build therefore leaves the previous edition untouched and no partial file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from publisher.errors import BuildError


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        tmp = _temporary(path, data)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise BuildError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_all_atomic(files: dict[Path, bytes]) -> None:
    """Write several files so that either all of them are new or all keep their previous content.

    Every new file is first written beside its target; only then are they renamed into place.  If a
    rename fails, the targets already replaced get their previous content back (from a hard link kept
    until the end), so the output folder never mixes editions of different sources.
    """
    staged: list[tuple[Path, str, str | None]] = []  # (target, new temporary, backup of the old file)
    replaced: list[tuple[Path, str | None]] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            staged.append((path, _temporary(path, data), _backup(path)))
        for path, tmp, backup in staged:
            os.replace(tmp, path)
            replaced.append((path, backup))
    except BaseException as exc:
        for path, backup in reversed(replaced):
            if backup is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(backup, path)
        if isinstance(exc, OSError):
            raise BuildError(f"cannot write {getattr(exc, 'filename', None) or 'the editions'}: {exc.strerror or exc}") from exc
        raise
    finally:
        for _, tmp, backup in staged:
            Path(tmp).unlink(missing_ok=True)
            if backup:
                Path(backup).unlink(missing_ok=True)


def _temporary(path: Path, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _backup(path: Path) -> str | None:
    """A hard link to the current file (no copy), or None when there is no file yet."""
    if not path.exists():
        return None
    backup = f"{path.parent}/.{path.name}.{os.getpid()}.previous"
    Path(backup).unlink(missing_ok=True)
    os.link(path, backup)
    return backup
