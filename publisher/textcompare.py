"""Compare the text of the two editions: the same words, in the same order, nothing dropped.

Contract: ``compare_editions(epub_path, pdf_path, issue) -> Comparison``.  It reads the finished files (not
the model's rendering), so it catches what a template, a stylesheet or a layout lost: a paragraph that
overflowed a page, a box that was never drawn, a word a font could not show.  ``issue`` is used only to
name articles after their source files and to know the few texts that each edition prints on its own.
Library code: it returns differences, never prints.

How each edition is read
------------------------
* EPUB: the spine documents in spine order, parsed with lxml; words are the text of the ``<body>``.  The
  numbers of numbered lists are added, because e-readers draw them just as print does.
* PDF: the characters pypdfium2 extracts, put in the order of the PDF's tag tree (its logical reading
  order, the one assistive technology reads): the content stream's order is the painting order, in which
  positioned elements such as numbered questions come after the rest of the page.  A line-end hyphen
  (pdfium reports it as a hyphen character) joins the two halves of the word.

What is compared, and how
-------------------------
Words are compared by their letters and digits only, case-folded (print sets rubrics in capitals and
letter-spaces them; punctuation and hyphens are typography).  A stretch where the words differ but their
letters, run together, are the same is a difference of spacing or hyphenation only — "funda-menteel" at a
line end, "MLT-advies" broken after its hyphen, "I N T E R V I E W" — and is not reported.

Edition-specific text is handled explicitly, never by fuzzy matching:

* Compared word for word: the cover (EPUB ``cover.xhtml`` with PDF cover page), every article (EPUB
  document with the PDF pages from its bookmark to the next), the back-cover teasers (in the EPUB
  colophon document) with the PDF back cover.
* Only in print, and accepted only where the model says they are: the running footer with folio (outside
  the PDF tag tree; any other untagged text is reported, since assistive technology skips it), the
  address printed under a QR code (``reference-url`` and the back-cover teaser URLs), the back cover's
  masthead line.  Text marked as an artifact (decoration, by definition not content) is skipped.  The
  print contents page (page numbers, masthead) is not compared; neither is the EPUB navigation document.
* Only in the EPUB, skipped by their ``epub:type``: page-break markers, the colophon, the corrections
  (errata), the page list and landmarks; and the EPUB's fixed labels (``epub.LABELS``) on cover and back
  matter.
"""

from __future__ import annotations

import bisect
import difflib
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Mapping, Sequence

from lxml import etree

from publisher import model as m
from publisher.render import Anchors

XHTML = "{http://www.w3.org/1999/xhtml}"
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"
OPF = "{http://www.idpf.org/2007/opf}"
CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"

# Elements whose text exists only in the EPUB (by their epub:type), and why.
EPUB_ONLY_TYPES = {
    "pagebreak": "page-break markers",
    "colophon": "the colophon",
    "errata": "the list of corrections",
    "page-list": "the page list",
    "landmarks": "the landmarks",
    "toc": "the table of contents",
}
BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "body", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "table", "td", "th", "tr", "ul", "br",
}
SKIPPED_TAGS = {"head", "script", "style", "img", "svg", "math"}
HYPHEN = "\x02"  # pdfium's code for a hyphen at the end of a line
ARTIFACT = -2  # the group of text marked as an artifact (decoration, not content)
UNMAPPED = "\x03"  # a glyph whose character code maps to no Unicode text (an empty ToUnicode entry)
CONTEXT_WORDS = 6
SHOWN_WORDS = 14
SHORT_EQUAL_RUN = 2  # differences this close together are judged as one


# --- words ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """One word of an edition: as extracted (for messages), its comparison key, and where it is."""

    text: str
    key: str
    where: str
    anchor: str = ""  # EPUB: id of the nearest element around it (a block id points at a source line)


def word_key(text: str) -> str:
    """Letters and digits only, case-folded and compatibility-normalised (ligatures become letters)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def words_of(text: str, where: str) -> list[Word]:
    """The words of ``text``; tokens without a letter or digit (bullets, dashes) are not words."""
    return _words([(text, "")], where)


def _words(pieces: Iterable[tuple[str, str]], where: str) -> list[Word]:
    """Words of text given in pieces, each word marked with the anchor of the piece it starts in."""
    parts, starts, anchors, length = [], [], [], 0
    for piece, anchor in pieces:
        parts.append(piece)
        starts.append(length)
        anchors.append(anchor)
        length += len(piece)
    text = "".join(parts)
    # a line-end hyphen joins the halves of its word: the space after it becomes NULs (same length, so the
    # offsets of the pieces still hold), which are dropped from the token
    text = re.sub(HYPHEN + r"\s+", lambda match: HYPHEN + "\0" * (len(match.group()) - 1), text)
    found = []
    for match in re.finditer(r"\S+", text):
        token = match.group().replace("\0", "")
        key = word_key(token)
        if key:
            anchor = anchors[bisect.bisect_right(starts, match.start()) - 1] if anchors else ""
            found.append(Word(token.replace(HYPHEN, "-").replace(UNMAPPED, "\ufffd"), key, where, anchor))
    return found


# --- the EPUB ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpubDocument:
    href: str
    kind: str  # "cover", "nav", "article" or "other"
    slug: str | None  # for articles: the id of the chapter section
    words: tuple[Word, ...]


def epub_documents(path: Path | str) -> list[EpubDocument]:
    """The spine documents of an EPUB, in reading order, with their words."""
    with zipfile.ZipFile(path) as archive:
        container = etree.fromstring(archive.read("META-INF/container.xml"))
        rootfile = container.find(f".//{CONTAINER}rootfile")
        if rootfile is None:
            raise ValueError("META-INF/container.xml names no package document")
        opf_path = PurePosixPath(rootfile.get("full-path", ""))
        package = etree.fromstring(archive.read(str(opf_path)))
        items = {item.get("id"): item for item in package.iter(f"{OPF}item")}
        documents = []
        for itemref in package.iter(f"{OPF}itemref"):
            item = items.get(itemref.get("idref"))
            if item is None or item.get("media-type") != "application/xhtml+xml":
                continue
            href = item.get("href", "")
            root = etree.fromstring(archive.read(str(opf_path.parent / href)))
            documents.append(_epub_document(href, "nav" in (item.get("properties") or "").split(), root))
    return documents


def _epub_document(href: str, is_nav: bool, root: etree._Element) -> EpubDocument:
    body = root.find(f"{XHTML}body")
    if body is None:
        return EpubDocument(href, "other", None, ())
    chapter = next((e for e in body.iter() if "chapter" in _types(e)), None)
    if is_nav:
        kind = "nav"
    elif chapter is not None:
        kind = "article"
    elif "cover" in _types(body):
        kind = "cover"
    else:
        kind = "other"
    words = _words(_element_text(body), f"EPUB {href}")
    return EpubDocument(href, kind, chapter.get("id") if chapter is not None else None, tuple(words))


def _types(element: etree._Element) -> set[str]:
    return set((element.get(EPUB_TYPE) or "").split())


def _element_text(element: etree._Element, number: int | None = None, outer: str = "") -> Iterator[tuple[str, str]]:
    """The displayed text of an element in pieces (text, id of the nearest element with an id), with
    spaces where blocks begin and end."""
    tag = etree.QName(element).localname if isinstance(element.tag, str) else ""
    if tag in SKIPPED_TAGS or element.get("hidden") is not None or _types(element) & EPUB_ONLY_TYPES.keys():
        if element.tail:
            yield element.tail, outer
        return
    anchor = element.get("id") or outer
    block = tag in BLOCK_TAGS
    if block:
        yield " ", anchor
    if number is not None:
        yield f"{number}. ", anchor
    if element.text:
        yield element.text, anchor
    counter = _list_start(element) if tag == "ol" else None
    for child in element:
        if counter is not None and isinstance(child.tag, str) and etree.QName(child).localname == "li":
            yield from _element_text(child, counter, anchor)
            counter += 1
        else:
            yield from _element_text(child, None, anchor)
    if block:
        yield " ", anchor
    if element.tail:
        yield element.tail, outer


def _list_start(element: etree._Element) -> int:
    try:
        return int(element.get("start", "1"))
    except ValueError:
        return 1


# --- the PDF ----------------------------------------------------------------------------------------


@dataclass
class PdfText:
    """The text of a PDF, page by page, in the order of its tag tree."""

    pages: list[str]  # tagged text of each page, in reading order
    untagged: list[list[str]]  # each page's runs of text outside the tag tree
    bookmarks: list[tuple[str, int]]  # top-level bookmarks: (title, page index)
    tagged: bool


def pdf_text(path: Path | str) -> PdfText:
    import pikepdf
    import pypdfium2 as pdfium

    with pikepdf.open(path) as pdf:
        order = _tag_order(pdf)
    document = pdfium.PdfDocument(str(path))
    try:
        pages, untagged = [], []
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            runs = _runs_by_mark(textpage)
            textpage.close()
            page.close()
            runs.pop(ARTIFACT, None)  # marked as decoration, not content: read by no one, compared with nothing
            ranked = order.get(index, [])
            if order:
                pages.append(_join_runs(runs[mcid] for mcid in ranked if mcid in runs))
                in_tree = set(ranked)
                untagged.append([text for mcid, text in runs.items() if mcid not in in_tree and text.strip()])
            else:  # an untagged PDF: content-stream order is all there is
                lines = "".join(runs.values()).split("\n")
                pages.append(" ".join(line for line in lines if not _is_folio(line, index + 1)))
                untagged.append([line for line in lines if _is_folio(line, index + 1)])
        bookmarks = []
        for item in document.get_toc(max_depth=1):
            destination = item.get_dest()
            if destination is not None and item.level == 0:
                bookmarks.append((item.get_title(), destination.get_index()))
    finally:
        document.close()
    return PdfText(pages, untagged, bookmarks, bool(order))


def _tag_order(pdf) -> dict[int, list[int]]:
    """Page index -> the marked-content ids of that page in the order of the tag tree."""
    import pikepdf

    root = pdf.Root.get("/StructTreeRoot")
    if root is None:
        return {}
    page_index = {page.objgen: index for index, page in enumerate(pdf.pages)}
    order: dict[int, list[int]] = {}
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[object, int | None]] = [(root.get("/K"), None)]
    while stack:  # depth-first, children in order (pushed reversed)
        node, page = stack.pop()
        if node is None:
            continue
        if isinstance(node, pikepdf.Array):
            stack.extend((child, page) for child in reversed(list(node)))
        elif isinstance(node, int):  # a marked-content id on the current page
            if page is not None and (page, int(node)) not in seen:
                seen.add((page, int(node)))
                order.setdefault(page, []).append(int(node))
        elif isinstance(node, pikepdf.Dictionary):
            if "/Pg" in node:
                page = page_index.get(node.Pg.objgen, page)
            kind = node.get("/Type")
            if kind == "/MCR":
                stack.append((node.get("/MCID"), page))
            elif kind != "/OBJR":
                stack.append((node.get("/K"), page))
    return order


def _runs_by_mark(textpage) -> dict[int, str]:
    """The page's characters grouped by marked-content id (``ARTIFACT`` for text marked as an artifact,
    -1 for text in no marked content), each group in content-stream order."""
    import pypdfium2.raw as raw

    runs: dict[int, list[str]] = {}
    current = -1
    for index in range(textpage.count_chars()):
        code = raw.FPDFText_GetUnicode(textpage.raw, index)
        char = chr(code) if code else ""
        if raw.FPDFText_IsHyphen(textpage.raw, index) or char == "\ufffe":
            char = HYPHEN
        elif raw.FPDFText_HasUnicodeMapError(textpage.raw, index):
            char = UNMAPPED  # pdfium would show the raw character code, a letter that is not there
        elif raw.FPDFText_IsGenerated(textpage.raw, index):
            char = "\n" if char in ("\r", "\n") else " "
        text_object = raw.FPDFText_GetTextObject(textpage.raw, index)
        if text_object:
            current = raw.FPDFPageObj_GetMarkedContentID(text_object)
            if current < 0 and _is_artifact(text_object):
                current = ARTIFACT
        runs.setdefault(current, []).append(char)
    return {mcid: "".join(chars).replace("\r", "") for mcid, chars in runs.items()}


def _is_artifact(text_object) -> bool:
    import ctypes

    import pypdfium2.raw as raw

    for number in range(max(raw.FPDFPageObj_CountMarks(text_object), 0)):
        mark = raw.FPDFPageObj_GetMark(text_object, number)
        buffer = (ctypes.c_ushort * 64)()
        length = ctypes.c_ulong()
        if mark and raw.FPDFPageObjMark_GetName(mark, buffer, ctypes.sizeof(buffer), ctypes.byref(length)):
            if bytes(buffer)[:length.value].decode("utf-16-le").rstrip("\0") == "Artifact":
                return True
    return False


def _join_runs(runs: Iterable[str]) -> str:
    """Runs of one page as text: a run that ends in a line-end hyphen continues in the next one."""
    text = ""
    for run in runs:
        run = run.replace("\n", " ")
        text = text + run if text.rstrip().endswith(HYPHEN) else f"{text} {run}"
    return text


def _is_folio(text: str, page_number: int) -> bool:
    """A running footer: the page's own number first or last, and words beside it."""
    tokens = text.split()
    return len(tokens) >= 2 and str(page_number) in (tokens[0], tokens[-1])


# --- differences --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """A stretch where the editions disagree."""

    segment: str  # what was compared: "cover", "articles/01-hamer.md", "back cover"
    kind: str  # "missing in print", "only in print", "different", "moved", "structure"
    message: str
    epub_where: str = ""
    pdf_where: str = ""

    @property
    def location(self) -> str:
        places = ", ".join(p for p in (self.epub_where, self.pdf_where) if p)
        return f"{self.segment} ({places})" if places else self.segment

    def __str__(self) -> str:
        return f"{self.location}: {self.kind}: {self.message}"


@dataclass
class Comparison:
    differences: list[Difference] = field(default_factory=list)
    words: int = 0  # EPUB words compared
    accepted: list[str] = field(default_factory=list)  # edition-specific texts found where expected
    not_compared: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class Segment:
    """One part of the issue, as each edition has it, with the texts only one edition prints there."""

    name: str
    epub: Sequence[Word]
    pdf: Sequence[Word]
    print_only: tuple[str, ...] = ()
    epub_only: tuple[str, ...] = ()
    lines: Mapping[str, int] = field(default_factory=dict)  # EPUB element id -> line of the source file

    def place(self, word: Word | None) -> str:
        """``name:line`` when the EPUB word sits in a block that remembers its source line."""
        anchor = word.anchor if word else ""
        while anchor:
            if anchor in self.lines:
                return f"{self.name}:{self.lines[anchor]}"
            anchor = anchor.rpartition("-")[0]  # "<block id>-title" -> "<block id>"
        return self.name


def compare_words(segment: Segment) -> tuple[list[Difference], list[str]]:
    """Differences between the two word sequences of a segment, and the edition-specific texts accepted."""
    epub, pdf = list(segment.epub), _merge_letterspaced(segment.pdf)
    matcher = difflib.SequenceMatcher(None, [w.key for w in epub], [w.key for w in pdf], autojunk=False)
    print_only = Counter(word_key(t) for t in segment.print_only if word_key(t))
    epub_only = Counter(word_key(t) for t in segment.epub_only if word_key(t))
    unexplained, accepted = [], []
    for i1, i2, j1, j2 in _regions(matcher.get_opcodes()):
        ours, theirs = epub[i1:i2], pdf[j1:j2]
        if _joined(ours) == _joined(theirs):
            continue  # spacing, hyphenation or letter-spacing only
        theirs_left, used_print = _strip(theirs, print_only)
        ours_left, used_epub = _strip(ours, epub_only)
        if _joined(ours_left) == _joined(theirs_left):
            accepted += [f"only in print: {t}" for t in used_print] + [f"only in the EPUB: {t}" for t in used_epub]
            continue
        unexplained.append((i1, i2, j1, j2))
    return _describe(segment, epub, pdf, unexplained), accepted


def _merge_letterspaced(words: Sequence[Word]) -> list[Word]:
    """Runs of three or more one- or two-letter "words" are letter-spaced text: one token, for alignment."""
    merged: list[Word] = []
    run: list[Word] = []
    for word in [*words, None]:
        if word is not None and len(word.key) <= 2:
            run.append(word)
            continue
        if len(run) >= 3:
            merged.append(Word(" ".join(w.text for w in run), "".join(w.key for w in run), run[0].where))
        else:
            merged.extend(run)
        run = []
        if word is not None:
            merged.append(word)
    return merged


def _regions(opcodes: list[tuple[str, int, int, int, int]]) -> Iterator[tuple[int, int, int, int]]:
    """Non-equal stretches, with stretches separated by only a word or two joined into one."""
    current: list[int] | None = None
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            if current is not None and i2 - i1 > SHORT_EQUAL_RUN:
                yield tuple(current)  # type: ignore[misc]
                current = None
            continue
        if current is None:
            current = [i1, i2, j1, j2]
        else:
            current[1], current[3] = i2, j2
    if current is not None:
        yield tuple(current)  # type: ignore[misc]


def _joined(words: Sequence[Word]) -> str:
    return "".join(w.key for w in words)


def _strip(words: Sequence[Word], allowed: Counter) -> tuple[list[Word], list[str]]:
    """``words`` without whole runs of words that spell an allowed edition-specific text."""
    left, used = list(words), []
    for key, count in allowed.items():
        for _ in range(count):
            span = _find_run(left, key)
            if span is None:
                break
            start, end = span
            used.append(" ".join(w.text for w in left[start:end]))
            del left[start:end]
    return left, used


def _find_run(words: Sequence[Word], key: str) -> tuple[int, int] | None:
    for start in range(len(words)):
        joined = ""
        for end in range(start, len(words)):
            joined += words[end].key
            if joined == key:
                return start, end + 1
            if not key.startswith(joined):
                break
    return None


def _describe(segment: Segment, epub: list[Word], pdf: list[Word], regions: list[tuple[int, int, int, int]]) -> list[Difference]:
    """Differences in words; a stretch missing in one place and only in print in another is "moved"."""
    inserted = {_joined(pdf[j1:j2]): (j1, j2) for i1, i2, j1, j2 in regions if i1 == i2}
    moved_to: dict[tuple[int, int], tuple[int, int]] = {}
    for i1, i2, j1, j2 in regions:
        if j1 == j2 and _joined(epub[i1:i2]) in inserted:
            moved_to[(i1, i2)] = inserted.pop(_joined(epub[i1:i2]))
    moved_pdf = set(moved_to.values())
    found = []
    for i1, i2, j1, j2 in regions:
        # where the EPUB has the words, or (text only in print) the word just before them
        near = epub[min(i1 if i2 > i1 else i1 - 1, len(epub) - 1)] if epub else None
        name = segment.place(near)
        epub_where = near.where if near else ""
        pdf_where = pdf[min(j1, len(pdf) - 1)].where if pdf else ""
        if (i1, i2) in moved_to and j1 == j2:
            k1, k2 = moved_to[(i1, i2)]
            found.append(Difference(name, "in another order", (
                f"{_in_context(epub, i1, i2)} comes elsewhere in print: {_in_context(pdf, k1, k2)}"
            ), epub_where, pdf[k1].where))
        elif i1 == i2 and (j1, j2) in moved_pdf:
            continue
        elif i1 == i2:
            found.append(Difference(name, "only in print", _in_context(pdf, j1, j2), epub_where, pdf_where))
        elif j1 == j2:
            found.append(Difference(name, "missing in print", _in_context(epub, i1, i2), epub_where, pdf_where))
        else:
            found.append(Difference(name, "different", (
                f"the EPUB has {_in_context(epub, i1, i2)}, the PDF has {_in_context(pdf, j1, j2)}"
            ), epub_where, pdf_where))
    return found


def _in_context(words: Sequence[Word], start: int, end: int) -> str:
    """``… words before [the words] words after …`` with long stretches shortened."""
    before = [w.text for w in words[max(0, start - CONTEXT_WORDS):start]]
    middle = [w.text for w in words[start:end]]
    after = [w.text for w in words[end:end + CONTEXT_WORDS]]
    if len(middle) > SHOWN_WORDS:
        middle = [*middle[:SHOWN_WORDS // 2], f"… ({end - start} words) …", *middle[-SHOWN_WORDS // 2:]]
    lead = "… " if start > CONTEXT_WORDS else ""
    tail = " …" if end + CONTEXT_WORDS < len(words) else ""
    return f"“{lead}{' '.join(before)} [{' '.join(middle)}] {' '.join(after)}{tail}”".replace(" ]", "]").replace("[ ", "[")


# --- the two editions -------------------------------------------------------------------------------


def compare_editions(epub_path: Path | str, pdf_path: Path | str, issue: m.Issue, folder: str = "") -> Comparison:
    """Every difference between the text of the EPUB and of the PDF (see the module docstring).

    Articles are named by their file, ``<folder>/articles/…`` (``folder``: the source folder as the editor
    calls it) and, where the EPUB word sits in a block, the line the block starts on.
    """
    from publisher.epub import LABELS

    documents = epub_documents(epub_path)
    text = pdf_text(pdf_path)
    result = Comparison()
    pdf_words = [words_of(page, f"PDF page {index + 1}") for index, page in enumerate(text.pages)]
    folio_pages = _check_untagged(text, result)

    articles = [d for d in documents if d.kind == "article"]
    starts = [page for _, page in text.bookmarks]
    first_article = starts[0] if starts else len(text.pages)
    last_numbered = max(folio_pages, default=len(text.pages) - 2)
    cover_end = min(folio_pages, default=1)
    labels = tuple(LABELS.values())

    segments = [Segment(
        "cover", _concat(d.words for d in documents if d.kind == "cover"), _pages(pdf_words, 0, cover_end),
        epub_only=labels,
    )]
    segments += _article_segments(issue, articles, pdf_words, starts, last_numbered + 1, result, folder)
    back_docs = documents[documents.index(articles[-1]) + 1:] if articles else []
    segments.append(Segment(
        "back cover", _concat(d.words for d in back_docs if d.kind == "other"),
        _pages(pdf_words, last_numbered + 1, len(text.pages)),
        print_only=_back_cover_print_only(issue), epub_only=labels,
    ))
    result.not_compared = [
        f"the print contents ({_page_range(cover_end, first_article)})",
        "the EPUB navigation document, colophon and corrections",
    ]
    _check_unmapped(pdf_words, result, {w.where: s.name for s in reversed(segments) for w in s.pdf})
    for segment in segments:
        found, accepted = compare_words(segment)
        result.differences += found
        result.accepted += accepted
        result.words += len(segment.epub)
    return result


def _check_untagged(text: PdfText, result: Comparison) -> list[int]:
    """Indexes of pages with a running footer; any other text outside the tag tree is a difference."""
    numbered = []
    for index, runs in enumerate(text.untagged):
        for run in runs:
            if _is_folio(run, index + 1):
                numbered.append(index)
            elif text.tagged:
                result.differences.append(Difference(
                    f"PDF page {index + 1}", "untagged",
                    f"text outside the tag tree, which assistive technology does not read: “{' '.join(run.split())[:80]}”",
                ))
    return sorted(set(numbered))


def _check_unmapped(pdf_words: list[list[Word]], result: Comparison, names: Mapping[str, str] | None = None) -> None:
    """Glyphs without Unicode text: garbled for copy, search and screen readers.  The word comparison reads
    past them: an extra glyph (an accent drawn apart) is then no difference there, a letter still is."""
    for index, words in enumerate(pdf_words):
        marked = [w.text for w in words if "\ufffd" in w.text]
        if marked:
            shown = ", ".join(f"“{text}”" for text in marked[:5]) + (" …" if len(marked) > 5 else "")
            page = f"PDF page {index + 1}"
            result.differences.append(Difference(
                (names or {}).get(page, page), "glyph without text",
                f"{len(marked)} word(s) hold a glyph that maps to no Unicode text (shown as \ufffd), so copying, "
                f"searching and screen readers garble them: {shown}", pdf_where=page if names and page in names else "",
            ))


def _article_segments(
    issue: m.Issue, articles: list[EpubDocument], pdf_words: list[list[Word]], starts: list[int], end: int,
    result: Comparison, folder: str,
) -> list[Segment]:
    by_slug = {a.slug: a for a in issue.articles}
    if len(starts) != len(articles) or starts != sorted(starts):
        result.differences.append(Difference(
            "articles", "structure",
            f"the EPUB has {len(articles)} articles, the PDF {len(starts)} article bookmarks; "
            "all articles are compared as one text",
        ))
        first = starts[0] if starts else 0
        return [Segment("articles", _concat(d.words for d in articles), _pages(pdf_words, first, end),
                        print_only=tuple(_printed_urls(issue.articles)))]
    segments = []
    for number, document in enumerate(articles):
        article = by_slug.get(document.slug or "")
        stop = starts[number + 1] if number + 1 < len(starts) else end
        segments.append(Segment(
            f"{folder}/{article.path}".lstrip("/") if article else document.href, document.words,
            _pages(pdf_words, starts[number], stop),
            print_only=tuple(_printed_urls([article] if article else [])),
            lines=_source_lines(article) if article else {},
        ))
    return segments


def _source_lines(article: m.Article) -> dict[str, int]:
    """Block id (as rendered, ``<slug>-<n>``) -> the line of the article file the block starts on."""
    anchors = Anchors.of(article)
    return {anchors(block): block.line for block in m.walk(article.blocks)}


def _printed_urls(articles: Iterable[m.Article]) -> Iterator[str]:
    """The address printed beside each QR code ("Meer weten?")."""
    for article in articles:
        for block in m.walk(article.blocks):
            if isinstance(block, m.Reference):
                yield block.url.split("://", 1)[-1]


def _back_cover_print_only(issue: m.Issue) -> tuple[str, ...]:
    urls = [t.url.split("://", 1)[-1] for t in issue.back_teasers if t.url]
    return (*urls, issue.title, issue.tagline, issue.issue_line, issue.publisher)


def _page_range(start: int, end: int) -> str:
    """0-based half-open page indexes as the pages a reader counts."""
    return f"PDF page {start + 1}" if end - start <= 1 else f"PDF pages {start + 1}–{end}"


def _pages(pdf_words: list[list[Word]], start: int, end: int) -> list[Word]:
    return _concat(pdf_words[start:max(start, end)])


def _concat(parts: Iterable[Iterable[Word]]) -> list[Word]:
    return [word for part in parts for word in part]
