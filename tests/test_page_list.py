"""End to end: the EPUB's print page list matches the folios of the PDF built in the same run."""

from __future__ import annotations

import re
import unicodedata
import zipfile
from pathlib import Path

import pypdfium2
import pytest
from lxml import etree

from publisher.build import Builder

ROOT = Path(__file__).resolve().parent.parent
NS = {"x": "http://www.w3.org/1999/xhtml", "epub": "http://www.idpf.org/2007/ops"}


def letters(text: str) -> str:
    """Only letters and digits: line-end hyphens, line breaks and spacing of the PDF text do not count."""
    plain = unicodedata.normalize("NFKD", text.lower())  # PDF text may carry ë as e + a combining mark
    return re.sub(r"[^0-9a-z]", "", plain)


@pytest.fixture(scope="module")
def editions(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    written = {item.target: item.path for item in Builder(ROOT / "source", out).build(["epub", "pdf"])}
    return written["epub"], written["pdf"]


def page_list(epub: Path) -> list[tuple[str, str]]:
    with zipfile.ZipFile(epub) as archive:
        nav = etree.fromstring(archive.read("EPUB/nav.xhtml"))
    (pages,) = nav.iterfind(".//x:nav[@epub:type='page-list']", NS)
    return [(a.get("href"), a.text) for a in pages.iterfind(".//x:a", NS)]


def text_after_marker(epub: Path, href: str) -> str:
    """The words that follow a page-break marker in its document (what the printed page begins with)."""
    name, target = href.split("#")
    with zipfile.ZipFile(epub) as archive:
        document = etree.fromstring(archive.read(f"EPUB/{name}"))
    (marker,) = document.xpath(f"//*[@id='{target}']")
    # the first text block after the marker: a page begins with a whole paragraph, heading or list item
    blocks = marker.xpath("following::*[self::x:p or self::x:h1 or self::x:h2 or self::x:h3 or self::x:li]"
                          "[normalize-space()][1]", namespaces=NS)
    return letters(" ".join(blocks[0].itertext()))[:30]


def test_page_list_labels_are_the_printed_folios(editions) -> None:
    epub, pdf = editions
    document = pypdfium2.PdfDocument(pdf)
    labels = [label for _, label in page_list(epub)]
    # the cover (page 1) and the back cover (last page) carry no folio; every other page does, once
    printed = [str(number) for number in range(2, len(document))]
    assert labels[0] == "1" or labels[0] == "2"
    assert [label for label in labels if label in printed] == printed
    for label in printed:
        footer = document[int(label) - 1].get_textpage().get_text_range()
        # the folio line: "14 SER Magazine #3 2021" on a left page, "SER Magazine #3 2021 15" on a right one
        folio_line = rf"(?<!\d){label}\W*SER Magazine|SER Magazine #\d+ \d{{4}}\W*{label}(?!\d)"
        assert re.search(folio_line, footer), f"page {label} prints no folio {label}"


def test_each_marker_stands_where_its_printed_page_begins(editions) -> None:
    epub, pdf = editions
    document = pypdfium2.PdfDocument(pdf)
    handed_on = []
    for href, label in page_list(epub):
        if label == "1" or href.startswith(("cover.xhtml", "nav.xhtml", "colophon.xhtml")):
            continue  # covers and the contents page are their own documents in the EPUB
        start = text_after_marker(epub, href)
        index = int(label) - 1
        here = letters(document[index].get_textpage().get_text_range())
        if start not in here:
            # a page on which no block begins hands its folio to the next block: it begins on a later page
            later = [i for i in range(index + 1, len(document)) if start in letters(document[i].get_textpage().get_text_range())]
            assert later, f"page {label}: the text after its marker ({start!r}) is on no page from {label} on"
            handed_on.append(label)
    assert len(handed_on) <= 2, f"too many pages whose marker could not be placed where they begin: {handed_on}"
