"""The EPUB 3 edition: one reflowable, accessible, reproducible file per issue.

Contract: ``build_epub(issue, *, epoch=None, page_marks=None, page_source=None) -> bytes`` returns the
complete EPUB.  It reads only the model, the templates and ``styles/`` (never the source tree), and the
same inputs give the same bytes: ``epoch`` (else ``SOURCE_DATE_EPOCH``, else midnight UTC of the issue
date) is the modification date in the package and the time stamp of every zip entry.

Spine: the cover (image + the cover's words as text), the navigation document as the visible contents
page "Inhoud", one document per article in reading order, the colophon with the back-cover teasers and
the corrections.  ``page_marks`` maps a block id (``<slug>-<n>``, see ``render.Anchors``), an article
slug, or one of ``cover``/``contents``/``back-cover`` to the print folios of the pages that begin there;
with it the documents carry page-break markers, the navigation document a page list, and the package a
``pageBreakSource`` (``page_source``, default "<title> <issue line> (print)") and the page-navigation
accessibility features.  An unknown key or a repeated folio is a ``BuildError``: a page list with holes
would mislead.

ebooklib (0.20) assembles the package (manifest, spine, NCX, Dublin Core); its XHTML rewriting and
generated navigation document are bypassed (documents go in as bytes), and its output is finished here:
``xml:lang``/``dir`` on the package, ``xml:lang`` on the NCX, Apple Books' display options (use the
embedded fonts), a deterministic zip (``mimetype`` first and stored, fixed times and permissions).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from ebooklib import epub as eb
from lxml import etree

from publisher import accessibility
from publisher import model as m
from publisher import render
from publisher.errors import BuildError
from publisher.qr import qr_svg

PROJECT = Path(__file__).resolve().parent.parent
STYLES = PROJECT / "styles"
# Linked from every document, in this order.  fonts.css is linked rather than @imported by base.css: some
# reading systems (epub.js and the web readers built on it) cannot resolve a URL inside an imported sheet.
STYLESHEETS = ("styles/fonts.css", "styles/base.css", "styles/epub.css")
_FONTS_IMPORT = re.compile(rb"""@import\s+url\(\s*["']?fonts\.css["']?\s*\)\s*;[ \t]*\n?""")
FONT_LICENCES = "OFL-*.txt"
PACKAGE_FOLDER = "EPUB"
COVER_FILE = "cover.png"
IDENTIFIER_NAMESPACE = uuid.UUID("6f0c1d52-5c2e-5b8e-9a59-8e1f2a7c3b10")  # fixed: same slug, same identifier
RESERVED_PAGE_KEYS = ("cover", "contents", "back-cover")
ZIP_EPOCH_MIN = 315532800  # 1980-01-01: the earliest time a zip entry can carry
# Apple Books sets text in its own default font unless a book asks for the fonts it embeds.
APPLE_DISPLAY_OPTIONS = "META-INF/com.apple.ibooks.display-options.xml"
APPLE_DISPLAY_OPTIONS_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<display_options>\n<platform name="*">\n'
    b'<option name="specified-fonts">true</option>\n</platform>\n</display_options>\n'
)

OPF_NS = "http://www.idpf.org/2007/opf"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XHTML_NS = "http://www.w3.org/1999/xhtml"
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"

# Fixed words of the edition (everything else comes from the model).
LABELS = {
    "contents": "Inhoud",
    "pages": "Pagina’s",
    "landmarks": "Oriëntatiepunten",
    "cover": "Omslag",
    "cover_lines": "In dit nummer",
    "bodymatter": "Begin van de artikelen",
    "colophon": "Colofon",
    "publisher": "Uitgave:",
    "typefaces": "Letters:",
    "font_licence": "SIL Open Font License 1.1",
    "corrections": "Correcties",
    "printed": "Gedrukt:",
    "corrected": "Verbeterd:",
    "removed": "Verwijderd",
}


@dataclass(frozen=True)
class Document:
    """One XHTML content document of the spine."""

    uid: str
    href: str  # relative to the package folder (all documents sit at its top)
    title: str  # its entry in the NCX
    content: bytes
    properties: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resource:
    """Anything else in the manifest: styles, fonts, licences, images."""

    uid: str
    href: str
    media_type: str
    content: bytes
    properties: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """One entry of the page list."""

    href: str
    label: str


def build_epub(
    issue: m.Issue,
    *,
    epoch: int | None = None,
    page_marks: Mapping[str, Iterable[str]] | None = None,
    page_source: str | None = None,
    cover_image: bytes | None = None,
) -> bytes:
    """The complete EPUB of ``issue`` (see the module docstring).

    ``cover_image``: ``cover.cover_png(issue)`` when the caller already has it (build.py caches it).
    """
    modified = modification_time(issue, epoch)
    marks = place_page_marks(issue, page_marks or {})
    images = article_images(issue)
    cover = cover_resource(issue, cover_image)

    articles = [article_document(issue, article, marks, images) for article in issue.articles]
    cover_doc = cover_document(issue, cover, marks)
    colophon = colophon_document(issue, marks)
    pages = [*page_list([cover_doc]), *_pages_at("nav.xhtml", marks.get("contents", ())),
             *page_list([*articles, colophon])]
    nav = nav_document(issue, articles, colophon, pages, marks)
    spine = [cover_doc, nav, *articles, colophon]

    facts = accessibility.inspect(doc.content for doc in spine)
    source = (page_source or f"{issue.title} {issue.issue_line} (print)") if pages else None
    a11y = accessibility.metadata(facts, certifier=issue.publisher, page_source=source)
    resources = [cover, *style_resources(), *images.values()]
    book = assemble(issue, spine, resources, a11y)
    return finish(write(book, modified), issue, modified)


# --- time, identity ---------------------------------------------------------------------------------


def modification_time(issue: m.Issue, epoch: int | None = None) -> dt.datetime:
    """``epoch``, else ``SOURCE_DATE_EPOCH``, else midnight UTC of the issue date (never the clock)."""
    if epoch is None:
        value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if value and not value.isdigit():
            raise BuildError(f"SOURCE_DATE_EPOCH must be a whole number of seconds; got {value!r}")
        if value:
            epoch = int(value)
    if epoch is None:
        return dt.datetime(issue.date.year, issue.date.month, issue.date.day, tzinfo=dt.timezone.utc)
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)


def identifier(issue: m.Issue) -> str:
    """A stable ``urn:uuid:`` derived from the issue slug: every build of an issue is the same book."""
    return f"urn:uuid:{uuid.uuid5(IDENTIFIER_NAMESPACE, issue.slug)}"


def book_title(issue: m.Issue) -> str:
    """"SER Magazine #3 – September 2021": the name, the number, the cover date."""
    return f"{issue.title} #{issue.number} – {issue.date_label}"


# --- page marks ---------------------------------------------------------------------------------------


def place_page_marks(issue: m.Issue, page_marks: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Check ``page_marks`` and move marks inside pull quotes to the pull quote itself.

    A pull quote is hidden from screen readers (its words are in the text), so a marker inside it would be
    lost to exactly the readers who need page numbers.
    """
    homes: dict[str, str] = {key: key for key in RESERVED_PAGE_KEYS}
    for article in issue.articles:
        homes[article.slug] = article.slug
        homes.update(_block_homes(article))
    reading_order = {key: position for position, key in enumerate(homes)}
    unknown = sorted(key for key in page_marks if key not in homes)
    if unknown:
        raise BuildError(f"page marks for unknown places: {', '.join(unknown[:10])}")
    placed: dict[str, list[tuple[int, str]]] = {}
    seen: set[str] = set()
    for key, folios in page_marks.items():
        for folio in (folios,) if isinstance(folios, str) else folios:
            folio = str(folio)
            if folio in seen:
                raise BuildError(f"page {folio} begins at two places")
            if not re.fullmatch(r"[A-Za-z0-9._-]+", folio):
                raise BuildError(f"page label {folio!r} cannot be a page-break id")
            seen.add(folio)
            placed.setdefault(homes[key], []).append((reading_order[key], folio))
    # marks moved onto a pull quote keep the reading order of the blocks they came from
    return {home: tuple(folio for _, folio in sorted(entries, key=lambda e: e[0])) for home, entries in placed.items()}


def _block_homes(article: m.Article) -> dict[str, str]:
    """Block id -> the id whose marker stands for it (itself, or the pull quote around it)."""
    anchor = render.Anchors.of(article)
    homes: dict[str, str] = {}

    def visit(blocks: Iterable[m.Block], home: str | None) -> None:
        for block in blocks:
            bid = anchor(block)
            homes[bid] = home or bid
            inner_home = home or (bid if isinstance(block, m.PullQuote) else None)
            if isinstance(block, m.ListBlock):
                for item in block.items:
                    visit(item, inner_home)
            elif hasattr(block, "blocks"):
                visit(block.blocks, inner_home)

    visit(article.blocks, None)
    return homes


def page_list(documents: Iterable[Document]) -> list[Page]:
    """The page-break markers of ``documents``, in reading order."""
    pages: list[Page] = []
    for doc in documents:
        root = etree.fromstring(doc.content)
        for element in root.iter(f"{{{XHTML_NS}}}span"):
            if "pagebreak" in (element.get(EPUB_TYPE) or "").split():
                pages.append(Page(f"{doc.href}#{element.get('id')}", element.get("aria-label") or ""))
    return pages


def _pages_at(href: str, folios: Iterable[str]) -> list[Page]:
    return [Page(f"{href}#page-{folio}", folio) for folio in folios]


# --- documents ----------------------------------------------------------------------------------------


def article_href(issue: m.Issue, article: m.Article) -> str:
    return f"{issue.articles.index(article) + 1:02d}-{article.slug}.xhtml"


def article_document(
    issue: m.Issue, article: m.Article, marks: dict[str, tuple[str, ...]], images: dict[bytes, Resource]
) -> Document:
    # References keep their QR code: the printed text beside it says "Scan de QR-code", and a reader with
    # a tablet can still scan it with a phone; the address itself is a live link in the text.
    context = render.article_context(
        issue, article, "epub", page_marks=marks, stylesheets=STYLESHEETS, qr_code=qr_svg,
        image_src=lambda block: images[block.data].href,
    )
    href = article_href(issue, article)
    content = _render("epub/article.xhtml.j2", href, **context)
    properties = ("svg",) if _has_svg(content) else ()
    return Document(f"article-{issue.articles.index(article) + 1:02d}", href, _toc_label(article), content, properties)


def cover_document(issue: m.Issue, cover: Resource, marks: dict[str, tuple[str, ...]]) -> Document:
    width, height = _png_size(cover.content)
    content = _render(
        "epub/cover.xhtml.j2", "cover.xhtml", issue=issue, stylesheets=STYLESHEETS, labels=LABELS,
        page_marks=marks, article_href={a.slug: article_href(issue, a) for a in issue.articles},
        cover={"src": cover.href, "alt": accessibility.cover_alt(issue), "width": width, "height": height},
    )
    return Document("cover", "cover.xhtml", LABELS["cover"], content)


def colophon_document(issue: m.Issue, marks: dict[str, tuple[str, ...]]) -> Document:
    by_path = {article.path: article for article in issue.articles}
    corrections = [
        {"href": article_href(issue, by_path[c.file]), "title": by_path[c.file].title,
         "printed": c.printed, "corrected": c.corrected}
        for c in issue.corrections if c.file in by_path
    ]
    content = _render(
        "epub/colophon.xhtml.j2", "colophon.xhtml", issue=issue, stylesheets=STYLESHEETS, labels=LABELS,
        page_marks=marks, corrections=corrections, typefaces=typefaces(),
    )
    return Document("colophon", "colophon.xhtml", LABELS["colophon"], content)


def nav_document(
    issue: m.Issue, articles: list[Document], colophon: Document, pages: list[Page],
    marks: dict[str, tuple[str, ...]],
) -> Document:
    toc = [{"href": "cover.xhtml", "rubric": None, "title": LABELS["cover"]}]
    toc += [{"href": doc.href, "rubric": article.rubric, "topic": article.topic, "title": article.title}
            for article, doc in zip(issue.articles, articles)]
    toc.append({"href": colophon.href, "rubric": None, "title": LABELS["colophon"]})
    landmarks = [
        {"type": "cover", "href": "cover.xhtml", "label": LABELS["cover"]},
        {"type": "toc", "href": "nav.xhtml#toc", "label": LABELS["contents"]},
    ]
    if articles:
        landmarks.append({"type": "bodymatter", "href": articles[0].href, "label": LABELS["bodymatter"]})
    content = _render(
        "epub/nav.xhtml.j2", "nav.xhtml", issue=issue, stylesheets=STYLESHEETS, labels=LABELS,
        page_marks=marks, toc=toc, pages=pages, landmarks=landmarks,
    )
    return Document("nav", "nav.xhtml", LABELS["contents"], content, ("nav",))


def _has_svg(content: bytes) -> bool:
    """Whether a document embeds SVG (the manifest must say so)."""
    return any(True for _ in etree.fromstring(content).iter("{http://www.w3.org/2000/svg}svg"))


def _toc_label(article: m.Article) -> str:
    return f"{article.kicker}: {article.title}"


def _render(template: str, href: str, **context) -> bytes:
    """Render a template and check that the result is well-formed XML (a template bug stops the build)."""
    data = render.render_template(template, **context).encode("utf-8")
    try:
        etree.fromstring(data)
    except etree.XMLSyntaxError as exc:
        raise BuildError(f"EPUB document {href} is not well-formed XHTML: {exc}") from exc
    return data


# --- resources ----------------------------------------------------------------------------------------


def cover_resource(issue: m.Issue, png: bytes | None = None) -> Resource:
    if png is None:
        from publisher.cover import cover_png  # WeasyPrint is heavy: only imported when a cover is made

        png = cover_png(issue)
    return Resource("cover-image", COVER_FILE, "image/png", png, ("cover-image",))


def article_images(issue: m.Issue) -> dict[bytes, Resource]:
    """The image files of the articles (keyed by their bytes: the same picture is stored once)."""
    found: dict[bytes, Resource] = {}
    for article in issue.articles:
        for block in m.walk(article.blocks):
            if isinstance(block, m.Image) and block.data not in found:
                number = len(found) + 1
                found[block.data] = Resource(f"image-{number}", _image_href(block, number), block.media_type, block.data)
    return found


def _image_href(image: m.Image, number: int) -> str:
    """``images/<n>-<name>``: unique, and only characters every reading system resolves."""
    name = PurePosixPath(image.src).name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", PurePosixPath(name).stem).strip("-.") or "image"
    suffix = ".png" if image.media_type == "image/png" else ".jpg"
    return f"images/{number:03d}-{stem}{suffix}"


def style_resources() -> list[Resource]:
    """The stylesheets, the fonts fonts.css names and their licence texts, as in ``styles/``."""
    resources = [
        Resource("css-base", "styles/base.css", "text/css", _FONTS_IMPORT.sub(b"", _read(STYLES / "base.css"))),
        Resource("css-fonts", "styles/fonts.css", "text/css", _read(STYLES / "fonts.css")),
        Resource("css-epub", "styles/epub.css", "text/css", _read(STYLES / "epub.css")),
    ]
    fonts_css = (STYLES / "fonts.css").read_text("utf-8")
    for number, url in enumerate(dict.fromkeys(re.findall(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", fonts_css)), 1):
        resources.append(Resource(f"font-{number}", f"styles/{url}", "font/woff2", _read(STYLES / url)))
    for number, path in enumerate(sorted((STYLES / "fonts").glob(FONT_LICENCES)), 1):
        resources.append(Resource(f"font-licence-{number}", f"styles/fonts/{path.name}", "text/plain", _read(path)))
    return resources


def typefaces() -> list[dict[str, str]]:
    """Name and copyright notice of each bundled typeface, from the head of its licence file."""
    faces = []
    for path in sorted((STYLES / "fonts").glob(FONT_LICENCES)):
        lines = [line.strip() for line in path.read_text("utf-8").splitlines()]
        notice = next((line for line in lines if line.startswith("©")), "")
        faces.append({"name": lines[0], "notice": notice.rstrip(".")})
    return faces


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise BuildError("the cover image is not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# --- the package ----------------------------------------------------------------------------------------


def assemble(issue: m.Issue, spine: list[Document], resources: list[Resource], a11y: list[tuple[str, str]]) -> eb.EpubBook:
    """The ebooklib book: metadata, manifest (documents as bytes, untouched), spine, NCX."""
    book = eb.EpubBook()
    book.FOLDER_NAME = PACKAGE_FOLDER
    book.IDENTIFIER_ID = "pub-id"
    book.metadata = {}  # drops the random identifier ebooklib sets in its constructor
    book.set_identifier(identifier(issue))
    book.set_title(book_title(issue))
    book.set_language(issue.language)
    book.add_metadata("DC", "creator", issue.publisher, {"id": "creator"})
    book.add_metadata("DC", "publisher", issue.publisher)
    book.add_metadata("DC", "date", issue.date.isoformat())
    book.add_metadata("DC", "description", f"{issue.subtitle}. {issue.issue_line}.")
    book.add_metadata(None, "meta", issue.title, {"property": "belongs-to-collection", "id": "periodical"})
    book.add_metadata(None, "meta", "series", {"refines": "#periodical", "property": "collection-type"})
    book.add_metadata(None, "meta", str(issue.number), {"refines": "#periodical", "property": "group-position"})
    for prop, value in a11y:
        book.add_metadata(None, "meta", value, {"property": prop})
    book.add_metadata(None, "meta", "", {"name": "cover", "content": "cover-image"})  # EPUB 2 reading systems

    for doc in spine:
        book.add_item(_item(doc.uid, doc.href, "application/xhtml+xml", doc.content, doc.properties))
    for res in resources:
        book.add_item(_item(res.uid, res.href, res.media_type, res.content, res.properties))
    book.add_item(eb.EpubNcx())
    book.spine = [doc.uid for doc in spine]
    book.toc = [eb.Link(doc.href, doc.title, f"ncx-{doc.uid}") for doc in spine if doc.uid != "nav"]
    return book


def _item(uid: str, href: str, media_type: str, content: bytes, properties: tuple[str, ...]) -> eb.EpubItem:
    item = eb.EpubItem(uid=uid, file_name=href, media_type=media_type, content=content)
    item.properties = list(properties)
    return item


def write(book: eb.EpubBook, modified: dt.datetime) -> bytes:
    out = io.BytesIO()
    options = {"mtime": modified, "raise_exceptions": True, "epub3_pages": False, "epub3_landmark": False,
               "play_order": {"enabled": True, "start_from": 1}}
    eb.EpubWriter(out, book, options).write()
    return out.getvalue()


def finish(raw: bytes, issue: m.Issue, modified: dt.datetime) -> bytes:
    """Fix what ebooklib leaves out, and rewrite the zip deterministically."""
    with zipfile.ZipFile(io.BytesIO(raw)) as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    opf = f"{PACKAGE_FOLDER}/content.opf"
    entries[opf] = _finish_package_document(entries[opf], issue)
    ncx = f"{PACKAGE_FOLDER}/toc.ncx"
    entries[ncx] = _finish_ncx(entries[ncx], issue)
    entries[APPLE_DISPLAY_OPTIONS] = APPLE_DISPLAY_OPTIONS_XML
    return _deterministic_zip(entries, modified)


def _finish_package_document(data: bytes, issue: m.Issue) -> bytes:
    root = etree.fromstring(data)
    root.set(XML_LANG, issue.language)
    root.set("dir", "ltr")
    # ebooklib declares the reserved "rendition" prefix; a reserved prefix needs no declaration.
    root.attrib.pop("prefix", None)
    return etree.tostring(root, encoding="utf-8", xml_declaration=True, pretty_print=True)


def _finish_ncx(data: bytes, issue: m.Issue) -> bytes:
    root = etree.fromstring(data)
    root.set(XML_LANG, issue.language)
    for meta in root.iter("{http://www.daisy.org/z3986/2005/ncx/}meta"):
        if meta.get("name") == "dtb:depth":
            meta.set("content", "1")
    return etree.tostring(root, encoding="utf-8", xml_declaration=True, pretty_print=True)


def _deterministic_zip(entries: dict[str, bytes], modified: dt.datetime) -> bytes:
    """``mimetype`` first and stored, then the rest in a fixed order; fixed times and permissions."""
    stamp = dt.datetime.fromtimestamp(max(int(modified.timestamp()), ZIP_EPOCH_MIN), tz=dt.timezone.utc)
    date_time = stamp.timetuple()[:6]
    first = ["mimetype", "META-INF/container.xml", f"{PACKAGE_FOLDER}/content.opf"]
    names = first + sorted(name for name in entries if name not in first)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.create_system = 3  # Unix, whatever the build machine
            info.external_attr = 0o100644 << 16
            if name == "mimetype":
                info.compress_type = zipfile.ZIP_STORED
                archive.writestr(info, entries[name])
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, entries[name], compresslevel=9)
    return out.getvalue()
