"""Checks of image files referenced from the source: inside the tree, PNG or JPEG, sane, decodable.

Images are untrusted input like everything else in ``source/``: a path may try to leave the tree, a
file may be empty, truncated, of another format than its name says, or a decompression bomb.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path, PurePosixPath
from typing import Callable
from urllib.parse import unquote

from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # 8000 × 5000: more than any magazine photo at 300 dpi on A4
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
IMAGE_FOLDER = "images"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_image(src: str, root: Path, report: Callable[[str], None]) -> tuple[str, int, int, bytes] | None:
    """Validate the image ``src`` (relative to the source ``root``); returns (media type, width, height, bytes)."""
    path = _inside_tree(src, root, report)
    if path is None:
        return None
    size = path.stat().st_size
    if size == 0:
        report(f"image '{src}' is an empty file")
        return None
    if size > MAX_IMAGE_BYTES:
        report(f"image '{src}' is {size // (1024 * 1024)} MB; the limit is {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
        return None
    checked = _decode(path, src, report)
    return (*checked, path.read_bytes()) if checked else None


def _inside_tree(src: str, root: Path, report: Callable[[str], None]) -> Path | None:
    if not src or "://" in src or src.lower().startswith(("data:", "file:", "javascript:")):
        report(f"image '{src[:60]}' must be a file in {IMAGE_FOLDER}/, not a URL")
        return None
    pure = PurePosixPath(src)
    if pure.is_absolute() or ".." in pure.parts or pure.parts[:1] != (IMAGE_FOLDER,):
        report(f"image '{src}' must be a file inside {IMAGE_FOLDER}/ of the source folder")
        return None
    if not all(_FILE_NAME.match(part) for part in pure.parts):
        # markdown-it hands over spaces and accents percent-encoded; plain names also need no escaping in
        # either edition
        shown = unquote(src) if unquote(src).isprintable() else src
        report(f"image '{shown}': a file name may hold only letters a-z, digits, '-', '_' and '.' (rename the file)")
        return None
    folder = root.resolve() / IMAGE_FOLDER  # images/ itself is not resolved: a linked images/ leads out too
    path = (root / src).resolve()
    if folder not in path.parents:
        report(f"image '{src}' leads outside the source folder (a symbolic link?)")
        return None
    if not path.is_file():
        report(f"image '{src}' does not exist")
        return None
    return path


def _decode(path: Path, src: str, report: Callable[[str], None]) -> tuple[str, int, int] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind = image.format
                width, height = image.size
                if kind not in MEDIA_TYPES:
                    report(f"image '{src}' is {kind}; only PNG and JPEG are supported")
                    return None
                if width * height > MAX_IMAGE_PIXELS:
                    report(f"image '{src}' is {width}×{height} pixels; the limit is {MAX_IMAGE_PIXELS // 1_000_000} megapixels")
                    return None
                image.load()  # decodes every pixel: finds truncated files
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        report(f"image '{src}' declares an enormous size (a decompression bomb?)")
        return None
    except UnidentifiedImageError:
        report(f"image '{src}' is not a picture file; save it as PNG or JPEG")
        return None
    except (OSError, SyntaxError, ValueError) as exc:
        report(f"image '{src}' is damaged: {exc}")
        return None
    return MEDIA_TYPES[kind], width, height
