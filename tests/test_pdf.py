"""Tests of the print edition: the real issue's PDF, the strict WeasyPrint run, the fetcher jail, QR codes
and the cover image.

The real issue is laid out ONCE per session (``layout`` fixture); only the reproducibility test lays it
out a second time.
"""

from __future__ import annotations

import io
import os
import re
import struct
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest
import segno
from PIL import Image

from publisher import cover, pdf, qr
from publisher.errors import BuildError
from publisher.fetch import STYLES_DIR, RefusedURL, jailed_fetcher, render_strictly, strict_weasyprint
from publisher.load import load_issue
from publisher.render import Anchors

ROOT = Path(__file__).resolve().parent.parent
MM = 72 / 25.4  # PDF points per millimetre
A4_PT = (210 * MM, 297 * MM)
BLEED_PT = 3 * MM


@pytest.fixture(scope="session")
def issue():
    return load_issue(ROOT / "source")


@pytest.fixture(scope="session")
def layout(issue):
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)  # the PDF dates then come from the issue date
    try:
        return pdf.lay_out(issue)
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved


@pytest.fixture(scope="session")
def pdf_data(layout) -> bytes:
    return pdf.pdf_bytes(layout)


@pytest.fixture(scope="session")
def page_texts(pdf_data) -> list[str]:
    document = pdfium.PdfDocument(pdf_data)
    try:
        return [document[index].get_textpage().get_text_range() for index in range(len(document))]
    finally:
        document.close()


def words(text: str) -> str:
    """Text as extracted, with pdfium's hyphenation marks and line breaks undone."""
    return " ".join(text.replace("\ufffe", "").split())


def small_document(body: str, head: str = "") -> str:
    return (
        '<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8" /><title>Proef</title>'
        f'<link rel="stylesheet" href="styles/base.css" />{head}</head><body>{body}</body></html>'
    )


# --------------------------------------------------------------------------- the real issue


def test_real_issue_has_cover_contents_articles_and_back_cover(issue, layout) -> None:
    pages = len(layout.document.pages)
    assert layout.anchors["cover"] == 0 and layout.anchors["inhoud"] == 1
    assert layout.anchors["back-cover"] == pages - 1
    starts = [layout.anchors[article.slug] for article in issue.articles]
    assert starts == sorted(starts) and len(set(starts)) == len(starts), "each article starts on its own page"
    assert layout.labels == tuple(str(n) for n in range(1, pages + 1))
    assert layout.unnumbered == {0, pages - 1}
    assert pages % 2 == 0, "a printed magazine has an even number of pages"


def test_every_article_title_is_in_the_text_on_its_first_page(issue, layout, page_texts) -> None:
    for article in issue.articles:
        first = layout.anchors[article.slug]
        assert article.title in words(page_texts[first]), article.slug


def test_outline_has_exactly_one_bookmark_per_article_with_rubric_and_title(issue, pdf_data) -> None:
    with pikepdf.open(io.BytesIO(pdf_data)) as document:
        with document.open_outline() as outline:
            items = list(outline.root)
            titles = [item.title for item in items]
            pages = [pikepdf.Page(item.destination[0]).index for item in items]
            assert all(not item.children for item in items)
    assert len(titles) == len(issue.articles)
    for title, article in zip(titles, issue.articles):
        assert article.title in title and article.rubric in title, title
    assert pages == sorted(pages)


def test_contents_page_numbers_are_the_pages_where_articles_start(issue, layout, page_texts) -> None:
    contents = words(page_texts[layout.anchors["inhoud"]])
    for article in issue.articles:
        match = re.search(re.escape(article.title) + r" (\d+)\b", contents)
        assert match, f"{article.slug} is not in the contents"
        printed = int(match.group(1))
        assert printed == layout.anchors[article.slug] + 1, article.slug
        assert layout.labels[printed - 1] == str(printed)


def test_dutch_hyphenation_is_applied(issue, page_texts) -> None:
    source_words = {word.strip("“”‘’.,:;!?()").lower() for article in issue.articles
                    for word in " ".join(_article_text(article)).split()}
    breaks = [a + b for text in page_texts for a, b in re.findall(r"(\w+)\ufffe(\w+)", text)]
    real = [word for word in breaks if word.lower() in source_words]
    assert len(real) >= 20, breaks[:20]


def _article_text(article):
    from publisher.render import article_words
    return list(article_words(article))


def test_fonts_are_the_vendored_ones_all_embedded(pdf_data) -> None:
    names = set()
    with pikepdf.open(io.BytesIO(pdf_data)) as document:
        for page in document.pages:
            for font in page.Resources.Font.values():
                names.add(str(font.BaseFont))
                descendant = font.DescendantFonts[0] if "/DescendantFonts" in font else font
                descriptor = descendant.FontDescriptor
                assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")), font.BaseFont
    assert names and all(("Source-Serif-4" in n) or ("Source-Sans-3" in n) for n in names), names


def test_every_page_has_a4_trimbox_and_3mm_bleed(pdf_data) -> None:
    with pikepdf.open(io.BytesIO(pdf_data)) as document:
        for page in document.pages:
            trim = [float(v) for v in page.obj.TrimBox]
            bleed = [float(v) for v in page.obj.BleedBox]
            assert trim[2] - trim[0] == pytest.approx(A4_PT[0], abs=0.1)
            assert trim[3] - trim[1] == pytest.approx(A4_PT[1], abs=0.1)
            assert [b - t for b, t in zip(bleed, trim)] == pytest.approx(
                [-BLEED_PT, -BLEED_PT, BLEED_PT, BLEED_PT], abs=0.1)


def test_pdf_is_tagged_with_language_metadata_and_qr_alt_text(issue, pdf_data) -> None:
    with pikepdf.open(io.BytesIO(pdf_data)) as document:
        assert "/StructTreeRoot" in document.Root
        assert bool(document.Root.MarkInfo.Marked)
        assert str(document.Root.Lang) == "nl"
        assert str(document.docinfo.Title) == f"{issue.title} {issue.issue_line}"
        assert str(document.docinfo.Author) == issue.publisher
        assert "/EmbeddedFiles" not in document.Root.get("/Names", {})
        alts = [str(obj.Alt) for obj in document.objects
                if isinstance(obj, pikepdf.Dictionary) and obj.get("/S") == "/Figure" and "/Alt" in obj]
    assert "QR-code: https://www.ser.nl" in alts


def test_qr_codes_are_printed_at_least_18mm_wide(layout) -> None:
    widths = []
    for page in layout.document.pages:
        for box in _boxes(page._page_box):
            if box.element_tag == "{http://www.w3.org/2000/svg}svg":
                widths.append(box.width * 25.4 / 96)  # CSS px -> mm
    assert len(widths) >= 3  # two references and the back cover
    assert min(widths) >= 18


def _boxes(box):
    yield box
    for child in getattr(box, "children", ()):
        yield from _boxes(child)


def test_real_issue_passes_the_pdf_checks(pdf_data, tmp_path) -> None:
    from publisher import checks
    path = tmp_path / "issue.pdf"
    path.write_bytes(pdf_data)
    assert checks.pdf_findings(path) == []


def test_two_layouts_give_identical_bytes(issue, pdf_data) -> None:
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        assert pdf.pdf_bytes(pdf.lay_out(issue)) == pdf_data
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def test_dates_come_from_the_epoch_then_source_date_epoch_then_the_issue_date(issue, layout, monkeypatch) -> None:
    assert '<meta name="dcterms.created" content="2021-09-01T00:00:00Z" />' in layout.html
    assert pdf._w3c_date(issue, 86400) == "1970-01-02T00:00:00Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert pdf._w3c_date(issue, None) == "2023-11-14T22:13:20Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(BuildError, match="SOURCE_DATE_EPOCH"):
        pdf._w3c_date(issue, None)


def test_crop_marks_are_an_option_off_by_default(issue, layout) -> None:
    assert "marks: crop" not in layout.html
    html = pdf._document_html(issue, created="2021-09-01T00:00:00Z", crop_marks=True, tight=frozenset())
    assert "@page { marks: crop; }" in html


# --------------------------------------------------------------------------- page starts for the EPUB


def test_page_starts_give_every_printed_folio_once_in_order(layout) -> None:
    starts = layout.page_starts()
    in_order = ("contents", *layout.block_ids)  # the contents page, then every block in document order
    folios = [folio for block_id in in_order if block_id in starts for folio in starts[block_id]]
    printed = [label for index, label in enumerate(layout.labels) if index not in layout.unnumbered]
    assert folios == printed
    assert starts["contents"] == ("2",)
    for block_id, labels in starts.items():
        anchor = pdf.CONTENTS_ID if block_id == "contents" else block_id
        assert layout.anchors[anchor] == int(labels[-1]) - 1, block_id


def test_a_page_without_a_block_start_hands_its_folio_to_the_next_block() -> None:
    layout = pdf.PrintLayout(
        html="", document=None, labels=("1", "2", "3", "4", "5", "6"), unnumbered=frozenset({0, 5}),
        anchors={"a": 2, "a-1": 2, "a-2": 4, "b": 4}, block_ids=("a", "a-1", "a-2", "b"),
    )
    # page 2 (contents) and page 4 (a paragraph runs across it) hold no block start.
    assert layout.page_starts() == {"a": ("2", "3"), "a-2": ("4", "5")}


def test_block_ids_are_the_shared_anchors(issue, layout) -> None:
    article = issue.articles[0]
    anchor = Anchors.of(article)
    first_block = anchor(article.blocks[0])
    assert first_block in layout.block_ids and f'id="{first_block}"' in layout.html


# --------------------------------------------------------------------------- strictness


def test_a_weasyprint_warning_fails_the_build() -> None:
    render_strictly(small_document("<p>goed</p>"), "test")  # the same document without the error is fine
    with pytest.raises(BuildError, match="colr"):
        render_strictly(small_document("<p>fout</p>", "<style>p { colr: red; }</style>"), "test")


def test_strict_mode_also_covers_writing_the_pdf() -> None:
    import logging
    with pytest.raises(BuildError, match="kapot"):
        with strict_weasyprint("test"):
            logging.getLogger("weasyprint").warning("kapot")


def test_attachment_links_are_refused(layout) -> None:
    assert 'rel="attachment"' not in layout.html
    for markup in ('<a rel="attachment" href="styles/print.css">bijlage</a>',
                   '<link rel="Attachment stylesheet" href="styles/print.css" />'):
        with pytest.raises(BuildError, match="attachment"):
            pdf.lay_out_html(small_document(markup))


# --------------------------------------------------------------------------- the fetcher jail


@pytest.mark.parametrize("head", [
    '<style>@import url("file:///etc/passwd");</style>',
    '<link rel="stylesheet" href="file:///etc/passwd" />',
    '<link rel="stylesheet" href="http://example.com/style.css" />',
    '<link rel="stylesheet" href="https://example.com/style.css" />',
    '<link rel="stylesheet" href="ftp://example.com/style.css" />',
    '<link rel="stylesheet" href="styles/../pyproject.toml" />',
    '<link rel="stylesheet" href="styles/%2e%2e/pyproject.toml" />',
    '<link rel="stylesheet" href="data:text/css,p%7Bcolor:red%7D" />',
], ids=["import-etc-passwd", "link-etc-passwd", "http", "https", "ftp", "dotdot", "encoded-dotdot", "data-css"])
def test_jail_refusals_fail_the_build(head: str) -> None:
    with pytest.raises(BuildError, match="refused"):
        render_strictly(small_document("<p>x</p>", head), "test")


def test_jail_refuses_an_http_image() -> None:
    with pytest.raises(BuildError, match="refused"):
        render_strictly(small_document('<img src="http://example.com/a.png" alt="a" />'), "test")


def test_jail_refuses_symlinks_leading_out(tmp_path: Path) -> None:
    jail = tmp_path / "jail"
    jail.mkdir()
    (jail / "ok.css").write_text("p { color: red }")
    (tmp_path / "secret.css").write_text("p { color: blue }")
    (jail / "link.css").symlink_to(tmp_path / "secret.css")
    fetcher = jailed_fetcher([jail])
    assert fetcher((jail / "ok.css").as_uri()).read() == b"p { color: red }"
    with pytest.raises(RefusedURL):
        fetcher((jail / "link.css").as_uri())
    from weasyprint import HTML
    with pytest.raises(BuildError, match="refused"):
        with strict_weasyprint("test"):
            HTML(string='<link rel="stylesheet" href="link.css" />', base_url=jail.as_uri() + "/",
                 url_fetcher=fetcher).render()


def test_jail_serves_styles_fonts_and_our_image_data() -> None:
    fetcher = jailed_fetcher([STYLES_DIR])
    assert fetcher((STYLES_DIR / "print.css").as_uri()).read().startswith(b"/*")
    font = fetcher((STYLES_DIR / "fonts" / "source-serif-4-latin-400-normal.woff2").as_uri())
    assert font.read(4) == b"wOF2"
    assert fetcher("data:image/png;base64,iVBORw0KGgo=").read() == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(RefusedURL):
        fetcher("data:text/html,<script>alert(1)</script>")


# --------------------------------------------------------------------------- QR codes


def _matrix_from_svg(svg: str, quiet: int) -> list[list[bool]]:
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    cells = [[False] * (size - 2 * quiet) for _ in range(size - 2 * quiet)]
    d = re.search(r'<path fill="#000000" d="([^"]+)"></path>', svg).group(1)
    for x, y, n in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", d):
        for dx in range(int(n)):
            cells[int(y) - quiet][int(x) - quiet + dx] = True
    return cells


@pytest.mark.parametrize("url", ["https://www.ser.nl", "https://www.ser.nl/SERmagazine"])
def test_qr_svg_draws_segnos_matrix_for_the_url(url: str) -> None:
    svg = str(qr.qr_svg(url))
    expected = [[bool(m) for m in row] for row in segno.make(url, error="m", boost_error=False).matrix]
    assert _matrix_from_svg(svg, qr.QUIET_ZONE) == expected
    other = [[bool(m) for m in row] for row in segno.make(url + "/x", error="m", boost_error=False).matrix]
    assert _matrix_from_svg(svg, qr.QUIET_ZONE) != other


def test_qr_svg_is_inline_markup_with_a_label() -> None:
    svg = str(qr.qr_svg("https://www.ser.nl/a?b=1&c=2"))
    assert svg.startswith("<svg ") and svg.endswith("</svg>") and "<?xml" not in svg
    assert "/>" not in svg, "explicit end tags only"
    assert 'role="img"' in svg and 'aria-label="QR-code: https://www.ser.nl/a?b=1&amp;c=2"' in svg
    assert "<title>QR-code: https://www.ser.nl/a?b=1&amp;c=2</title>" in svg
    assert qr.qr_svg("https://www.ser.nl") == qr.qr_svg("https://www.ser.nl")


# --------------------------------------------------------------------------- the cover image


def _png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunks.append(kind)
        offset += 12 + length
    return chunks


def test_cover_png_is_deterministic_sized_and_without_metadata(issue) -> None:
    first = cover.cover_png(issue, width_px=800)
    assert cover.cover_png(issue, width_px=800) == first
    with Image.open(io.BytesIO(first)) as image:
        assert image.size == (800, round(800 * 297 / 210))
        assert image.getpixel((400, 20))[:3] == (0, 0x5B, 0x7F), "the masthead band is in the house colour"
    assert set(_png_chunks(first)) <= {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


def test_cover_text_comes_from_the_issue(issue, page_texts) -> None:
    text = words(page_texts[0])
    story = issue.cover.story
    for expected in (issue.title, issue.subtitle, issue.issue_line, story.question,
                     *(q.name for q in story.quotes), *(line.text for line in issue.cover.lines)):
        assert expected in text, expected
    assert issue.tagline.upper().replace(" ", "") in text.replace(" ", "")
