"""Build editions from one load of the source and at most one print layout.

Contract: ``Builder(settings).build(targets)`` loads the tree once, lays out the print edition at most
once, and writes the requested editions atomically to ``<out>/<slug>.<ext>``.  The print layout is cached
on disk, keyed by a hash of everything it depends on (source, styles, templates, code and library
versions, SOURCE_DATE_EPOCH): a rebuild with nothing changed does no layout work, and ``epub`` alone
reuses the cached page numbers of the last ``pdf``/``build``.  Library code: it raises, never prints;
progress is reported through a callback.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from publisher import __version__
from publisher import model as m
from publisher.errors import BuildError
from publisher.load import load_issue
from publisher.output import write_atomic

PROJECT = Path(__file__).resolve().parent.parent
PACKAGE = Path(__file__).resolve().parent
STYLES = PROJECT / "styles"
CACHE_FOLDER = ".publisher-cache"
CACHE_ENTRIES_KEPT = 4
TARGETS = ("epub", "pdf", "html")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Written:
    """One edition file written by a build."""

    target: str
    path: Path
    size: int
    seconds: float


@dataclass(frozen=True)
class PrintResult:
    """What the print layout yields: the PDF and, for the EPUB, where each printed page begins."""

    pdf: bytes
    html: bytes  # the (copyfitted) print document the PDF was rendered from
    page_marks: dict[str, tuple[str, ...]]
    page_count: int
    from_cache: bool


def source_date_epoch(issue: m.Issue, environ: dict[str, str] | None = None) -> int:
    """SOURCE_DATE_EPOCH when set (reproducible builds), else midnight UTC of the issue date."""
    environ = os.environ if environ is None else environ
    value = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value:
        if not value.isdigit():
            raise BuildError(f"SOURCE_DATE_EPOCH must be a whole number of seconds; got {value!r}")
        return int(value)
    return calendar.timegm(issue.date.timetuple())  # midnight UTC, whatever the local time zone


@dataclass
class Builder:
    source: Path
    out: Path
    progress: Progress = field(default=lambda message: None)
    crop_marks: bool = False
    _layouts: dict[str, PrintResult] = field(default_factory=dict, repr=False)  # one layout per build

    def build(self, targets: Iterable[str]) -> list[Written]:
        targets = [t for t in TARGETS if t in set(targets)]
        issue = load_issue(self.source)
        epoch = source_date_epoch(issue)
        key = self.cache_key(epoch)
        written: list[Written] = []
        for target in targets:
            started = time.perf_counter()
            if target == "html":
                path = self._write_html(issue, epoch, key)
            else:
                path = _write_if_changed(self.out / f"{issue.slug}.{target}", self._edition(target, issue, epoch, key))
            written.append(Written(target, path, path.stat().st_size, time.perf_counter() - started))
        return written

    # --- editions, cached ---------------------------------------------------------------------

    def _edition(self, target: str, issue: m.Issue, epoch: int, key: str) -> bytes:
        cached = self._cached(key, f"edition.{target}")
        if cached is not None:
            self.progress(f"{target}: nothing changed since the last build, reusing it")
            return cached
        if target == "pdf":
            return self.print_edition(issue, epoch, key).pdf
        data = self._epub(issue, epoch, self.print_edition(issue, epoch, key))
        self._store(key, {"edition.epub": data})
        return data

    def print_edition(self, issue: m.Issue, epoch: int, key: str) -> PrintResult:
        """The print layout's results: from the cache when nothing changed, else one new layout."""
        if key not in self._layouts:
            self._layouts[key] = self._cached_layout(key) or self._lay_out(issue, epoch, key)
        return self._layouts[key]

    def _lay_out(self, issue: m.Issue, epoch: int, key: str) -> PrintResult:
        from publisher import pdf  # WeasyPrint is heavy: import it only when a layout is needed

        self.progress("laying out the print edition")
        layout = pdf.lay_out(issue, epoch=epoch, crop_marks=self.crop_marks)
        result = PrintResult(
            pdf.pdf_bytes(layout), layout.html.encode("utf-8"), layout.page_starts(), len(layout.document.pages), False
        )
        meta = {"page_marks": result.page_marks, "page_count": result.page_count}
        self._store(key, {
            "edition.pdf": result.pdf, "layout.json": json.dumps(meta, sort_keys=True).encode(),
            "edition.html": result.html,
        })
        return result

    def cache_key(self, epoch: int) -> str:
        """A hash of everything the editions depend on."""
        digest = hashlib.sha256()
        digest.update(f"publisher {__version__}; epoch {epoch}; crop {self.crop_marks}\n".encode())
        digest.update(_library_versions().encode())
        for folder in (self.source, STYLES, PACKAGE):
            for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()[:32]

    def _cache_dir(self) -> Path:
        return self.out / CACHE_FOLDER

    def _cached(self, key: str, name: str) -> bytes | None:
        """A cached file, if present and undamaged (each file is stored with its own checksum)."""
        entry = self._cache_dir() / key
        try:
            data = (entry / name).read_bytes()
            checksum = (entry / f"{name}.sha256").read_text("ascii")
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == checksum else None

    def _cached_layout(self, key: str) -> PrintResult | None:
        pdf_bytes, meta, html = (self._cached(key, name) for name in ("edition.pdf", "layout.json", "edition.html"))
        if pdf_bytes is None or meta is None or html is None:
            return None
        layout = json.loads(meta)
        marks = {k: tuple(v) for k, v in layout["page_marks"].items()}
        self.progress("print layout unchanged: reusing the cached layout")
        return PrintResult(pdf_bytes, html, marks, layout["page_count"], True)

    def _store(self, key: str, files: dict[str, bytes]) -> None:
        entry = self._cache_dir() / key
        try:
            for name, data in files.items():
                write_atomic(entry / name, data)
                write_atomic(entry / f"{name}.sha256", hashlib.sha256(data).hexdigest().encode())
            self._prune_cache(keep=key)
        except BuildError:
            pass  # a cache that cannot be written only costs time at the next build

    def _prune_cache(self, keep: str) -> None:
        entries = sorted(
            (p for p in self._cache_dir().iterdir() if p.is_dir() and p.name != keep),
            key=lambda p: p.stat().st_mtime, reverse=True,
        )
        for old in entries[CACHE_ENTRIES_KEPT - 1:]:
            shutil.rmtree(old, ignore_errors=True)

    # --- the other outputs --------------------------------------------------------------------

    def _epub(self, issue: m.Issue, epoch: int, print_result: PrintResult) -> bytes:
        from publisher import epub

        self.progress("packaging the EPUB")
        return epub.build_epub(
            issue, epoch=epoch, page_marks=print_result.page_marks,
            page_source=f"{issue.title} {issue.issue_line} (print)",
        )

    def _write_html(self, issue: m.Issue, epoch: int, key: str) -> Path:
        """The print document with its styles beside it, so `weasyprint <slug>.html` gives the same PDF."""
        html = self.print_edition(issue, epoch, key).html  # copyfitted: it comes out of a layout
        target = self.out / f"{issue.slug}.html"
        styles = self.out / "styles"
        for path in sorted(p for p in STYLES.rglob("*") if p.is_file()):
            destination = styles / path.relative_to(STYLES)
            if not destination.exists() or destination.read_bytes() != path.read_bytes():
                write_atomic(destination, path.read_bytes())
        return _write_if_changed(target, html)


def _write_if_changed(path: Path, data: bytes) -> Path:
    """Write atomically, but leave an identical file alone (a no-change rebuild touches nothing)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return path
    except OSError:
        pass
    return write_atomic(path, data)


def _library_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in ("weasyprint", "ebooklib", "jinja2", "markdown-it-py", "mdit-py-plugins", "segno", "pydyf", "pyphen", "tinycss2", "cssselect2", "fonttools"):
        try:
            parts.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name}=none")
    return ";".join(parts)
