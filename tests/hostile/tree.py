"""Materialise a hostile case: the valid base tree (tests/hostile/base/) copied into a temporary folder, then
the case's changes applied.  The cases themselves are data, in tests/hostile/cases.yaml; its header comment
documents every key used here.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

HERE = Path(__file__).resolve().parent
BASE = HERE / "base"
CASES_FILE = HERE / "cases.yaml"
FIRST_ARTICLE = "articles/01-een.md"
BODY_START = 11  # the line of the first body line of FIRST_ARTICLE (after its front matter and a blank line)
ARTICLE_HEAD = (BASE / FIRST_ARTICLE).read_text("utf-8").split("\n---\n", 1)[0] + "\n---\n\n"


def load_cases() -> list[dict[str, Any]]:
    cases = yaml.safe_load(CASES_FILE.read_text("utf-8"))
    ids = [case["id"] for case in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


def make_tree(tmp_path: Path, case: dict[str, Any]) -> Path:
    """The source tree of ``case`` at ``tmp_path/source`` (``tmp_path/outside`` holds what lies outside it)."""
    source, outside = tmp_path / "source", tmp_path / "outside"
    shutil.copytree(BASE, source)
    outside.mkdir()
    image(source / "images" / "foto.png", {"format": "PNG", "size": [40, 30]})
    for name, value in case.get("outside", {}).items():
        _write(outside / name, content(value))
    for name, edits in case.get("edit", {}).items():
        text = (source / name).read_text("utf-8")
        for old, new in edits:
            assert old in text, f"{case['id']}: {old!r} not in {name}"
            text = text.replace(old, content(new).decode("utf-8"), 1)
        (source / name).write_text(text, "utf-8")
    if "body" in case:
        _write(source / FIRST_ARTICLE, ARTICLE_HEAD.encode() + content(case["body"]))
    for name, value in case.get("files", {}).items():
        _write(source / name, content(value))
    for name in case.get("delete", []):
        target = source / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    for name in case.get("dirs", []):
        (source / name).mkdir(parents=True)
    for name in case.get("fifos", []):
        os.mkfifo(source / name)
    for name, spec in case.get("images", {}).items():
        image(source / name, spec)
    for name, size in case.get("sparse", {}).items():
        with open(source / name, "wb") as handle:
            handle.truncate(size)
    for name, target in case.get("symlinks", {}).items():
        link = source / name
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        elif link.exists() or link.is_symlink():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target.replace("{outside}", str(outside)).replace("{source}", str(source)))
    return source


def content(value: Any) -> bytes:
    """A file's bytes from its description in cases.yaml."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if "hex" in value:
        return bytes.fromhex(value["hex"])
    if "encoding" in value:
        return value["text"].encode(value["encoding"])
    if "repeat" in value:
        text = value.get("before", "") + value["repeat"] * value["times"] + value.get("after", "")
        return text.encode("utf-8")
    raise ValueError(f"unknown file description {value!r}")


def image(path: Path, spec: dict[str, Any]) -> None:
    """Write an image: ``format`` and ``size``; ``truncate`` keeps only that many bytes; ``declare`` patches
    the PNG header to claim other dimensions (a decompression bomb is a small file that declares a huge image)."""
    buffer = io.BytesIO()
    Image.new("RGB", tuple(spec.get("size", [40, 30])), (0, 91, 127)).save(buffer, format=spec["format"])
    data = buffer.getvalue()
    if "declare" in spec:
        data = _declare_png_size(data, *spec["declare"])
    if "truncate" in spec:
        data = data[: spec["truncate"]]
    _write(path, data)


def _declare_png_size(data: bytes, width: int, height: int) -> bytes:
    assert data[12:16] == b"IHDR"
    header = struct.pack(">II", width, height) + data[24:29]
    chunk = b"IHDR" + header
    return data[:8] + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
