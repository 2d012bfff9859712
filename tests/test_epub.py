"""Tests of the EPUB edition (publisher.epub, publisher.accessibility).

The real issue is built once per session as it is ("plain"), and once with a synthetic set of page marks
and a photo added to its first article ("paged": the seed has no photographs); EPUBCheck and DAISY Ace run
on both (a missing tool is a failure: checks.ToolMissing).  Everything else reads the built bytes: package
metadata, navigation, documents, words, styles, reproducibility.
"""

from __future__ import annotations

import dataclasses
import io
import re
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image as PILImage

from publisher import accessibility, checks, epub, render
from publisher import model as m
from publisher.errors import BuildError
from publisher.load import load_issue

ROOT = Path(__file__).resolve().parent.parent
NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "x": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
    "ncx": "http://www.daisy.org/z3986/2005/ncx/",
}
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OPF = "EPUB/content.opf"
BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "div", "section", "aside", "blockquote", "figure",
              "figcaption", "header", "ul", "ol", "nav", "br", "body", "title", "head"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def issue() -> m.Issue:
    return load_issue(ROOT / "source")


def synthetic_page_marks(issue: m.Issue) -> dict[str, tuple[str, ...]]:
    """Page marks of every kind the print layout may report: article starts, plain blocks, a paragraph a
    question renders itself, a paragraph inside a pull quote, a one-paragraph list item, reserved places."""
    marks: dict[str, tuple[str, ...]] = {"cover": ("1",), "contents": ("2",)}
    folio = 3
    for article in issue.articles:
        anchor = render.Anchors.of(article)
        blocks = list(m.walk(article.blocks))
        chosen = {blocks[len(blocks) // 2]}
        for block in blocks:
            if isinstance(block, (m.Question, m.PullQuote)) and block.blocks:
                chosen.add(block.blocks[0])
            elif isinstance(block, m.ListBlock) and len(block.items[0]) == 1:
                chosen.add(block.items[0][0])
        ids = [article.slug] + [anchor(block) for block in blocks if block in chosen]  # reading order
        for key in ids:
            marks[key] = (str(folio),)
            folio += 1
    marks["back-cover"] = (str(folio),)
    return marks


def tiny_png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (4, 3), (0, 91, 127)).save(out, format="PNG")
    return out.getvalue()


def with_image(issue: m.Issue) -> m.Issue:
    """The issue with a photo added to its first article (the seed has none)."""
    data = tiny_png()
    photo = m.Image("images/Foto van Hamer (1).png", "Mariëtte Hamer aan tafel", "image/png", 4, 3, 1, data)
    first = dataclasses.replace(issue.articles[0], blocks=(*issue.articles[0].blocks, photo))
    return dataclasses.replace(issue, articles=(first, *issue.articles[1:]))


@pytest.fixture(scope="session")
def marks(issue) -> dict[str, tuple[str, ...]]:
    return synthetic_page_marks(issue)


@pytest.fixture(scope="session")
def plain(issue, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("epub") / "plain.epub"
    path.write_bytes(epub.build_epub(issue))
    return path


@pytest.fixture(scope="session")
def paged(issue, marks, tmp_path_factory) -> Path:
    """The issue with page marks, and with a photo in its first article (the seed has none)."""
    path = tmp_path_factory.mktemp("epub") / "paged.epub"
    path.write_bytes(epub.build_epub(with_image(issue), page_marks=marks, page_source="SER Magazine #3 2021 (print)"))
    return path


def read(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def xml(path: Path, name: str) -> etree._Element:
    return etree.fromstring(read(path, name))


def meta(opf: etree._Element, prop: str) -> list[str]:
    return [e.text or "" for e in opf.iterfind(f".//opf:meta[@property='{prop}']", NS)]


def spine_hrefs(path: Path) -> list[str]:
    opf = xml(path, OPF)
    items = {i.get("id"): i.get("href") for i in opf.iterfind(".//opf:item", NS)}
    return [items[ref.get("idref")] for ref in opf.iterfind(".//opf:itemref", NS)]


def text_words(element: etree._Element) -> list[str]:
    """The words of an XHTML tree, block elements separated, inline elements joined as rendered."""
    parts: list[str] = []

    def visit(node: etree._Element) -> None:
        local = etree.QName(node).localname if isinstance(node.tag, str) else ""
        block = local in BLOCK_TAGS
        if block:
            parts.append(" ")
        if node.text and isinstance(node.tag, str):
            parts.append(node.text)
        for child in node:
            visit(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append(" ")

    visit(element)
    return "".join(parts).split()


def is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(word in it for word in needle)


# --------------------------------------------------------------------------- validity, accessibility


def test_epubcheck_reports_nothing(plain, paged):
    with ThreadPoolExecutor(2) as pool:  # two JVMs at once: the slowest part of this file
        assert list(pool.map(checks.epubcheck, (plain, paged))) == [[], []]


def test_ace_reports_no_violations(plain, paged):
    assert checks.ace(plain) == []
    assert checks.ace(paged) == []


def test_zip_container_is_canonical(plain):
    with zipfile.ZipFile(plain) as archive:
        infos = archive.infolist()
        assert infos[0].filename == "mimetype"
        assert infos[0].compress_type == zipfile.ZIP_STORED
        assert infos[0].extra == b""
        assert archive.read("mimetype") == b"application/epub+zip"
        assert [i.filename for i in infos[1:3]] == ["META-INF/container.xml", OPF]
        assert {i.date_time for i in infos} == {(2021, 9, 1, 0, 0, 0)}  # the issue date: no clock
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        assert archive.testzip() is None
        assert b'"specified-fonts">true<' in archive.read("META-INF/com.apple.ibooks.display-options.xml")


# --------------------------------------------------------------------------- reproducibility


def test_builds_are_byte_identical(issue, plain, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert epub.build_epub(issue) == plain.read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = epub.build_epub(issue)
    assert epub.build_epub(issue) == first
    assert first != plain.read_bytes()
    modified = meta(etree.fromstring(zipfile.ZipFile(io.BytesIO(first)).read(OPF)), "dcterms:modified")
    assert modified == ["2023-11-14T22:13:20Z"]
    assert zipfile.ZipFile(io.BytesIO(first)).infolist()[0].date_time == (2023, 11, 14, 22, 13, 20)


def test_explicit_epoch_wins_over_the_environment(issue, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert epub.modification_time(issue, 1630454400).isoformat() == "2021-09-01T00:00:00+00:00"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(BuildError):
        epub.modification_time(issue)


# --------------------------------------------------------------------------- package metadata


def test_package_metadata(issue, plain):
    opf = xml(plain, OPF)
    assert opf.get(XML_LANG) == "nl" and opf.get("dir") == "ltr"
    identifier = opf.find(".//dc:identifier", NS)
    assert identifier.get("id") == opf.get("unique-identifier")
    assert identifier.text == f"urn:uuid:{uuid.uuid5(epub.IDENTIFIER_NAMESPACE, issue.slug)}"
    assert len(opf.findall(".//dc:identifier", NS)) == 1
    assert [e.text for e in opf.iterfind(".//dc:title", NS)] == ["SER Magazine #3 – September 2021"]
    assert [e.text for e in opf.iterfind(".//dc:language", NS)] == ["nl"]
    assert [e.text for e in opf.iterfind(".//dc:publisher", NS)] == ["Sociaal-Economische Raad"]
    assert [e.text for e in opf.iterfind(".//dc:date", NS)] == ["2021-09-01"]
    assert meta(opf, "dcterms:modified") == ["2021-09-01T00:00:00Z"]
    collection = opf.find(".//opf:meta[@property='belongs-to-collection']", NS)
    assert collection.text == "SER Magazine"
    refinements = {e.get("property"): e.text for e in opf.iterfind(f".//opf:meta[@refines='#{collection.get('id')}']", NS)}
    assert refinements == {"collection-type": "series", "group-position": "3"}


def test_identifier_is_stable_and_differs_per_issue(issue):
    other = dataclasses.replace(issue, slug="sermagazine-2021-04")
    assert epub.identifier(issue) == epub.identifier(issue)
    assert epub.identifier(issue) != epub.identifier(other)


def test_spine_and_manifest(issue, plain):
    hrefs = spine_hrefs(plain)
    articles = [epub.article_href(issue, a) for a in issue.articles]
    assert hrefs == ["cover.xhtml", "nav.xhtml", *articles, "colophon.xhtml"]
    opf = xml(plain, OPF)
    assert all(ref.get("linear") in (None, "yes") for ref in opf.iterfind(".//opf:itemref", NS))
    items = {i.get("href"): i for i in opf.iterfind(".//opf:item", NS)}
    assert items["nav.xhtml"].get("properties") == "nav"
    assert items["cover.png"].get("properties") == "cover-image"
    assert opf.find(".//opf:spine", NS).get("toc") == items["toc.ncx"].get("id")
    with zipfile.ZipFile(plain) as archive:
        names = set(archive.namelist())
    assert {f"EPUB/{href}" for href in items} <= names
    assert not any("scripted" in (i.get("properties") or "") for i in items.values())


def test_ncx_matches_the_package(issue, plain):
    ncx = xml(plain, "EPUB/toc.ncx")
    assert ncx.get(XML_LANG) == "nl"
    uid = ncx.find(".//ncx:meta[@name='dtb:uid']", NS).get("content")
    assert uid == epub.identifier(issue)
    sources = [c.get("src") for c in ncx.iterfind(".//ncx:content", NS)]
    assert sources == [h for h in spine_hrefs(plain) if h != "nav.xhtml"]


# --------------------------------------------------------------------------- accessibility metadata


def test_accessibility_metadata_of_the_real_issue(plain, paged):
    opf = xml(plain, OPF)
    assert meta(opf, "schema:accessMode") == ["textual", "visual"]  # the cover image
    assert meta(opf, "schema:accessModeSufficient") == ["textual,visual", "textual"]
    features = meta(opf, "schema:accessibilityFeature")
    for feature in ("structuralNavigation", "tableOfContents", "readingOrder", "alternativeText", "displayTransformability"):
        assert feature in features
    assert not {"pageNavigation", "printPageNumbers", "pageBreakMarkers"} & set(features)
    assert meta(opf, "pageBreakSource") == []
    assert meta(opf, "schema:accessibilityHazard") == ["noFlashingHazard", "noMotionSimulationHazard", "noSoundHazard"]
    assert meta(opf, "dcterms:conformsTo") == ["EPUB Accessibility 1.1 - WCAG 2.1 Level AA"]
    assert meta(opf, "a11y:certifiedBy") == ["Sociaal-Economische Raad"]
    (summary,) = meta(opf, "schema:accessibilitySummary")
    assert "WCAG 2.1 niveau AA" in summary and "paginanummers" not in summary

    paged_opf = xml(paged, OPF)
    assert {"pageNavigation", "printPageNumbers"} <= set(meta(paged_opf, "schema:accessibilityFeature"))
    assert meta(paged_opf, "pageBreakSource") == ["SER Magazine #3 2021 (print)"]
    assert "paginanummers" in meta(paged_opf, "schema:accessibilitySummary")[0]
    assert "afbeelding in de artikelen" in meta(paged_opf, "schema:accessibilitySummary")[0]


def _doc(body: str) -> bytes:
    return (
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="nl">'
        f"<head><title>t</title></head><body>{body}</body></html>"
    ).encode()


TOC = '<nav epub:type="toc"><h1>Inhoud</h1><ol><li><a href="a.xhtml">A</a></li></ol></nav>'


def test_derivation_follows_the_documents():
    text_only = accessibility.inspect([_doc(TOC + "<h1>Titel</h1><p>Tekst</p>")])
    assert accessibility.access_modes(text_only) == ["textual"]
    assert accessibility.access_modes_sufficient(text_only) == ["textual"]
    assert "alternativeText" not in accessibility.features(text_only)
    assert {"structuralNavigation", "tableOfContents"} <= set(accessibility.features(text_only))

    with_alt = accessibility.inspect([_doc(TOC + '<h1>T</h1><img src="a.png" alt="Een robot" />')])
    assert accessibility.access_modes(with_alt) == ["textual", "visual"]
    assert "alternativeText" in accessibility.features(with_alt)
    assert accessibility.conforms(with_alt)

    without_alt = accessibility.inspect([_doc(TOC + '<h1>T</h1><img src="a.png" />')])
    assert accessibility.access_modes_sufficient(without_alt) == ["textual,visual"]
    assert "alternativeText" not in accessibility.features(without_alt)
    assert not accessibility.conforms(without_alt)
    assert ("dcterms:conformsTo", accessibility.CONFORMANCE) not in accessibility.metadata(without_alt, certifier="X")

    skipping = accessibility.inspect([_doc(TOC + "<h1>T</h1><h3>Te diep</h3>")])
    assert skipping.skipped_heading_levels == 1 and not accessibility.conforms(skipping)
    assert "logische" not in accessibility.summary(skipping)
    assert "logische" in accessibility.summary(text_only)

    decorative = accessibility.inspect([_doc(TOC + '<h1>T</h1><img src="a.png" alt="" />')])
    assert accessibility.access_modes(decorative) == ["textual"]

    breaks_only = accessibility.inspect([_doc(TOC + '<h1>T</h1><span epub:type="pagebreak" id="p1" aria-label="1"></span>')])
    assert "pageNavigation" not in accessibility.features(breaks_only)  # no page list: nothing to navigate
    pages = '<nav epub:type="page-list"><ol><li><a href="#p1">1</a></li></ol></nav>'
    with_list = accessibility.inspect([_doc(TOC + pages + '<h1>T</h1><span epub:type="pagebreak" id="p1" aria-label="1"></span>')])
    assert {"pageNavigation", "printPageNumbers"} <= set(accessibility.features(with_list))
    assert ("pageBreakSource", "P") in accessibility.metadata(with_list, certifier="X", page_source="P")
    assert not any(p == "pageBreakSource" for p, _ in accessibility.metadata(text_only, certifier="X", page_source="P"))

    video = accessibility.inspect([_doc(TOC + '<h1>T</h1><video src="v.mp4"></video>')])
    assert "noFlashingHazard" not in accessibility.hazards(video)


def test_an_image_in_an_article_earns_alternative_text(issue):
    pictured = with_image(issue)
    article_with = epub.article_document(pictured, pictured.articles[0], {}, epub.article_images(pictured))
    article_without = epub.article_document(issue, issue.articles[0], {}, {})
    assert "alternativeText" in accessibility.features(accessibility.inspect([article_with.content]))
    assert "alternativeText" not in accessibility.features(accessibility.inspect([article_without.content]))


def test_article_images_are_packaged_under_safe_names(issue, paged):
    doc = xml(paged, "EPUB/" + epub.article_href(issue, issue.articles[0]))
    (img,) = doc.iterfind(".//x:figure/x:img", NS)
    assert img.get("alt") == "Mariëtte Hamer aan tafel"
    assert re.fullmatch(r"images/[A-Za-z0-9._-]+\.png", img.get("src"))  # the source name had spaces
    assert read(paged, "EPUB/" + img.get("src")) == tiny_png()
    items = {i.get("href"): i.get("media-type") for i in xml(paged, OPF).iterfind(".//opf:item", NS)}
    assert items[img.get("src")] == "image/png"


# --------------------------------------------------------------------------- navigation


def test_toc_lists_the_articles_in_reading_order(issue, plain):
    nav = xml(plain, "EPUB/nav.xhtml")
    (toc,) = nav.iterfind(".//x:nav[@epub:type='toc']", NS)
    assert toc.get("role") == "doc-toc"
    entries = toc.findall("./x:ol/x:li/x:a", NS)
    assert entries[0].get("href") == "cover.xhtml" and entries[-1].get("href") == "colophon.xhtml"
    articles = entries[1:-1]
    assert [a.get("href") for a in articles] == [epub.article_href(issue, a) for a in issue.articles]
    for anchor, article in zip(articles, issue.articles):
        assert "".join(anchor.find("x:span[@class='toc-rubric']", NS).itertext()) == article.kicker
        assert "".join(anchor.itertext()) == f"{article.kicker}: {article.title}"  # what reading systems list
        assert anchor.findtext("x:span[@class='toc-title']", namespaces=NS) == article.title
    assert nav.findtext(".//x:h1", namespaces=NS) == "Inhoud"


def test_landmarks(issue, plain):
    nav = xml(plain, "EPUB/nav.xhtml")
    (landmarks,) = nav.iterfind(".//x:nav[@epub:type='landmarks']", NS)
    found = {a.get(EPUB_TYPE): a.get("href") for a in landmarks.iterfind(".//x:a", NS)}
    assert found == {"cover": "cover.xhtml", "toc": "nav.xhtml#toc", "bodymatter": epub.article_href(issue, issue.articles[0])}
    assert nav.find(".//x:*[@id='toc']", NS) is not None


def test_no_page_list_without_page_marks(plain):
    assert xml(plain, "EPUB/nav.xhtml").find(".//x:nav[@epub:type='page-list']", NS) is None
    for href in spine_hrefs(plain):
        assert b"pagebreak" not in read(plain, f"EPUB/{href}")


def test_page_list_follows_the_page_marks(issue, marks, paged):
    nav = xml(paged, "EPUB/nav.xhtml")
    (page_list,) = nav.iterfind(".//x:nav[@epub:type='page-list']", NS)
    entries = [(a.get("href"), a.text) for a in page_list.iterfind(".//x:a", NS)]
    folios = [folio for folios in marks.values() for folio in folios]
    assert sorted(label for _, label in entries) == sorted(folios)
    assert [int(label) for _, label in entries] == sorted(int(f) for f in folios)  # reading order
    for href, label in entries:
        name, target = href.split("#")
        marker = xml(paged, f"EPUB/{name}").find(f".//x:span[@id='{target}']", NS)
        assert marker is not None and marker.get(EPUB_TYPE) == "pagebreak"
        assert marker.get("role") == "doc-pagebreak" and marker.get("aria-label") == label
    assert dict(entries)  # no folio twice
    assert entries[0][0] == "cover.xhtml#page-1" and entries[1][0] == "nav.xhtml#page-2"
    assert entries[-1][0].startswith("colophon.xhtml#")


def test_article_start_marks_open_the_article_and_pull_quote_marks_stay_readable(issue, marks, paged):
    for article in issue.articles:
        doc = xml(paged, "EPUB/" + epub.article_href(issue, article))
        section = doc.find(".//x:section[@epub:type='chapter']", NS)
        assert section[0].get("id") == f"page-{marks[article.slug][0]}"  # before the article head
        for hidden in doc.iterfind(".//x:*[@aria-hidden='true']", NS):
            assert hidden.find(".//x:span[@role='doc-pagebreak']", NS) is None


def test_marks_inside_a_pull_quote_move_onto_it_in_reading_order(issue):
    article = next(a for a in issue.articles if any(isinstance(b, m.PullQuote) for b in a.blocks))
    anchor = render.Anchors.of(article)
    quote = next(b for b in article.blocks if isinstance(b, m.PullQuote))
    inner = anchor(quote.blocks[0])
    placed = epub.place_page_marks(issue, {inner: ("8",), anchor(quote): ("7",)})
    assert placed == {anchor(quote): ("7", "8")}


def test_page_marks_must_name_known_places(issue):
    with pytest.raises(BuildError, match="unknown"):
        epub.place_page_marks(issue, {"no-such-block-99": ("4",)})
    with pytest.raises(BuildError, match="two places"):
        epub.place_page_marks(issue, {"hamer": ("4",), "looprobot": ("4",)})


# --------------------------------------------------------------------------- documents


def test_every_document_has_language_title_and_the_styles(plain):
    for href in spine_hrefs(plain):
        doc = xml(plain, f"EPUB/{href}")
        assert doc.get("lang") == "nl" and doc.get(XML_LANG) == "nl", href
        assert (doc.findtext(".//x:head/x:title", namespaces=NS) or "").strip(), href
        sheets = [link.get("href") for link in doc.iterfind(".//x:link[@rel='stylesheet']", NS)]
        assert sheets == ["styles/fonts.css", "styles/base.css", "styles/epub.css"], href


def test_article_documents_carry_every_word_in_order(issue, plain):
    for article in issue.articles:
        doc = xml(plain, "EPUB/" + epub.article_href(issue, article))
        body = doc.find(".//x:body", NS)
        expected = list(render.article_words(article))
        assert is_subsequence(expected, text_words(body)), article.slug


def test_article_structure_and_headings(issue, plain):
    for article in issue.articles:
        doc = xml(plain, "EPUB/" + epub.article_href(issue, article))
        assert doc.findtext(".//x:head/x:title", namespaces=NS) == article.title
        section = doc.find(".//x:body/x:section", NS)
        assert section.get(EPUB_TYPE) == "chapter" and section.get("role") == "doc-chapter"
        levels = [int(etree.QName(h).localname[1]) for h in doc.iter() if isinstance(h.tag, str)
                  and re.fullmatch(r"h[1-6]", etree.QName(h).localname)]
        assert levels[0] == 1 and levels.count(1) == 1, article.slug
        assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), article.slug
        for quote in doc.iterfind(".//x:aside[@role='doc-pullquote']", NS):
            assert quote.get("aria-hidden") == "true"
        for box in doc.iterfind(".//x:aside[@class]", NS):
            if "box" in box.get("class").split():
                assert all(doc.find(f".//x:*[@id='{ref}']", NS) is not None for ref in box.get("aria-labelledby").split())


def test_references_and_end_notes_are_live_links(issue, plain):
    for article in issue.articles:
        doc = xml(plain, "EPUB/" + epub.article_href(issue, article))
        links = {a.get("href") for a in doc.iterfind(".//x:a", NS)}
        for block in m.walk(article.blocks):
            if isinstance(block, m.Reference) or (isinstance(block, m.EndNote) and block.url):
                assert block.url in links, (article.slug, block.url)


def test_cover_document(issue, plain):
    doc = xml(plain, "EPUB/cover.xhtml")
    (img,) = doc.iterfind(".//x:img", NS)
    assert img.get("role") == "doc-cover" and img.get("src") == "cover.png"
    assert img.get("alt") == accessibility.cover_alt(issue)
    assert issue.cover.story.question in img.get("alt")
    png = read(plain, "EPUB/cover.png")
    width, height = PILImage.open(io.BytesIO(png)).size
    assert width >= 1400 and (img.get("width"), img.get("height")) == (str(width), str(height))
    words = text_words(doc.find(".//x:body", NS))
    for quote in issue.cover.story.quotes:
        assert is_subsequence(quote.text.split(), words)
    links = [a.get("href") for a in doc.iterfind(".//x:li[@class='cover-line']/x:a", NS)]
    assert links == [epub.article_href(issue, issue.article(line.article)) for line in issue.cover.lines]


def test_colophon_names_publisher_issue_teasers_and_corrections(issue, plain):
    doc = xml(plain, "EPUB/colophon.xhtml")
    words = " ".join(text_words(doc.find(".//x:body", NS)))
    for text in (issue.publisher, issue.issue_line, *(t.title for t in issue.back_teasers)):
        assert text in words
    corrections = doc.find(".//x:section[@epub:type='errata']", NS)
    assert corrections.get("role") == "doc-errata"
    items = corrections.findall(".//x:li", NS)
    assert len(items) == len(issue.corrections)
    for item, correction in zip(items, issue.corrections):
        assert item.findtext(".//x:del", namespaces=NS) == correction.printed
        assert item.findtext(".//x:ins", namespaces=NS) == correction.corrected


# --------------------------------------------------------------------------- styles and fonts


def test_fonts_and_licences_are_embedded(plain):
    opf = xml(plain, OPF)
    items = {i.get("href"): i.get("media-type") for i in opf.iterfind(".//opf:item", NS)}
    fonts_css = read(plain, "EPUB/styles/fonts.css").decode()
    urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", fonts_css)
    assert urls and all(items[f"styles/{url}"] == "font/woff2" for url in urls)
    licences = [href for href in items if href.startswith("styles/fonts/OFL-")]
    assert len(licences) == 2 and all(items[href] == "text/plain" for href in licences)
    assert b"@import" not in read(plain, "EPUB/styles/base.css")  # fonts.css is linked instead
    assert read(plain, "EPUB/styles/epub.css") == (ROOT / "styles" / "epub.css").read_bytes()


def test_epub_stylesheet_stays_reflowable():
    css = re.sub(r"/\*.*?\*/", "", (ROOT / "styles" / "epub.css").read_text(), flags=re.S)
    for prop, value in re.findall(r"([\w-]+)\s*:\s*([^;{}]+)", css):
        if not prop.startswith("border"):  # hairline rules may be pixels; nothing else may be absolute
            assert not re.search(r"\d(px|pt|cm|mm|in)\b", value), (prop, value)
    assert not re.search(r"position\s*:\s*(absolute|fixed)", css)
    assert not re.search(r"\b(columns|column-count|column-width|float)\s*:", css)
    assert not re.search(r"(^|[;{\s])height\s*:\s*[\d.]+(?!em)", css)
    # every tinted box keeps a rule for night modes that drop backgrounds
    assert re.search(r"\.box\s*{[^}]*background-color[^}]*border", css, re.S)
