"""Build editions from one load of the source and at most one print layout.

Contract: ``Builder(settings).build(targets)`` loads the tree once, lays out the print edition at most
once, and writes the requested editions atomically to ``<out>/<slug>.<ext>``.  Two caches live in
``<out>/.publisher-cache/``:

* the editions, keyed by a hash of everything they depend on (source, styles, templates, code and library
  versions, SOURCE_DATE_EPOCH): a rebuild with nothing changed does no layout work at all, and ``epub``
  alone reuses the cached page numbers of the last ``pdf``/``build``;
* the print layout's parts (``parts/``: cover, contents, each article, back cover; see ``pdf.lay_out``),
  each keyed by its own document, start folio, styles and versions: after an edit only the parts that
  changed, or whose first folio moved, are laid out again.  The EPUB's cover image (``cover.cover_png``,
  a WeasyPrint layout of its own) is kept there too, keyed by the cover page's document; when it has to
  be made while the print edition is laid out, a second process makes it meanwhile (on a machine with
  more than one processor).

Library code: it raises, never prints; progress is reported through a callback.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import multiprocessing
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
from publisher.output import write_all_atomic, write_atomic

PROJECT = Path(__file__).resolve().parent.parent
PACKAGE = Path(__file__).resolve().parent
STYLES = PROJECT / "styles"
CACHE_FOLDER = ".publisher-cache"
PARTS_FOLDER = "parts"  # inside CACHE_FOLDER: the print layout's parts (PartStore)
CACHE_ENTRIES_KEPT = 4
PART_ENTRIES_KEPT = 80  # laid-out print parts kept (about five versions of a 14-part issue)
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
    _parts: PartStore | None = field(default=None, repr=False)

    def build(self, targets: Iterable[str]) -> list[Written]:
        targets = [t for t in TARGETS if t in set(targets)]
        issue = load_issue(self.source)
        epoch = source_date_epoch(issue)
        key = self.cache_key(epoch)
        produced: list[tuple[str, Path, bytes, float]] = []
        for target in targets:  # every edition is made before any is written: all or nothing lands
            started = time.perf_counter()
            data = self._html(issue, epoch, key) if target == "html" else self._edition(target, issue, epoch, key)
            produced.append((target, self.out / f"{issue.slug}.{target}", data, time.perf_counter() - started))
        if "html" in targets:
            self._copy_styles()
        changed = {path: data for _, path, data, _ in produced if not _same_content(path, data)}
        write_all_atomic(changed)
        written = [Written(target, path, len(data), seconds) for target, path, data, seconds in produced]
        if self._parts is not None:
            self._parts.prune(PART_ENTRIES_KEPT)
        return written

    # --- editions, cached ---------------------------------------------------------------------

    def _edition(self, target: str, issue: m.Issue, epoch: int, key: str) -> bytes:
        cached = self._cached(key, f"edition.{target}")
        if cached is not None:
            self.progress(f"{target}: nothing changed since the last build, reusing it")
            return cached
        if target == "pdf":
            return self.print_edition(issue, epoch, key).pdf
        with CoverImage(issue, self.part_store(), self.progress) as cover:  # made meanwhile, if need be
            print_result = self.print_edition(issue, epoch, key)
            data = self._epub(issue, epoch, print_result, cover.png())
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
        layout = pdf.lay_out(issue, epoch=epoch, crop_marks=self.crop_marks, cache=self.part_store())
        self.progress(_parts_report(layout.laid_out, total=len(issue.articles) + 3))  # + cover, contents, back
        result = PrintResult(pdf.pdf_bytes(layout), layout.html.encode("utf-8"), layout.page_starts())
        meta = {"page_marks": result.page_marks}
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
                # a link is hashed by where it points: the loader refuses links that leave the tree
                digest.update(os.readlink(path).encode() if path.is_symlink() else _file_digest(path))
        return digest.hexdigest()[:32]

    def _cache_dir(self) -> Path:
        return self.out / CACHE_FOLDER

    def part_store(self) -> PartStore:
        if self._parts is None:
            self._parts = PartStore(self._cache_dir() / PARTS_FOLDER)
        return self._parts

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
        return PrintResult(pdf_bytes, html, marks)

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
            (p for p in self._cache_dir().iterdir() if p.is_dir() and p.name not in (keep, PARTS_FOLDER)),
            key=lambda p: p.stat().st_mtime, reverse=True,
        )
        for old in entries[CACHE_ENTRIES_KEPT - 1:]:
            shutil.rmtree(old, ignore_errors=True)

    # --- the other outputs --------------------------------------------------------------------

    def _epub(self, issue: m.Issue, epoch: int, print_result: PrintResult, cover_image: bytes) -> bytes:
        from publisher import epub

        self.progress("packaging the EPUB")
        return epub.build_epub(
            issue, epoch=epoch, page_marks=print_result.page_marks,
            page_source=f"{issue.title} {issue.issue_line} (print)", cover_image=cover_image,
        )

    def _html(self, issue: m.Issue, epoch: int, key: str) -> bytes:
        """The print document, so that `weasyprint <slug>.html` (styles beside it) gives the same PDF."""
        return self.print_edition(issue, epoch, key).html  # copyfitted: it comes out of a layout

    def _copy_styles(self) -> None:
        styles = self.out / "styles"
        for path in sorted(p for p in STYLES.rglob("*") if p.is_file()):
            destination = styles / path.relative_to(STYLES)
            if not _same_content(destination, path.read_bytes()):
                write_atomic(destination, path.read_bytes())


class PartStore:
    """``pdf.PartCache`` on disk: one file per laid-out part, named by its key, with its checksum in front.

    A damaged or unreadable entry is a miss; a cache that cannot be written only costs time at the next
    build.  Entries read or written by this build are touched, so pruning drops the least recently used.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.used: set[str] = set()

    def get(self, key: str) -> bytes | None:
        path = self.folder / key
        try:
            stored = path.read_bytes()
            os.utime(path)
        except OSError:
            return None
        checksum, data = stored[:32], stored[32:]
        if hashlib.sha256(data).digest() != checksum:
            return None
        self.used.add(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        try:
            write_atomic(self.folder / key, hashlib.sha256(data).digest() + data)
        except BuildError:
            return
        self.used.add(key)

    def prune(self, keep: int) -> None:
        """Keep this build's entries and the most recently used others, ``keep`` entries in all."""
        try:
            entries = [p for p in self.folder.iterdir() if p.is_file() and p.name not in self.used
                       and not p.name.startswith(".")]  # a dot file is another build's write in progress
            entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return
        for old in entries[max(keep - len(self.used), 0):]:
            old.unlink(missing_ok=True)


class CoverImage:
    """The EPUB's cover image (``cover.cover_png``): from the part store, or made in a second process.

    Use it as a context manager around the work it can overlap with (the print layout); ``png()`` then
    waits for it.  Without a second processor it is made here, when asked for.  The child only makes the
    PNG and sends it back (the parent stores it); it ignores Ctrl-C, and is stopped when the build fails.
    """

    def __init__(self, issue: m.Issue, store: PartStore, progress: Progress):
        self.issue, self.store = issue, store
        self.key = _cover_image_key(issue)
        self._png = store.get(self.key)
        self._child: multiprocessing.process.BaseProcess | None = None
        self._answer = None
        if self._png is None and _processors() > 1:
            progress("making the EPUB's cover image in a second process")
            context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state shared by forking
            self._answer, sending_end = context.Pipe(duplex=False)
            self._child = context.Process(target=_make_cover_image, args=(issue, sending_end), daemon=True)
            self._child.start()
            sending_end.close()

    def __enter__(self) -> "CoverImage":
        return self

    def __exit__(self, kind, error, trace) -> None:
        if self._child is not None:
            if kind is not None:  # the build failed: nobody will use the cover
                self._child.terminate()
            self._child.join()
            self._answer.close()

    def png(self) -> bytes:
        if self._png is None:
            self._png = self._from_child()
            if self._png is None:
                from publisher.cover import cover_png

                self._png = cover_png(self.issue)
            self.store.put(self.key, self._png)
        return self._png

    def _from_child(self) -> bytes | None:
        if self._child is None:
            return None
        try:
            outcome, value = self._answer.recv()
        except (EOFError, OSError):  # the child died (killed, out of memory): make the cover here instead
            return None
        if outcome == "error":
            raise value
        return value


def _make_cover_image(issue: m.Issue, answer) -> None:
    """In the child process: make the cover image and send ("png", bytes) or ("error", exception)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from publisher.cover import cover_png

    try:
        answer.send(("png", cover_png(issue)))
    except Exception as error:
        try:
            answer.send(("error", error))
        except Exception:  # an exception that does not pickle
            answer.send(("error", BuildError(f"EPUB cover image: {type(error).__name__}: {error}")))
    finally:
        answer.close()


def _cover_image_key(issue: m.Issue) -> str:
    """The cover image depends on the cover page's document, the styles, WeasyPrint and the rasteriser."""
    from publisher import cover, pdf

    digest = hashlib.sha256(b"epub cover image 1\n" + pdf.layout_environment())
    digest.update(_library_versions(("pypdfium2", "pillow")).encode())
    digest.update(hashlib.sha256(Path(cover.__file__).read_bytes()).digest())
    digest.update(cover.cover_document(issue).encode("utf-8"))
    return "epub-cover-" + digest.hexdigest()


def _processors() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _parts_report(laid_out: tuple[str, ...], total: int) -> str:
    names = sorted(set(laid_out))
    if not names:
        return f"print layout: all {total} parts reused from the cache"
    if len(names) >= total:
        return f"print layout: all {total} parts laid out"
    return f"print layout: {len(names)} of {total} parts laid out ({', '.join(names)}), the others reused"


def _same_content(path: Path, data: bytes) -> bool:
    """True when ``path`` already holds ``data`` (a no-change rebuild then touches nothing)."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _file_digest(path: Path) -> bytes:
    """SHA-256 of a file read in pieces: a huge file someone dropped in the tree costs no memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.digest()


LIBRARIES = ("weasyprint", "ebooklib", "jinja2", "markdown-it-py", "mdit-py-plugins", "segno", "pydyf", "pyphen",
             "tinycss2", "cssselect2", "fonttools", "pypdfium2", "pillow")


def _library_versions(names: Iterable[str] = LIBRARIES) -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in names:
        try:
            parts.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name}=none")
    return ";".join(parts)
