"""Property-based tests: generated sources either become a sound EPUB or are refused with the project's own
errors -- never any other exception.

Articles are generated from a grammar of the allowed elements (paragraphs, emphasis, links, code, lists,
headings, quotes, every container with valid attributes), with odd Unicode in the words (combining marks,
right-to-left scripts, emoji, NBSP, zero-width characters, the astral plane) and long or empty values in
the front matter.  A generated tree that loads must give an EPUB whose XHTML documents are well-formed XML
and whose manifest, spine and navigation agree; a few go through EPUBCheck too.  Bytes thrown at the loader
(not from the grammar) must only ever give SourceErrors.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from unittest import mock
from urllib.parse import unquote, urldefrag

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from hostile.tree import make_tree
from publisher import model as m
from publisher.errors import BuildError, SourceErrors
from publisher.cover import cover_png as real_cover_png
from publisher.load import load_issue

EPOCH = 1_700_000_000
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LOADER_ONLY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPF = "{http://www.idpf.org/2007/opf}"
XHTML = "{http://www.w3.org/1999/xhtml}"

# --- the grammar --------------------------------------------------------------------------------------------

ODD = [
    "e\u0301", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u05e9\u05dc\u05d5\u05dd", "\U0001F469\u200d\U0001F467",
    "\u00a0", "zero\u200bwidth", "\u200c", "\u200e", "\u200f", "\U0001D504\U0001D530", "\u2019s", "“quote”", "&", "&amp;",
    "&lt;script&gt;", "{{ 7*7 }}", "{% raw %}", "{#", "%}", "\\*", "\\<b\\>", "\\[x\\]", "‘", "—", "…", "ß", "İ", "ǅ",
]
plain_word = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzéëïüç"), min_size=1, max_size=12)
word = st.one_of(plain_word, plain_word, plain_word, st.sampled_from(ODD))
# text starts with a visible word: a value of only NBSP or zero-width characters is empty, and refused
text = st.builds(lambda first, rest: " ".join([first, *rest]), plain_word, st.lists(word, max_size=7))
attribute_text = st.builds(
    lambda first, rest: " ".join([first, *rest]), plain_word,
    st.lists(st.one_of(plain_word, st.sampled_from(["&", "'", "<x>", "{{ y }}", "é", "\u05d0", "\u00a0"])), max_size=3),
)
url_path = st.builds(lambda path, fragment: "".join(path) + fragment,
                     st.lists(st.sampled_from([*"abcxyz0189-_./?=&~", "%20", "%C3%A9"]), max_size=20),
                     st.sampled_from(["", "#", "#deel"]))
url = st.builds(lambda host, path: host + path, st.sampled_from(["https://example.org/", "http://example.org:8080/"]), url_path)
# markdown-it writes a link to an accented host in punycode; a container's url attribute must be ASCII already
link_target = st.one_of(url, st.builds(lambda path: "https://bücher.example/" + path, url_path),
                        st.just("mailto:redactie@example.org?subject=Hoi"))


code_text = st.text(st.sampled_from('abc<>&"{}% *_'), min_size=1, max_size=15)


@st.composite
def inline(draw) -> str:
    kind = draw(st.sampled_from(["text", "text", "text", "em", "strong", "link", "code", "autolink"]))
    if kind == "em":
        return f"*{draw(text)}*"
    if kind == "strong":
        return f"**{draw(text)}**"
    if kind == "link":
        return f"[{draw(text)}]({draw(link_target)})"
    if kind == "code":
        return "`" + (draw(code_text).strip() or "x") + "`"
    if kind == "autolink":
        return f"<{draw(url)}>"
    return draw(text)


paragraph = st.lists(inline(), min_size=1, max_size=6).map(" ".join)
heading = st.builds(lambda level, words: f"{level} {words}", st.sampled_from(["##", "###"]), text)


@st.composite
def simple_list(draw) -> str:
    ordered = draw(st.booleans())
    items = draw(st.lists(paragraph, min_size=1, max_size=4))
    return "\n".join(f"{index + 1}. {item}" if ordered else f"- {item}" for index, item in enumerate(items))


def attr(name: str, value: str) -> str:
    return f' {name}="{value}"'


@st.composite
def container(draw) -> str:
    kind = draw(st.sampled_from(["question", "pullquote", "advies", "cv", "sidebar", "aan-het-woord", "facts",
                                 "caption", "reference", "endnote", "statement"]))
    label = attr("label", draw(attribute_text)) if draw(st.booleans()) else ""
    if kind == "question":
        number = attr("number", str(draw(st.integers(1, 99)))) if draw(st.booleans()) else ""
        return f"::: question{number}\n{draw(paragraph)}\n:::"
    if kind in ("pullquote", "caption"):
        return f"::: {kind}\n{draw(paragraph)}\n:::"
    if kind in ("advies", "cv"):
        return f"::: {kind}{label}\n## {draw(text)}\n\n{draw(paragraph)}\n:::"
    if kind == "sidebar":
        title = f"## {draw(text)}\n\n" if draw(st.booleans()) else ""
        return f"::: sidebar{attr('label', draw(attribute_text))}\n{title}{draw(paragraph)}\n:::"
    if kind == "aan-het-woord":
        people = []
        for _ in range(draw(st.integers(1, 3))):
            role = attr("role", draw(attribute_text)) if draw(st.booleans()) else ""
            quote = draw(paragraph) + "\n" if draw(st.booleans()) else ""
            people.append(f"::: person{attr('name', draw(attribute_text))}{role}\n{quote}:::")
        return f":::: aan-het-woord{label}\n" + "\n".join(people) + "\n::::"
    if kind == "facts":
        return f"::: facts\n## {draw(text)}\n\n{draw(simple_list())}\n:::"
    if kind == "reference":
        return f"::: reference{attr('url', draw(url))}{label}\n{draw(paragraph)}\n:::"
    if kind == "endnote":
        where = attr("url", draw(url)) if draw(st.booleans()) else ""
        return f"::: endnote{where}\n{draw(paragraph)}\n:::"
    organisation = attr("organisation", draw(attribute_text)) if draw(st.booleans()) else ""
    return f"::: statement{attr('name', draw(attribute_text))}{organisation}\n## {draw(text)}\n\n{draw(paragraph)}\n:::"


block = st.one_of(paragraph, paragraph, heading, simple_list(), paragraph.map(lambda p: "> " + p), container())
body = st.lists(block, min_size=1, max_size=8).map(lambda blocks: "\n\n".join(blocks) + "\n")
long_value = st.text(st.sampled_from("abc é\u05d0’"), max_size=400).map(lambda value: "L" + value)
front_value = st.one_of(*[text] * 6, long_value)


@st.composite
def article(draw) -> str:
    """A whole article file: YAML front matter (values written as JSON strings, which YAML reads) and body."""
    kind = draw(st.sampled_from(["feature", "interview", "column", "factsheet", "series"]))
    front = {"slug": "een", "kind": kind, "rubric": draw(front_value), "title": draw(front_value)}
    if draw(st.booleans()):
        front["topic"] = draw(front_value)
    if draw(st.booleans()):
        front["lead"] = draw(paragraph)
    lines = [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in front.items()]
    if draw(st.booleans()):
        credits = draw(st.dictionaries(st.sampled_from(["Tekst", "Foto", "Foto’s", "Beeld"]), front_value, max_size=3))
        if credits:
            lines += ["credits:", *(f"  {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}" for k, v in credits.items())]
    if kind == "column":
        lines += ["author:", f"  name: {json.dumps(draw(front_value), ensure_ascii=False)}", "  role: columnist"]
    return "---\n" + "\n".join(lines) + "\n---\n\n" + draw(body)


DAMAGE = ["", "  ", "\u00a0", "http://example.org/a#b#c", "https://exa mple.org", "%zz", "\n\n", "\n", ":::", "::::",
          "*", "**", "_", "<", "<b>", "&#x202E;", "[", "](", "![x](images/foto.png)", "#", "- ", "> ", "    ", "\t",
          "\\", "`", '"', "'", ": ", "{{", "\u202e", "\x00", "\u0085", "\ufffe", "😀", "\u0301"]


@st.composite
def damaged(draw, source: st.SearchStrategy[str]) -> str:
    """A text of ``source`` with a few tokens (empty values, broken URLs, markup, bad characters) spliced in."""
    result = draw(source)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(result)))
        result = result[:where] + draw(st.sampled_from(DAMAGE)) + result[where:]
    return result


# --- checks of an EPUB ----------------------------------------------------------------------------------------


def package_problems(data: bytes) -> list[str]:
    """Well-formed XML everywhere; manifest, spine, navigation and fragment links that agree."""
    book = zipfile.ZipFile(io.BytesIO(data))
    names = set(book.namelist())
    problems: list[str] = []
    if book.namelist()[0] != "mimetype" or book.read("mimetype") != b"application/epub+zip":
        problems.append("mimetype is not the first entry")
    container = etree.fromstring(book.read("META-INF/container.xml"))
    opf_path = container.find(".//{*}rootfile").get("full-path")
    folder = PurePosixPath(opf_path).parent
    opf = etree.fromstring(book.read(opf_path))
    manifest = {item.get("id"): item for item in opf.iter(f"{OPF}item")}
    hrefs = {str(folder / unquote(item.get("href"))): item for item in manifest.values()}
    for missing in sorted(set(hrefs) - names):
        problems.append(f"manifest names {missing}, which is not in the zip")
    for unlisted in sorted(names - set(hrefs) - {"mimetype", opf_path} - {n for n in names if n.startswith("META-INF/")}):
        problems.append(f"{unlisted} is in the zip but not in the manifest")
    spine = [ref.get("idref") for ref in opf.iter(f"{OPF}itemref")]
    problems += [f"spine names unknown item {idref}" for idref in spine if idref not in manifest]
    navs = [item for item in manifest.values() if "nav" in (item.get("properties") or "").split()]
    if len(navs) != 1:
        problems.append(f"{len(navs)} navigation documents")
    documents: dict[str, etree._Element] = {}
    for name, item in hrefs.items():
        if item.get("media-type") == "application/xhtml+xml" and name in names:
            try:
                documents[name] = etree.fromstring(book.read(name))
            except etree.XMLSyntaxError as exc:
                problems.append(f"{name} is not well-formed: {exc}")
    for name, root in documents.items():
        ids = [element.get("id") for element in root.iter() if isinstance(element.tag, str) and element.get("id")]
        if len(ids) != len(set(ids)):
            problems.append(f"{name} repeats an id")
        for anchor in root.iter(f"{XHTML}a"):
            href = anchor.get("href") or ""
            if href.startswith(("https://", "http://", "mailto:")):
                continue
            target, fragment = urldefrag(href)
            target_name = str(PurePosixPath(name).parent / unquote(target)) if target else name
            if target_name not in documents:
                problems.append(f"{name} links to {href}, no document of the package")
            elif fragment and not documents[target_name].xpath("//*[@id=$f]", f=fragment):
                problems.append(f"{name} links to {href}, no such id")
    spine_hrefs = {str(folder / unquote(manifest[idref].get("href"))) for idref in spine if idref in manifest}
    for nav in navs:
        nav_name = str(folder / unquote(nav.get("href")))
        toc = [a.get("href") for a in documents.get(nav_name, etree.Element("x")).iter(f"{XHTML}a")]
        for href in toc:
            target = urldefrag(href)[0]
            if target and str(PurePosixPath(nav_name).parent / unquote(target)) not in spine_hrefs:
                problems.append(f"navigation points at {href}, which is not in the spine")
    return problems


def load_generated(tmp: Path, text: str) -> m.Issue | None:
    """The issue of the base tree with its first article replaced, or None when the loader refuses it."""
    source = make_tree(tmp, {"id": "generated", "files": {"articles/01-een.md": text}})
    try:
        return load_issue(source)
    except SourceErrors as exc:
        assert exc.problems, "SourceErrors without problems"
        assert all(p.path.startswith("source/") for p in exc.problems), exc.problems
        return None


_COVERS: dict[tuple, bytes] = {}


def cached_cover(issue: m.Issue, width_px: int = 1600) -> bytes:
    """The front cover, rendered once: every word of it comes from issue.yaml, which the examples share (the
    WeasyPrint render of the cover is nine tenths of the time an EPUB takes)."""
    key = (issue.title, issue.subtitle, issue.tagline, issue.issue_line, issue.cover, width_px)
    if key not in _COVERS:
        _COVERS[key] = real_cover_png(issue, width_px)
    return _COVERS[key]


def build_epub(issue: m.Issue) -> bytes:
    from publisher import epub

    with mock.patch("publisher.cover.cover_png", cached_cover):
        return epub.build_epub(issue, epoch=EPOCH)


def build_or_refuse(issue: m.Issue) -> bytes | None:
    try:
        return build_epub(issue)
    except BuildError as exc:
        # a packaging refusal is fine; the loader letting through what is not even well-formed is not
        assert "well-formed" not in str(exc), exc
        return None


# --- the properties -------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(article())
def test_every_article_of_the_grammar_loads(text: str) -> None:
    # no false alarms: whatever the format allows, in any script, is accepted
    with tempfile.TemporaryDirectory() as tmp:
        source = make_tree(Path(tmp), {"id": "generated", "files": {"articles/01-een.md": text}})
        issue = load_issue(source)
    assert [a.slug for a in issue.articles] == ["een", "twee"]


@FAST
@given(st.one_of(article(), damaged(article())))
def test_a_generated_article_builds_a_sound_epub_or_is_refused(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        issue = load_generated(Path(tmp), text)
    if issue is None:
        event("refused by the loader")
        return
    assert [a.slug for a in issue.articles] == ["een", "twee"]
    data = build_or_refuse(issue)
    event("EPUB built" if data is not None else "refused by the packager")
    if data is not None:
        assert package_problems(data) == []


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(article())
def test_epubcheck_accepts_generated_articles(text: str) -> None:
    from publisher import checks

    with tempfile.TemporaryDirectory() as tmp:
        issue = load_issue(make_tree(Path(tmp), {"id": "generated", "files": {"articles/01-een.md": text}}))
        try:
            data = build_epub(issue)
        except BuildError as exc:
            assert "well-formed" not in str(exc), exc
            return  # e.g. a glyph no font has: the packager's own refusal, not EPUBCheck's business
        path = Path(tmp) / "generated.epub"
        path.write_bytes(data)
        findings = checks.epubcheck(path)
    assert [f"{f.severity} {f.location} {f.message}" for f in findings] == []


MARKDOWN_SOUP = st.lists(st.one_of(
    st.sampled_from(list("*_`[]()<>!#:=\"'\\&;-+. \n\t|~{}%") + ["\n\n", ":::", "::::", "&#x202E;", "&#1;", "javascript:",
                                                              "https://", "images/", "../", "\u202e", "\x00", "\ufeff"]),
    st.characters(),
    plain_word,
), max_size=150).map("".join)


@LOADER_ONLY
@given(MARKDOWN_SOUP)
def test_any_body_loads_or_gives_source_errors(soup: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        head = (Path(__file__).parent / "hostile" / "base" / "articles" / "01-een.md").read_text("utf-8").split("\n---\n")[0]
        load_generated(Path(tmp), head + "\n---\n\n" + soup)


@LOADER_ONLY
@given(st.binary(max_size=300), st.integers(0, 10_000), st.sampled_from(["issue.yaml", "articles/02-twee.md"]))
def test_any_bytes_spliced_into_a_file_give_source_errors_at_worst(junk: bytes, where: int, name: str) -> None:
    base = (Path(__file__).parent / "hostile" / "base" / name).read_bytes()
    where %= len(base) + 1
    with tempfile.TemporaryDirectory() as tmp:
        source = make_tree(Path(tmp), {"id": "spliced"})
        (source / name).write_bytes(base[:where] + junk + base[where:])
        try:
            load_issue(source)
        except SourceErrors as exc:
            assert exc.problems


def _picture(kind: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.effect_noise((24, 16), 50).convert("RGB").save(buffer, kind, exif=exif.tobytes())
    return buffer.getvalue()


PICTURES = {"PNG": _picture("PNG"), "JPEG": _picture("JPEG")}


@LOADER_ONLY
@given(st.sampled_from(sorted(PICTURES)), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 10_000))
def test_a_damaged_picture_is_reported_never_raised(kind: str, changes: list[tuple[int, int]], keep: int) -> None:
    from publisher.images import check_image

    data = bytearray(PICTURES[kind])
    for where, value in changes:
        data[where % len(data)] = value
    data = data[: max(1, keep % (len(data) + 1))]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "images").mkdir()
        (Path(tmp) / "images" / "foto.png").write_bytes(bytes(data))
        messages: list[str] = []
        checked = check_image("images/foto.png", Path(tmp), messages.append)
    assert (checked is None) == bool(messages), messages
    if checked is not None:
        assert checked[0] in ("image/png", "image/jpeg") and checked[3]
