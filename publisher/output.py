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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BuildError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    return path
