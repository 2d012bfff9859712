"""Checks of image files referenced from the source: inside the tree, PNG or JPEG, sane, decodable.

Images are untrusted input like everything else in ``source/``: a path may try to leave the tree, a
file may be empty, truncated, of another format than its name says, or a decompression bomb.  A photo also
carries what the editions must not: EXIF (GPS position, camera serial number, a thumbnail of the uncropped
original), XMP and IPTC (names, notes), comments.  ``check_image`` returns the bytes without them, losslessly:
the pixel data is copied untouched, only metadata segments and chunks are left out (the EXIF orientation is
kept, as a minimal EXIF block of its own, so the photo still stands upright).
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator
from urllib.parse import unquote

from PIL import Image, ImageFile, UnidentifiedImageError

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
    with path.open("rb") as handle:  # read once: what is checked is what goes into the editions
        data = handle.read(MAX_IMAGE_BYTES + 1)
    checked = _decode(io.BytesIO(data), src, report)
    if checked is None:
        return None
    media_type, width, height, orientation = checked
    clean = without_metadata(data, media_type, orientation)
    if _decode(io.BytesIO(clean), src, lambda message: None) != checked:  # never seen; a photo must not be lost unnoticed
        report(f"image '{src}' could not be stripped of its metadata; save it again as PNG or JPEG")
        return None
    return media_type, width, height, clean


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


_PILLOW_SETTING = threading.Lock()


@contextmanager
def _truncated_images_refused() -> Iterator[None]:
    """Importing WeasyPrint sets Pillow's process-wide ``LOAD_TRUNCATED_IMAGES = True``: after that (in
    ``preview``, ``check``, any second load in one process) a cut-off photo would decode without an error and
    go into the editions half grey.  Our check needs it False; WeasyPrint gets its value back afterwards."""
    with _PILLOW_SETTING:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _decode(stream: io.BytesIO, src: str, report: Callable[[str], None]) -> tuple[str, int, int, int] | None:
    """(media type, width, height, EXIF orientation) of a sound image; otherwise the problem is reported."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on junk it skips ("Corrupt EXIF data") are no problem
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                kind = image.format
                width, height = image.size
                if kind not in MEDIA_TYPES:
                    report(f"image '{src}' is {kind}; only PNG and JPEG are supported")
                    return None
                if width * height > MAX_IMAGE_PIXELS:
                    report(f"image '{src}' is {width}×{height} pixels; the limit is {MAX_IMAGE_PIXELS // 1_000_000} megapixels")
                    return None
                with _truncated_images_refused():
                    image.load()  # decodes every pixel: finds truncated files
                orientation = _orientation(image) if kind == "JPEG" else 1
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        report(f"image '{src}' declares an enormous size (a decompression bomb?)")
        return None
    except UnidentifiedImageError:
        report(f"image '{src}' is not a picture file; save it as PNG or JPEG")
        return None
    except (OSError, SyntaxError, ValueError) as exc:
        report(f"image '{src}' is damaged: {exc}")
        return None
    return MEDIA_TYPES[kind], width, height, orientation


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8), 1 when there is none or the EXIF block is unreadable (it is dropped anyway)."""
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 -- Pillow's EXIF parser raises struct.error, KeyError … on junk
        return 1
    return value if value in range(1, 9) else 1


# --- metadata out -------------------------------------------------------------------------------------------

_ORIENTATION = 0x0112
# PNG chunks that change how the pixels look; everything else (tEXt, zTXt, iTXt, eXIf, tIME, private chunks)
# is metadata.
_PNG_KEPT = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"bKGD", b"pHYs"}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length
_JPEG_METADATA = {*range(0xE0, 0xF0), 0xFE}  # APP0-APP15 and COM
_SOS, _EOI, _APP0, _APP2, _APP14 = 0xDA, 0xD9, 0xE0, 0xE2, 0xEE


def without_metadata(data: bytes, media_type: str, orientation: int = 1) -> bytes:
    """``data`` (a checked PNG or JPEG) without its metadata; the pixel data stays byte for byte the same."""
    return _png_without_metadata(data) if media_type == "image/png" else _jpeg_without_metadata(data, orientation)


def _png_without_metadata(data: bytes) -> bytes:
    kept, position = [data[:8]], 8
    while position + 8 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind, end = data[position + 4:position + 8], position + 12 + length
        if kind in _PNG_KEPT:
            kept.append(data[position:end])
        position = end
        if kind == b"IEND":
            break  # nothing after the end: data appended to a PNG is not part of the picture
    return b"".join(kept)


def _jpeg_without_metadata(data: bytes, orientation: int) -> bytes:
    kept, position = [data[:2]], 2
    exif = [_exif_orientation_segment(orientation)] if orientation != 1 else []
    while position + 4 <= len(data) and data[position] == 0xFF:
        if exif and data[position + 1] != _APP0:  # after the JFIF header, which must come first
            kept.append(exif.pop())
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_STANDALONE:
            kept.append(data[position:position + 2])
            position += 2
            continue
        if marker == _SOS:  # the scans, up to the end of the image (whatever follows it is left out)
            end = data.find(bytes((0xFF, _EOI)), position)
            kept.append(data[position:] if end < 0 else data[position:end + 2])
            return b"".join(kept)
        end = position + 2 + int.from_bytes(data[position + 2:position + 4], "big")
        segment = data[position:end]
        if marker == _APP0 and segment[4:9] == b"JFIF\0":
            kept.append(_jfif_without_thumbnail(segment))
        elif marker not in _JPEG_METADATA or marker == _APP14 or (marker == _APP2 and segment[4:16] == b"ICC_PROFILE\0"):
            kept.append(segment)  # colour profile, Adobe colour transform, and the tables and frame itself
        position = end  # other APPn segments (EXIF, XMP, IPTC, MPF previews) and comments (FE) are left out
    return b"".join(kept) + data[position:]


def _jfif_without_thumbnail(segment: bytes) -> bytes:
    header = segment[4:16]  # identifier, version, units, densities
    return b"\xff\xe0" + (len(header) + 4).to_bytes(2, "big") + header + b"\0\0"


def _exif_orientation_segment(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    payload = exif.tobytes()  # starts with "Exif\0\0"
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
