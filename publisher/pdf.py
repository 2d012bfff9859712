"""The print edition: one XHTML document laid out by WeasyPrint into a press-ready, tagged A4 PDF.

Contract
--------
* ``print_document(issue, *, epoch=None, crop_marks=False) -> str``: the whole print edition as XHTML
  (cover, contents, articles, back cover), copyfitted (see below), so it costs a layout: when you
  already have a ``PrintLayout``, use its ``html``.  Stylesheets are linked relative to the project root
  (``styles/print.css``), so the file renders the same with WeasyPrint's own CLI when written next to
  ``styles/``.  ``epoch`` (default: SOURCE_DATE_EPOCH, else the issue date at 00:00 UTC) becomes the
  ``dcterms.created``/``dcterms.modified`` meta tags, which WeasyPrint writes as the PDF dates: the PDF
  bytes depend on the source only.
* ``lay_out(issue, *, epoch=None, crop_marks=False) -> PrintLayout``: one layout (reusable): the
  WeasyPrint ``Document``, the page labels and every element id's first page.
* ``pdf_bytes(layout) -> bytes``: the PDF (PDF/UA-1 variant: tagged, /Lang, title, author, subject;
  bookmarks only per article; vendored fonts embedded).
* ``PrintLayout.page_starts()``: block id -> folios of the printed pages that begin at that block (the
  EPUB's page-break markers).

Copyfitting: an article whose last page would carry only a few lines (a "runt", under
``RUNT_FILL`` of the text area) is set a little tighter (class ``article--tight``: leading 13 pt,
smaller gaps) and the issue is laid out a second time.  The decision is made from the first layout,
so the result is still a pure function of the source.

Everything WeasyPrint fetches goes through the jailed fetcher (``publisher.fetch``: only ``styles/`` and
our own image data URLs), and any WeasyPrint WARNING/ERROR during layout or writing raises
``errors.BuildError``: the real issue renders with zero warnings.  ``rel="attachment"`` links (which
WeasyPrint would embed as files) are refused before anything is laid out.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from html.parser import HTMLParser

from markupsafe import Markup
from weasyprint import Document

from publisher import model as m
from publisher.errors import BuildError
from publisher.fetch import render_strictly, strict_weasyprint
from publisher.qr import qr_svg
from publisher.render import Anchors, article_context, render_template

PDF_VARIANT = "pdf/ua-1"
CONTENTS_ID = "inhoud"  # the id of the contents page's <nav> in print/contents.xhtml.j2
PAGE_MARK_NAMES = {CONTENTS_ID: "contents"}  # the EPUB's name for the same place (epub.build_epub)
RUNT_FILL = 0.15  # an article's last page filled to less than this share of the text area is a runt


@dataclass(frozen=True, eq=False)
class PrintLayout:
    """One laid-out print edition.

    ``labels[i]`` is the folio of page ``i`` ("1" for the cover, which counts but prints no number);
    ``unnumbered`` holds the indexes of pages without a printed folio (front and back cover);
    ``anchors`` maps every element id to the 0-based index of the first page it appears on;
    ``block_ids`` lists the ids of articles and blocks in document order; ``html`` is the document laid
    out (what ``print_document`` returns).
    """

    html: str
    document: Document
    labels: tuple[str, ...]
    unnumbered: frozenset[int]
    anchors: dict[str, int]
    block_ids: tuple[str, ...]

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


# --- the document ---------------------------------------------------------------------------------


def print_document(issue: m.Issue, *, epoch: int | None = None, crop_marks: bool = False) -> str:
    """The whole, copyfitted print edition as one XHTML document (lays the issue out to fit it)."""
    return lay_out(issue, epoch=epoch, crop_marks=crop_marks).html


def _document_html(issue: m.Issue, *, created: str, crop_marks: bool, tight: frozenset[str]) -> str:
    articles = [Markup(_article_markup(issue, article, article.slug in tight)) for article in issue.articles]
    html = render_template(
        "print/issue.xhtml.j2", issue=issue, articles=articles, created=created, crop_marks=crop_marks,
        qr_code=qr_svg,
    )
    refuse_attachments(html)
    return html


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


# --- layout and PDF ---------------------------------------------------------------------------------


def lay_out(issue: m.Issue, *, epoch: int | None = None, crop_marks: bool = False) -> PrintLayout:
    """Lay out the print edition (twice when an article needs copyfitting; see the module contract)."""
    ids = _block_ids(issue)
    created = _w3c_date(issue, epoch)
    html = _document_html(issue, created=created, crop_marks=crop_marks, tight=frozenset())
    document = lay_out_html(html)
    anchors = _checked_anchors(issue, document)
    runts = runt_articles(issue, document, anchors)
    if runts:
        html = _document_html(issue, created=created, crop_marks=crop_marks, tight=runts)
        document = lay_out_html(html)
        anchors = _checked_anchors(issue, document)
    labels = tuple(str(index + 1) for index in range(len(document.pages)))
    unnumbered = frozenset({anchors["cover"], *range(anchors["back-cover"], len(document.pages))})
    return PrintLayout(html, document, labels, unnumbered, anchors, ids)


def _checked_anchors(issue: m.Issue, document: Document) -> dict[str, int]:
    anchors = _first_pages(document)
    for required in ("cover", "back-cover", *(a.slug for a in issue.articles)):
        if required not in anchors:
            raise BuildError(f"print layout: #{required} did not land on any page")
    return anchors


def article_pages(issue: m.Issue, anchors: dict[str, int]) -> dict[str, range]:
    """Each article's page indexes (it runs until the next article or the back cover begins)."""
    starts = [anchors[article.slug] for article in issue.articles] + [anchors["back-cover"]]
    return {article.slug: range(starts[n], starts[n + 1]) for n, article in enumerate(issue.articles)}


def runt_articles(issue: m.Issue, document: Document, anchors: dict[str, int]) -> frozenset[str]:
    """Articles of more than one page whose last page is filled less than RUNT_FILL."""
    runts = set()
    for slug, pages in article_pages(issue, anchors).items():
        if len(pages) > 1 and _article_fill(document, pages[-1], slug) < RUNT_FILL:
            runts.add(slug)
    return frozenset(runts)


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


def lay_out_html(html: str) -> Document:
    """Lay out a print document strictly (jailed fetcher, no warnings, no attachments)."""
    refuse_attachments(html)
    return render_strictly(html, "print layout")


def pdf_bytes(layout: PrintLayout) -> bytes:
    """The press-ready PDF of a layout: PDF/UA-1, tagged, fonts embedded, deterministic bytes."""
    with strict_weasyprint("PDF"):
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
