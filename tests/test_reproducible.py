"""Reproducible builds, through the command line as a packager or CI would run it.

With SOURCE_DATE_EPOCH set, two builds of the same tree give byte-identical editions even when everything
else differs: the folder the tree sits in, the working folder, the moment (more than a second apart, so a
leaked clock would show in zip entry times and PDF dates), the time zone, the umask and the hash seed.
Without SOURCE_DATE_EPOCH, the issue date (midnight UTC) is the date written into the editions.
Each build runs ``python -m publisher build`` in its own subprocess (a cold build of the real issue takes
about 15 s, so the identity test does just the two builds it needs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pikepdf
import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
SLUG = yaml.safe_load((SOURCE / "issue.yaml").read_text("utf-8"))["slug"]
EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z: far from the issue date, so falling back to that date would show


def build(folder: Path, *, env: dict[str, str], umask: int) -> tuple[bytes, bytes]:
    """``publisher build`` of ``folder/source`` into ``folder/dist``, run from ``folder``: (EPUB, PDF) bytes."""
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "build", "--source", str(folder / "source"), "--out", str(folder / "dist")],
        cwd=folder, env=env, umask=umask, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return (folder / "dist" / f"{SLUG}.epub").read_bytes(), (folder / "dist" / f"{SLUG}.pdf").read_bytes()


def environment(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "TZ", "PYTHONHASHSEED")}
    env.update(changes)
    return env


def epub_modified(epub: bytes, path: Path) -> str:
    path.write_bytes(epub)
    with zipfile.ZipFile(path) as book:
        opf = next(name for name in book.namelist() if name.endswith(".opf"))
        package = book.read(opf).decode("utf-8")
    match = re.search(r'<meta property="dcterms:modified">([^<]+)</meta>', package)
    assert match is not None, "the package document has no dcterms:modified"
    return match.group(1)


def pdf_dates(pdf: bytes, path: Path) -> set[str]:
    path.write_bytes(pdf)
    with pikepdf.open(path) as document:
        return {str(document.docinfo["/CreationDate"]), str(document.docinfo["/ModDate"])}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def test_two_builds_in_different_folders_times_zones_and_umasks_are_byte_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "elsewhere" / "second"
    for folder in (first, second):
        shutil.copytree(SOURCE, folder / "source")

    epub_a, pdf_a = build(first, env=environment(SOURCE_DATE_EPOCH=str(EPOCH), TZ="UTC0", PYTHONHASHSEED="1"),
                          umask=0o022)
    # PDF dates resolve 1 s, zip entry times 2 s: with the pause (and the seconds the second build itself
    # takes) a clock leaking into either would give different bytes
    time.sleep(1.1)
    epub_b, pdf_b = build(second, env=environment(SOURCE_DATE_EPOCH=str(EPOCH), TZ="CHAST-12:45", PYTHONHASHSEED="2"),
                          umask=0o077)

    assert sha(epub_a) == sha(epub_b), "the EPUB differs between two builds of the same tree"
    assert sha(pdf_a) == sha(pdf_b), "the PDF differs between two builds of the same tree"
    # identical because SOURCE_DATE_EPOCH was honoured, not because both fell back to the same other date
    stamp = dt.datetime.fromtimestamp(EPOCH, tz=dt.timezone.utc)
    assert epub_modified(epub_a, tmp_path / "a.epub") == stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert pdf_dates(pdf_a, tmp_path / "a.pdf") == {stamp.strftime("D:%Y%m%d%H%M%SZ")}


def one_article_tree(folder: Path) -> Path:
    """A copy of the issue with only its shortest article (a column), cover lines pointing at it: a fast build."""
    tree = folder / "source"
    shutil.copytree(SOURCE, tree)
    keep = "column-ait-abderrahman"
    for article in (tree / "articles").glob("*.md"):
        if not re.search(rf"^slug:\s*{keep}\s*$", article.read_text("utf-8"), re.MULTILINE):
            article.unlink()
    meta = yaml.safe_load((tree / "issue.yaml").read_text("utf-8"))
    meta["order"] = [keep]
    for line in meta["cover"]["lines"]:
        line["article"] = keep
    (tree / "issue.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True, sort_keys=False), "utf-8")
    (tree / "corrections.yaml").write_text("[]\n", "utf-8")
    return tree


def test_without_source_date_epoch_the_editions_carry_the_issue_date_at_midnight_utc(tmp_path: Path) -> None:
    one_article_tree(tmp_path)
    issue_date = yaml.safe_load((SOURCE / "issue.yaml").read_text("utf-8"))["date"]
    # a time zone 14 hours ahead of UTC: local midnight would be the previous day in UTC
    epub, pdf = build(tmp_path, env=environment(TZ="LINT-14"), umask=0o022)

    assert epub_modified(epub, tmp_path / "x.epub") == f"{issue_date.isoformat()}T00:00:00Z"
    assert pdf_dates(pdf, tmp_path / "x.pdf") == {f"D:{issue_date:%Y%m%d}000000Z"}
