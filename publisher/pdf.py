"""The print edition: laid out by WeasyPrint part by part, written as one press-ready, tagged A4 PDF.

Contract
--------
* ``lay_out(issue, *, epoch=None, crop_marks=False, cache=None) -> PrintLayout``: one layout (reusable):
  the WeasyPrint ``Document`` of the whole edition, the page labels, every element id's first page, the
  edition as one XHTML document (``html``) and which parts had to be laid out (``laid_out``).
* ``print_document(issue, *, epoch=None, crop_marks=False) -> str``: that XHTML document (it costs a
  layout: when you already have a ``PrintLayout``, use its ``html``).  Stylesheets are linked relative to
  the project root (``styles/print.css``), so the file renders to the same pages with WeasyPrint's own CLI
  when written next to ``styles/`` (the same bytes, even: ``weasyprint --pdf-variant pdf/ua-1``).
  ``epoch`` (default: SOURCE_DATE_EPOCH, else the issue date at 00:00 UTC) becomes the
  ``dcterms.created``/``dcterms.modified`` meta tags, which WeasyPrint writes as the PDF dates: the PDF
  bytes depend on the source only.
* ``pdf_bytes(layout) -> bytes``: the PDF (PDF/UA-1 variant: tagged, /Lang, title, author, subject;
  bookmarks only per article; vendored fonts embedded).
* ``PrintLayout.page_starts()``: block id -> folios of the printed pages that begin at that block (the
  EPUB's page-break markers).

Parts
-----
The edition is made of parts that each begin on a new page: the cover, the contents, every article and the
back cover.  A part is laid out as a WeasyPrint document of its own, with the same head as the whole
edition, the same stylesheets (parsed once per layout: ``_Session.stylesheets``) and a first page numbered
like its place in the edition (``counter-reset: page N`` on ``@page :first``; a right-hand page when N is
odd).  The parts' pages are then joined into one ``Document`` (WeasyPrint's documented ``copy`` of pages
across documents) and written in one go, so the structure tree, bookmarks, links and font subsets are
those of one document: the PDF is byte-identical to WeasyPrint's layout of ``html`` as a whole.  Articles
are laid out before the contents, which prints their first folios as plain numbers (``data-page``:
``target-counter()`` cannot see across documents).  This relies on every part starting with a forced page
break (``break-before: page``), as print.css has it.

Copyfitting: an article whose last page would carry only a few lines (a "runt", under ``RUNT_FILL`` of
the text area) is set a little tighter (class ``article--tight``: leading 13 pt, smaller gaps) and laid out
again, alone.  The decision is made from its own first layout, so the result is still a pure function of
the source.

Cache: with ``cache`` (a ``PartCache``: ``get(key) -> bytes | None``, ``put(key, bytes)``), each part's
laid-out pages are stored pickled (zlib), keyed by a hash of the part's own document (which holds its first
folio), the styles folder (fonts included), this module's code, the project folder and the versions of
Python, WeasyPrint, its libraries and Pango (``layout_environment()``).  A part whose key is known is not
laid out again: an edit to one article lays out that article, and the contents and the later parts only
when their first folio moved.  WeasyPrint 70 keeps no live Pango object in a laid-out page (text layouts
are re-created when drawing), so pages pickle once a few things are handled: the font configuration, the
URL fetcher and the layout context an inline SVG keeps are left out and replaced by this session's own
when loading (the font configuration gets the same ``@font-face`` fonts), the ``lambda: False`` flex items
carry as ``is_floated`` becomes a module function, and ``AbsolutePlaceholder`` (which forwards every
attribute to its box) gets a reducer.  A part that still does not pickle is simply not cached.  Entries
are trusted like the output folder that holds them; still, the unpickler only builds WeasyPrint's classes.

Everything WeasyPrint fetches goes through the jailed fetcher (``publisher.fetch``: only ``styles/`` and
our own image data URLs), and any WeasyPrint WARNING/ERROR during layout or writing raises
``errors.BuildError``: the real issue renders with zero warnings.  ``rel="attachment"`` links (which
WeasyPrint would embed as files) are refused before anything is laid out.
"""

from __future__ import annotations

import base64
import copyreg
import datetime as dt
import functools
import gc
import hashlib
import io
import os
import pickle
import sys
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FunctionType
from typing import Callable, Iterator, Protocol

from markupsafe import Markup
from weasyprint import CSS, DEFAULT_OPTIONS, Document, Page
from weasyprint.css.counters import CounterStyle
from weasyprint.css.targets import TargetCollector
from weasyprint.images import get_image_from_uri
from weasyprint.layout import LayoutContext
from weasyprint.layout.absolute import AbsolutePlaceholder
from weasyprint.pdf.metadata import DocumentMetadata
from weasyprint.text.ffi import pango
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from publisher import model as m
from publisher.errors import BuildError
from publisher.fetch import PROJECT_ROOT, STYLES_DIR, JailedFetcher, jailed_fetcher, render_strictly, strict_weasyprint
from publisher.qr import qr_svg
from publisher.render import Anchors, article_context, render_template

PDF_VARIANT = "pdf/ua-1"
STYLESHEETS = ("styles/base.css", "styles/cover.css", "styles/print.css")  # relative to the project root
CONTENTS_ID = "inhoud"  # the id of the contents page's <nav> in print/contents.xhtml.j2
PAGE_MARK_NAMES = {CONTENTS_ID: "contents"}  # the EPUB's name for the same place (epub.build_epub)
RUNT_FILL = 0.15  # an article's last page filled to less than this share of the text area is a runt
CONTENTS_PART, COVER_PART, BACK_COVER_PART = "contents", "cover", "back-cover"
CACHE_FORMAT = "print-part 1"  # bump when what a cache entry holds changes


@dataclass(frozen=True, eq=False)
class PrintLayout:
    """One laid-out print edition.

    ``labels[i]`` is the folio of page ``i`` ("1" for the cover, which counts but prints no number);
    ``unnumbered`` holds the indexes of pages without a printed folio (front and back cover);
    ``anchors`` maps every element id to the 0-based index of the first page it appears on;
    ``block_ids`` lists the ids of articles and blocks in document order; ``html`` is the whole edition as
    one document (what ``print_document`` returns); ``laid_out`` names the parts this layout had to lay out
    (the others came from the cache): "cover", "contents", the article slugs, "back-cover".
    """

    html: str
    document: Document
    labels: tuple[str, ...]
    unnumbered: frozenset[int]
    anchors: dict[str, int]
    block_ids: tuple[str, ...]
    laid_out: tuple[str, ...] = ()

    def page_starts(self) -> dict[str, tuple[str, ...]]:
        """First block id beginning on each folio'd page -> the folios of the pages that begin there.

        A page on which no block begins (a paragraph runs across all of it) hands its folio to the next
        block that begins afterwards, so every printed folio is marked exactly once, in order.
        """
        starts: dict[int, str] = {}
        for block_id in (CONTENTS_ID, *self.block_ids):  # document order: the first one seen on a page begins it
            page = self.anchors.get(block_id)
            if page is not None and page not in starts:
                starts[page] = block_id
        marks: dict[str, list[str]] = {}
        waiting: list[str] = []
        for index, label in enumerate(self.labels):
            if index not in self.unnumbered:
                waiting.append(label)
            if waiting and index in starts:
                marks.setdefault(starts[index], []).extend(waiting)
                waiting = []
        if waiting:  # pages after the last block start: attach to the last block that starts
            marks.setdefault(starts[max(starts)], []).extend(waiting)
        return {
            PAGE_MARK_NAMES.get(block_id, block_id): tuple(folios) for block_id, folios in marks.items()
        }


class PartCache(Protocol):
    """Where laid-out parts are kept between builds (build.py keeps them on disk)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...


# --- the documents -------------------------------------------------------------------------------------


def print_document(issue: m.Issue, *, epoch: int | None = None, crop_marks: bool = False) -> str:
    """The whole, copyfitted print edition as one XHTML document (lays the issue out to fit it)."""
    return lay_out(issue, epoch=epoch, crop_marks=crop_marks).html


def _document_html(
    issue: m.Issue, *, created: str, crop_marks: bool, tight: frozenset[str], folios: dict[str, int] | None = None,
) -> str:
    """The whole edition as one document (``folios``: the contents' page numbers, slug -> folio)."""
    parts = [
        _cover_markup(issue), _contents_markup(issue, folios or {}),
        *(_article_markup(issue, article, article.slug in tight) for article in issue.articles),
        _back_cover_markup(issue),
    ]
    return _print_html(issue, parts, created=created, crop_marks=crop_marks)


def _print_html(issue: m.Issue, parts: list[str], *, created: str, crop_marks: bool, start: int | None = None) -> str:
    """The whole edition (``start`` None: it links the stylesheets) or one part (given them by ``_Session``)."""
    html = render_template(
        "print/issue.xhtml.j2", issue=issue, stylesheets=STYLESHEETS if start is None else (),
        parts=[Markup(part) for part in parts], created=created, crop_marks=crop_marks, start=start,
    )
    refuse_attachments(html)
    return html


def _cover_markup(issue: m.Issue) -> str:
    return render_template("cover.xhtml.j2", issue=issue)


def _contents_markup(issue: m.Issue, folios: dict[str, int]) -> str:
    return render_template("print/contents.xhtml.j2", issue=issue, folios=folios)


def _back_cover_markup(issue: m.Issue) -> str:
    return render_template("print/back-cover.xhtml.j2", issue=issue, qr_code=qr_svg)


def _article_markup(issue: m.Issue, article: m.Article, tight: bool) -> str:
    context = article_context(issue, article, "print", qr_code=qr_svg, image_src=image_data_url, tight=tight)
    return render_template("print/article.xhtml.j2", **context)


def image_data_url(image: m.Image) -> str:
    """An image block as a data: URL (the jail serves no files outside styles/, and the bytes are checked)."""
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def _w3c_date(issue: m.Issue, epoch: int | None) -> str:
    if epoch is None:
        env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if env:
            try:
                epoch = int(env)
            except ValueError:
                raise BuildError(f"SOURCE_DATE_EPOCH must be an integer, not {env!r}") from None
    if epoch is None:
        moment = dt.datetime.combine(issue.date, dt.time(0, 0), tzinfo=dt.timezone.utc)
    else:
        moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _RelFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "rel" and "attachment" in (value or "").lower().split():
                self.found.append(f"<{tag} rel={value!r} href={dict(attrs).get('href')!r}>")

    handle_startendtag = handle_starttag


def refuse_attachments(html: str) -> None:
    """WeasyPrint embeds ``rel="attachment"`` targets as PDF file attachments: never let one through."""
    finder = _RelFinder()
    finder.feed(html)
    finder.close()
    if finder.found:
        raise BuildError("print document: attachment links are not allowed: " + ", ".join(finder.found))


# --- layout ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Part:
    """One part laid out: its markup as laid out (tight or not), its pages and its document's metadata."""

    name: str
    markup: str
    pages: list[Page]
    metadata: DocumentMetadata


def lay_out(
    issue: m.Issue, *, epoch: int | None = None, crop_marks: bool = False, cache: PartCache | None = None,
) -> PrintLayout:
    """Lay out the print edition part by part, reusing the parts ``cache`` holds (see the module contract)."""
    ids = _block_ids(issue)
    session = _Session(issue, created=_w3c_date(issue, epoch), crop_marks=crop_marks, cache=cache)
    with _fewer_collections():
        parts = _parts_in_place(issue, session)
        document = session.join(parts)
    html = _print_html(issue, [part.markup for part in parts], created=session.created, crop_marks=crop_marks)
    anchors = _checked_anchors(issue, document)
    labels = tuple(str(index + 1) for index in range(len(document.pages)))
    unnumbered = frozenset({anchors["cover"], *range(anchors["back-cover"], len(document.pages))})
    return PrintLayout(html, document, labels, unnumbered, anchors, ids, tuple(session.laid_out))


def _parts_in_place(issue: m.Issue, session: "_Session") -> list[_Part]:
    """Every part laid out at its folio: cover, contents, articles, back cover.

    The articles' folios depend on the contents' page count, and the contents prints the articles' folios:
    the contents is guessed to take one page, laid out after the articles, and the articles are placed
    again in the rare case it takes another number of pages.
    """
    cover = session.part(COVER_PART, lambda tight: _cover_markup(issue), start=1)
    contents_pages = 1
    for _ in range(3):
        folio = 1 + len(cover.pages) + contents_pages
        articles, folios = [], {}
        for article in issue.articles:
            folios[article.slug] = folio
            markup = functools.partial(_article_markup, issue, article)
            articles.append(session.part(article.slug, markup, start=folio, copyfit=True))
            folio += len(articles[-1].pages)
        contents = session.part(
            CONTENTS_PART, lambda tight: _contents_markup(issue, folios), start=1 + len(cover.pages))
        if len(contents.pages) == contents_pages:
            back_cover = session.part(BACK_COVER_PART, lambda tight: _back_cover_markup(issue), start=folio)
            return [cover, contents, *articles, back_cover]
        contents_pages = len(contents.pages)
    raise BuildError("print layout: the contents' page count does not settle")


class _Session:
    """Lays out the parts of one edition with one font configuration, through the optional cache."""

    def __init__(self, issue: m.Issue, *, created: str, crop_marks: bool, cache: PartCache | None):
        self.issue, self.created, self.crop_marks, self.cache = issue, created, crop_marks, cache
        self.font_config = FontConfiguration()  # shared by every part: the @font-face fonts are decoded once
        self.counter_style = CounterStyle()
        self._stylesheets: list[CSS] | None = None
        self.laid_out: list[str] = []
        self._environment = layout_environment() if cache is not None else b""
        self._restored_context: LayoutContext | None = None
        self.fetcher = jailed_fetcher([STYLES_DIR])

    def part(self, name: str, markup: Callable[[bool], str], *, start: int, copyfit: bool = False) -> _Part:
        """The part ``name`` beginning on folio ``start``: from the cache, or laid out (and copyfitted)."""
        body = markup(False)
        html = self._part_html(body, start)
        key = self._key(html)  # the copyfit decision is made from this document, so it names the result
        cached = self._cached(key, name)
        if cached is not None:
            return cached
        self.laid_out.append(name)
        document = self._render(html, name)
        if copyfit and _is_runt(document, name):
            body = markup(True)
            document = self._render(self._part_html(body, start), name)
        part = _Part(name, body, document.pages, document.metadata)
        self._store(key, part)
        return part

    def join(self, parts: list[_Part]) -> Document:
        """One document of all the parts' pages (the first part's metadata: every part has the same head)."""
        self.stylesheets()  # restored pages draw their text with the fonts these register
        pages = [page for part in parts for page in part.pages]
        return Document(pages, parts[0].metadata, self.fetcher, self.font_config, {}, None)

    def _part_html(self, markup: str, start: int) -> str:
        return _print_html(self.issue, [markup], created=self.created, crop_marks=self.crop_marks, start=start)

    def _render(self, html: str, name: str) -> Document:
        return render_strictly(
            html, f"print layout of {name}", font_config=self.font_config, counter_style=self.counter_style,
            stylesheets=self.stylesheets(),
        )

    def stylesheets(self) -> list[CSS]:
        """STYLESHEETS, parsed once (which registers their @font-face fonts with the font configuration).

        Parsing them for each part would cost a tenth of the layout.  A part therefore gets them as user
        stylesheets where the whole edition links them as author ones: the cascade is the same for our CSS
        (user rules, !important or not, outrank the user-agent sheet just as author rules do), as long as
        the documents carry no style attributes, presentational hints or ``revert``.  The byte-identical
        PDF from WeasyPrint's CLI on ``html`` (tests/test_build.py) checks it.
        """
        if self._stylesheets is None:
            with strict_weasyprint("print stylesheets"):
                self._stylesheets = [
                    CSS(url=(PROJECT_ROOT / href).as_uri(), url_fetcher=self.fetcher, font_config=self.font_config,
                        counter_style=self.counter_style)
                    for href in STYLESHEETS
                ]
        return self._stylesheets

    # --- the cache ------------------------------------------------------------------------------------

    def _key(self, html: str) -> str:
        return hashlib.sha256(self._environment + html.encode("utf-8")).hexdigest()

    def _cached(self, key: str, name: str) -> _Part | None:
        data = self.cache.get(key) if self.cache is not None else None
        if data is None:
            return None
        try:
            pickled = zlib.decompress(data)
            entry = _PartUnpickler(io.BytesIO(pickled), self.font_config, self._layout_context(), self.fetcher).load()
            return _Part(name, entry["markup"], entry["pages"], entry["metadata"])
        except Exception:  # an entry from another version or a damaged one: lay the part out again
            return None

    def _store(self, key: str, part: _Part) -> None:
        if self.cache is None:
            return
        entry = {"markup": part.markup, "pages": part.pages, "metadata": part.metadata}
        buffer = io.BytesIO()
        try:
            with _recursion_limit(4_000):  # pickle recurses along the box and element trees
                _PartPickler(buffer, self.font_config).dump(entry)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            return  # something in these pages does not pickle: the part is laid out at every build
        self.cache.put(key, zlib.compress(buffer.getvalue(), 1))  # a sixth of the size, for 10 ms

    def _layout_context(self) -> LayoutContext:
        """What an inline SVG restored from the cache draws with (its images, texts and patterns)."""
        if self._restored_context is None:
            options = {**DEFAULT_OPTIONS}
            fetch_image = functools.partial(get_image_from_uri, cache={}, url_fetcher=self.fetcher, options=options)
            self._restored_context = LayoutContext(
                None, fetch_image, self.font_config, self.counter_style, TargetCollector())
        return self._restored_context


def _is_runt(document: Document, slug: str) -> bool:
    """An article of more than one page whose last page is filled less than RUNT_FILL."""
    pages = document.pages
    return len(pages) > 1 and _article_fill(document, len(pages) - 1, slug) < RUNT_FILL


def _article_fill(document: Document, index: int, slug: str) -> float:
    """How far down the text area of page ``index`` the article ``slug`` reaches (0..1).

    Reads WeasyPrint's page box (``Page._page_box``): the public ``Page`` API has no box geometry.
    """
    page_box = document.pages[index]._page_box
    article = _find_box(page_box, lambda box: box.element_tag == "article" and box.element.get("id") == slug)
    if article is None:
        return 1.0
    bottom = article.position_y + article.margin_height()
    return (bottom - page_box.content_box_y()) / page_box.height


def _find_box(box, wanted):
    if getattr(box, "element", None) is not None and wanted(box):
        return box
    for child in getattr(box, "children", ()):
        found = _find_box(child, wanted)
        if found is not None:
            return found
    return None


def _checked_anchors(issue: m.Issue, document: Document) -> dict[str, int]:
    anchors = _first_pages(document)
    for required in ("cover", "back-cover", *(a.slug for a in issue.articles)):
        if required not in anchors:
            raise BuildError(f"print layout: #{required} did not land on any page")
    return anchors


def lay_out_html(html: str) -> Document:
    """Lay out a print document strictly (jailed fetcher, no warnings, no attachments)."""
    refuse_attachments(html)
    return render_strictly(html, "print layout")


def pdf_bytes(layout: PrintLayout) -> bytes:
    """The press-ready PDF of a layout: PDF/UA-1, tagged, fonts embedded, deterministic bytes."""
    with strict_weasyprint("PDF"), _fewer_collections():
        return layout.document.write_pdf(pdf_variant=PDF_VARIANT)


def _first_pages(document: Document) -> dict[str, int]:
    anchors: dict[str, int] = {}
    for index, page in enumerate(document.pages):
        for name in page.anchors:
            anchors.setdefault(name, index)
    return anchors


def _block_ids(issue: m.Issue) -> tuple[str, ...]:
    ids: list[str] = []
    for article in issue.articles:
        anchor = Anchors.of(article)
        ids.append(article.slug)
        ids.extend(anchor(block) for block in m.walk(article.blocks))
    if len(set(ids)) != len(ids):
        raise BuildError("print document: article slugs and block ids collide")
    return tuple(ids)


# --- pickled pages ---------------------------------------------------------------------------------------


def layout_environment() -> bytes:
    """Everything besides a part's own document that its layout depends on (part of every cache key)."""
    digest = hashlib.sha256(
        f"{CACHE_FORMAT}\n{sys.version}\n{PROJECT_ROOT}\n{STYLESHEETS}\npango {pango.pango_version()}\n".encode())
    for name in ("weasyprint", "pydyf", "pyphen", "tinycss2", "cssselect2", "fonttools", "tinyhtml5", "html5lib"):
        try:
            digest.update(f"{name}={version(name)}\n".encode())
        except PackageNotFoundError:
            digest.update(f"{name}=none\n".encode())
    digest.update(hashlib.sha256(Path(__file__).read_bytes()).digest())  # the copyfit rule and the pickling
    for path in sorted(p for p in STYLES_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(STYLES_DIR).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.digest()


def _not_floated() -> bool:
    """Stands in for the ``lambda: False`` WeasyPrint gives flex items as ``is_floated``."""
    return False


def _is_flex_item_lambda(value: object) -> bool:
    return isinstance(value, FunctionType) and value.__qualname__ == "flex_children.<locals>.<lambda>" and (
        value.__module__ == "weasyprint.formatting_structure.build")


def _new_placeholder() -> AbsolutePlaceholder:
    return object.__new__(AbsolutePlaceholder)


def _set_placeholder_state(placeholder: AbsolutePlaceholder, state: dict) -> None:
    for name, value in state.items():  # its __setattr__ writes through to the box it stands for
        object.__setattr__(placeholder, name, value)


def _reduce_placeholder(placeholder: AbsolutePlaceholder):
    """AbsolutePlaceholder forwards every attribute to its box, which default pickling cannot survive."""
    state = {"_box": placeholder._box, "_layout_done": placeholder._layout_done}
    return _new_placeholder, (), state, None, None, _set_placeholder_state


class _PartPickler(pickle.Pickler):
    """Pickles laid-out pages, leaving out what belongs to the process (see the module contract)."""

    dispatch_table = {**copyreg.dispatch_table, AbsolutePlaceholder: _reduce_placeholder}

    def __init__(self, file, font_config: FontConfiguration):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.font_config = font_config

    def persistent_id(self, obj):
        # Called for every object pickled: one dict lookup decides for nearly all of them.
        kind = _SUBSTITUTED_TYPES.get(type(obj))
        if kind is None:
            return None
        if kind == "function":
            return "not-floated" if _is_flex_item_lambda(obj) else None
        if kind == "font-config" and obj is not self.font_config:
            return None  # another configuration: let pickling fail rather than swap its fonts
        return kind


_SUBSTITUTED_TYPES = {
    FontConfiguration: "font-config", LayoutContext: "layout-context", URLFetcher: "url-fetcher",
    JailedFetcher: "url-fetcher", FunctionType: "function",
}
_UNPICKLE_PACKAGES = {"weasyprint", "pydyf", "tinycss2", "cssselect2"}
_UNPICKLE_MODULES = {"xml.etree.ElementTree", "collections", "copyreg", __name__}
_UNPICKLE_BUILTINS = {"set", "frozenset", "slice", "complex", "bytearray", "range", "object"}


class _PartUnpickler(pickle.Unpickler):
    def __init__(self, file, font_config: FontConfiguration, context: LayoutContext, fetcher: URLFetcher):
        super().__init__(file)
        self.substitutes = {
            "font-config": font_config, "layout-context": context, "url-fetcher": fetcher, "not-floated": _not_floated,
        }

    def persistent_load(self, pid):
        return self.substitutes[pid]

    def find_class(self, module: str, name: str):
        """Only the classes laid-out pages are made of (and this module's own helpers)."""
        allowed = (
            module.partition(".")[0] in _UNPICKLE_PACKAGES or module in _UNPICKLE_MODULES
            or (module == "builtins" and name in _UNPICKLE_BUILTINS)
        )
        if not allowed:
            raise pickle.UnpicklingError(f"a cached print part refers to {module}.{name}")
        return super().find_class(module, name)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often: WeasyPrint allocates millions of objects that live as
    long as the layout, and scanning them again and again costs 7 % of a layout (measured: 0.3 s of 4.4 s).
    Memory stays within a few MB of the default (cycles are still collected, in larger batches)."""
    saved = gc.get_threshold()
    gc.set_threshold(50_000, saved[1], max(saved[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*saved)


class _recursion_limit:
    def __init__(self, limit: int):
        self.limit, self.saved = limit, sys.getrecursionlimit()

    def __enter__(self):
        sys.setrecursionlimit(max(self.limit, self.saved))

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.saved)
