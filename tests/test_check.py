"""`publisher check` and the text comparison of the two editions.

The real issue is checked once per session (``python -m publisher check``: one layout, EPUBCheck, Ace);
the tests that damage an edition reuse the files it built, and the in-process runs reuse its cache.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pytest
from weasyprint import HTML

from publisher import check, checks, scaffold, textcompare
from publisher.cli import Reporter
from publisher.load import load_issue
from publisher.textcompare import HYPHEN, Segment, Word, compare_words, word_key, words_of

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
ROW = re.compile(r"^(?P<name>\w+)\s+(?P<result>ok|FAILED|not run)\s+(?P<count>\d+|–)\s+(?P<time>[\d.]+ s|–)$")


@dataclass(frozen=True)
class CheckRun:
    code: int
    out: str
    err: str
    dist: Path

    @property
    def rows(self) -> dict[str, tuple[str, str]]:
        found = {}
        for line in self.out.splitlines():
            match = ROW.match(line)
            if match:
                found[match["name"]] = (match["result"], match["count"])
        return found


@pytest.fixture(scope="session")
def real_check(tmp_path_factory: pytest.TempPathFactory) -> CheckRun:
    """`publisher check` on the real issue, once: it lays out the issue and runs every validator."""
    dist = tmp_path_factory.mktemp("check") / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "check", "--source", str(SOURCE), "--out", str(dist)],
        capture_output=True, text=True, timeout=900, cwd=ROOT, stdin=subprocess.DEVNULL,
    )
    return CheckRun(result.returncode, result.stdout, result.stderr, dist)


@pytest.fixture(scope="session")
def issue():
    return load_issue(SOURCE)


def editions(run: CheckRun, issue) -> tuple[Path, Path]:
    return run.dist / f"{issue.slug}.epub", run.dist / f"{issue.slug}.pdf"


# --- the real issue -------------------------------------------------------------------------------------------


def test_check_passes_on_the_real_issue(real_check: CheckRun) -> None:
    assert real_check.code == 0, real_check.err
    assert real_check.rows == {name: ("ok", "0") for name in check.CHECK_NAMES}
    assert real_check.out.strip().splitlines()[-1].startswith("all 6 checks passed")
    assert "Traceback" not in real_check.err


def test_check_prints_one_table_with_every_check_in_order(real_check: CheckRun) -> None:
    lines = real_check.out.splitlines()
    header = [i for i, line in enumerate(lines) if line.split() == ["check", "result", "count", "time"]]
    assert len(header) == 1
    rows = lines[header[0] + 1: header[0] + 1 + len(check.CHECK_NAMES)]
    assert [ROW.match(line)["name"] for line in rows] == list(check.CHECK_NAMES)
    assert all(ROW.match(line)["time"].endswith(" s") for line in rows)


def test_the_editions_never_carry_the_preview_script(real_check: CheckRun, issue) -> None:
    epub, pdf = editions(real_check, issue)
    with zipfile.ZipFile(epub) as archive:
        assert not any(b"__version" in archive.read(name) for name in archive.namelist())
    assert b"__version" not in pdf.read_bytes()


def test_the_text_comparison_reports_words_dropped_from_the_pdf(real_check: CheckRun, issue, tmp_path: Path) -> None:
    epub, pdf = editions(real_check, issue)
    damaged = tmp_path / "damaged.pdf"
    removed = drop_one_line(pdf, damaged, page_index=2)

    result = textcompare.compare_editions(epub, damaged, issue)

    dropped = [d for d in result.differences if d.kind == "missing in print"]
    assert len(dropped) == 1, result.differences
    assert re.fullmatch(r"articles/01-hamer\.md:\d+", dropped[0].segment) and dropped[0].pdf_where == "PDF page 3"
    shown = re.search(r"\[(.*?)\]", dropped[0].message).group(1)
    assert Counter(word_key(w) for w in shown.split()) == Counter(w.key for w in words_of(removed, ""))
    line = int(dropped[0].segment.rpartition(":")[2])  # the first line of the paragraph that lost them
    lines = (SOURCE / "articles" / "01-hamer.md").read_text(encoding="utf-8").splitlines()[line - 1:]
    paragraph = " ".join(lines[:lines.index("")] if "" in lines else lines)
    assert "".join(w.key for w in words_of(removed, "")) in "".join(w.key for w in words_of(paragraph, ""))


def test_the_text_comparison_reports_a_paragraph_missing_from_the_epub(real_check: CheckRun, issue, tmp_path: Path) -> None:
    epub, pdf = editions(real_check, issue)
    damaged = tmp_path / "damaged.epub"
    paragraph = drop_paragraph(epub, damaged, "EPUB/06-vast-en-flex.xhtml")

    result = textcompare.compare_editions(damaged, pdf, issue)

    extra = [d for d in result.differences if d.segment.startswith("articles/06-vast-en-flex.md")]
    assert [d.kind for d in extra] == ["only in print"]

    assert " ".join(paragraph.split()[:3]) in extra[0].message


def test_check_fails_with_install_advice_when_a_tool_is_missing(
    real_check: CheckRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    def no_ace(path):
        raise checks.ToolMissing(f"DAISY Ace not found at {checks.ACE_BIN}")

    monkeypatch.setattr(checks, "ace", no_ace)
    # these ran for real in the session check; here only the missing tool matters
    monkeypatch.setattr(checks, "epubcheck", lambda path: [])
    monkeypatch.setattr(check, "compare_text", lambda *args: [])
    code = check.run(SOURCE, real_check.dist, Reporter())

    captured = capsys.readouterr()
    assert code == 1
    assert f"ace: missing: DAISY Ace not found at {checks.ACE_BIN}; install it with: bash scripts/setup.sh" in captured.err
    assert re.search(r"^ace\s+FAILED\s+1\s", captured.out, re.M)
    assert re.search(r"^build\s+ok\s+0\s", captured.out, re.M)
    assert captured.err.strip().splitlines()[-1] == "1 of 6 checks FAILED: ace"


def test_check_on_a_broken_source_reports_it_and_runs_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "source"
    (broken / "articles").mkdir(parents=True)
    (broken / "issue.yaml").write_text("title: x\n", encoding="utf-8")
    code = check.run(broken, tmp_path / "dist", Reporter())
    captured = capsys.readouterr()
    assert code == 1
    assert "source: error: source/issue.yaml:1: " in captured.err
    assert re.search(r"^source\s+FAILED\s+\d+\s", captured.out, re.M)
    for name in check.CHECK_NAMES[1:]:
        assert re.search(rf"^{name}\s+not run\s+–\s+–$", captured.out, re.M)
    assert not (tmp_path / "dist").exists()


def test_template_text_left_in_an_article_fails_the_source_check(tmp_path: Path) -> None:
    tree = tmp_path / "source"
    shutil.copytree(SOURCE, tree)
    scaffold.create_article(tree, "nieuw", title="Nieuw", rubric="Column", kind="column")
    issue, findings = check.check_source(tree)
    assert issue is not None
    assert findings and {f.location.split(":")[0] for f in findings} == {"source/articles/12-nieuw.md"}
    assert all(f.tool == "source" and f.severity == "error" for f in findings)


# --- damaging editions ------------------------------------------------------------------------------------------


def drop_one_line(pdf_path: Path, target: Path, page_index: int) -> str:
    """Remove the drawing of one tagged line of body text from a page; return the text removed."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf_path))
    runs = textcompare._runs_by_mark(document[page_index].get_textpage())
    document.close()
    ordered = list(runs.items())[15:]  # past the article head: into the body text
    mcid, text = next(
        (mcid, text) for (mcid, text), (_, before) in zip(ordered[1:], ordered)
        if sum(len(word) >= 3 for word in text.split()) >= 6  # body text, not a letter-spaced rubric
        and not text.rstrip().endswith(HYPHEN) and not before.rstrip().endswith(HYPHEN)
    )
    with pikepdf.open(pdf_path) as pdf:
        page = pdf.pages[page_index]
        kept, depth = [], 0
        for operands, operator in pikepdf.parse_content_stream(page):
            name = str(operator)
            if depth:
                depth += {"BDC": 1, "BMC": 1, "EMC": -1}.get(name, 0)
                continue
            if name == "BDC" and isinstance(operands[1], pikepdf.Dictionary) and operands[1].get("/MCID") == mcid:
                depth = 1
                continue
            kept.append((operands, operator))
        page.obj.Contents = pdf.make_stream(pikepdf.unparse_content_stream(kept))
        pdf.save(target)
    return text


def drop_paragraph(epub_path: Path, target: Path, document: str) -> str:
    """Remove the first paragraph of body text from one EPUB document; return its text."""
    with zipfile.ZipFile(epub_path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    xhtml = entries[document].decode("utf-8")
    match = re.search(r'<p id="[a-z-]+-\d+">([^<]{40,})</p>', xhtml)
    assert match
    entries[document] = xhtml.replace(match.group(0), "", 1).encode("utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data, zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED)
    target.write_bytes(out.getvalue())
    return match.group(1)


# --- comparing words (small inputs) ---------------------------------------------------------------------------------


def epub_words(text: str) -> list[Word]:
    return words_of(text, "EPUB a.xhtml")


def pdf_words(text: str) -> list[Word]:
    return words_of(text, "PDF page 3")


def differences(epub: str, pdf: str, **declared) -> list[textcompare.Difference]:
    return compare_words(Segment("articles/a.md", epub_words(epub), pdf_words(pdf), **declared))[0]


def test_identical_text_has_no_differences() -> None:
    assert differences("Het is zo’n geval, zegt hij.", "Het is zo’n geval, zegt hij.") == []


def test_hyphenation_line_breaks_letter_spacing_and_case_are_typography_not_differences() -> None:
    epub = "Interview · Mariëtte Hamer Een breed, fundamenteel akkoord over het MLT-advies en feest- en vakantiedagen"
    pdf = (f"I N T E R V I E W · M A R I Ë T T E H A M E R Een breed, funda{HYPHEN}\nmenteel akkoord "
           f"over het MLT{HYPHEN}advies en feest{HYPHEN}en vakantieda{HYPHEN} gen")
    assert differences(epub, pdf) == []


def test_a_dropped_word_is_reported_with_its_context() -> None:
    found = differences("een twee drie vier vijf zes zeven acht negen", "een twee drie vier zes zeven acht negen")
    assert len(found) == 1
    assert found[0].kind == "missing in print"
    assert found[0].message == "“een twee drie vier [vijf] zes zeven acht negen”"
    assert str(found[0]) == (
        "articles/a.md (EPUB a.xhtml, PDF page 3): missing in print: “een twee drie vier [vijf] zes zeven acht negen”")


def test_an_extra_or_changed_word_is_reported() -> None:
    assert [d.kind for d in differences("de kat zit op de mat", "de kat zit niet op de mat")] == ["only in print"]
    changed = differences("de kat zit op de mat", "de hond zit op de mat")
    assert [d.kind for d in changed] == ["different"]
    assert "[kat]" in changed[0].message and "[hond]" in changed[0].message


def test_text_in_another_order_is_reported_as_moved() -> None:
    epub = "alfa beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    pdf = "alfa beta gamma delta eta theta iota kappa lambda epsilon zeta mu"
    found = differences(epub, pdf)
    assert [d.kind for d in found] == ["in another order"]
    assert "[epsilon zeta]" in found[0].message


def test_print_only_text_is_accepted_only_where_declared() -> None:
    epub = "Meer weten? Scan de QR-code of kijk op www.ser.nl"
    pdf = "Meer weten? Scan de QR-code of kijk op www.ser.nl www.ser.nl"
    assert differences(epub, pdf) and differences(epub, pdf)[0].kind == "only in print"
    found, accepted = compare_words(Segment("a", epub_words(epub), pdf_words(pdf), print_only=("www.ser.nl",)))
    assert found == [] and accepted == ["only in print: www.ser.nl"]
    # declared once, printed twice: the second is a difference
    twice = pdf + " www.ser.nl"
    found, _ = compare_words(Segment("a", epub_words(epub), pdf_words(twice), print_only=("www.ser.nl",)))
    assert [d.kind for d in found] == ["only in print"]


def test_a_long_stretch_is_shortened_in_the_message() -> None:
    missing = " ".join(f"woord{n}" for n in range(40))
    found = differences(f"begin {missing} einde", "begin einde")
    assert "… (40 words) …" in found[0].message and "woord0" in found[0].message and "woord39" in found[0].message


# --- reading the editions (small inputs) -------------------------------------------------------------------------------

CONTAINER = b"""<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OPS/package.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
OPF = b"""<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0">
<manifest>
<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
<item id="a" href="a.xhtml" media-type="application/xhtml+xml"/>
<item id="end" href="end.xhtml" media-type="application/xhtml+xml"/>
<item id="css" href="s.css" media-type="text/css"/>
</manifest>
<spine><itemref idref="nav"/><itemref idref="a"/><itemref idref="end"/></spine>
</package>"""


def xhtml(body: str) -> bytes:
    return (
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><head>'
        f"<title>t</title><style>p {{ }}</style></head>{body}</html>"
    ).encode()


def test_epub_words_follow_the_spine_and_skip_what_only_the_epub_has(tmp_path: Path) -> None:
    path = tmp_path / "small.epub"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("META-INF/container.xml", CONTAINER)
        archive.writestr("OPS/package.opf", OPF)
        archive.writestr("OPS/nav.xhtml", xhtml('<body><nav epub:type="toc"><ol><li>Inhoud</li></ol></nav></body>'))
        archive.writestr("OPS/a.xhtml", xhtml(
            '<body epub:type="bodymatter"><section id="slug-a" epub:type="chapter"><h1>Titel</h1>'
            '<p>Een <em>nadruk</em>kelijke<span epub:type="pagebreak" id="page-4" aria-label="4"></span> zin.</p>'
            '<ol start="3"><li>derde</li><li>vierde</li></ol><img src="x.png" alt="geen tekst"/>'
            '<p hidden="hidden">verborgen</p><p>regel<br/>twee</p></section></body>'))
        archive.writestr("OPS/end.xhtml", xhtml(
            '<body epub:type="backmatter"><section epub:type="colophon"><p>Colofon</p></section>'
            '<section class="teaser"><h2>Lees verder</h2></section></body>'))

    documents = textcompare.epub_documents(path)

    assert [(d.href, d.kind, d.slug) for d in documents] == [
        ("nav.xhtml", "nav", None), ("a.xhtml", "article", "slug-a"), ("end.xhtml", "other", None)]
    assert [w.text for w in documents[1].words] == [
        "Titel", "Een", "nadrukkelijke", "zin.", "3.", "derde", "4.", "vierde", "regel", "twee"]
    assert [w.text for w in documents[2].words] == ["Lees", "verder"]
    assert documents[1].words[0].where == "EPUB a.xhtml"


PDF_HTML = """<html lang="nl"><head><title>t</title><style>
@page { size: A6; margin: 15mm 10mm; @bottom-center { content: "Test Magazine " counter(page); } }
.late { position: relative; } .number { position: absolute; left: -5mm; }
p { margin: 0 0 2mm; } body { font-size: 9pt; hyphens: auto; }
</style></head><body>
<article><h1>Eerste artikel</h1><p>De eerste alinea van het artikel.</p>
<div class="late"><span class="number">1</span><p>Een gepositioneerde vraag?</p></div>
<p>Het antwoord volgt na de vraag.</p></article>
</body></html>"""


def test_pdf_text_follows_the_tag_tree_and_leaves_the_running_footer_out(tmp_path: Path) -> None:
    path = tmp_path / "small.pdf"
    HTML(string=PDF_HTML).write_pdf(path, pdf_variant="pdf/ua-1")

    text = textcompare.pdf_text(path)

    assert text.tagged
    assert [w.text for w in words_of(text.pages[0], "")] == [
        "Eerste", "artikel", "De", "eerste", "alinea", "van", "het", "artikel.", "1", "Een", "gepositioneerde",
        "vraag?", "Het", "antwoord", "volgt", "na", "de", "vraag."]
    assert [" ".join(run.split()) for run in text.untagged[0]] == ["Test Magazine 1"]
    assert textcompare._is_folio(text.untagged[0][0], 1)


def test_words_of_joins_a_word_hyphenated_at_a_line_end() -> None:
    words = words_of(f"een funda{HYPHEN}\r\n menteel akkoord", "x")
    assert [(w.text, w.key) for w in words] == [("een", "een"), ("funda-menteel", "fundamenteel"), ("akkoord", "akkoord")]


def test_artifacts_are_skipped_but_other_untagged_text_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "small.pdf"
    HTML(string=PDF_HTML).write_pdf(path, pdf_variant="pdf/ua-1")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        page = pdf.pages[0]
        drawn = list(pikepdf.parse_content_stream(page))
        # draw the heading's glyphs twice more: once marked as an artifact, once in no marked content
        font = next(i for i in drawn if str(i.operator) == "Tf")
        show = next(i for i in drawn if str(i.operator) in ("Tj", "TJ"))
        def again(y: int) -> list:  # apart: pdfium drops text drawn twice in the same place (fake bold)
            return [([], pikepdf.Operator("BT")), font, ([20, y], pikepdf.Operator("Td")), show, ([], pikepdf.Operator("ET"))]

        artifact = [([pikepdf.Name.Artifact], pikepdf.Operator("BMC")), *again(20), ([], pikepdf.Operator("EMC"))]
        page.obj.Contents = pdf.make_stream(pikepdf.unparse_content_stream([*drawn, *artifact, *again(60)]))
        pdf.save(path)

    text = textcompare.pdf_text(path)
    result = textcompare.Comparison()
    numbered = textcompare._check_untagged(text, result)

    assert numbered == [0]
    assert [(d.segment, d.kind) for d in result.differences] == [("PDF page 1", "untagged")]
    assert [" ".join(run.split()) for run in text.untagged[0]] == ["Test Magazine 1", "Eerste artikel"]
    assert "“Eerste artikel”" in result.differences[0].message


def test_a_glyph_without_unicode_text_is_reported_and_read_past(tmp_path: Path) -> None:
    path = tmp_path / "small.pdf"
    HTML(string='<html lang="nl"><head><title>t</title></head><body><p>zeker weten</p></body></html>').write_pdf(
        path, pdf_variant="pdf/ua-1")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        font = next(iter(pdf.pages[0].Resources.Font.values()))
        cmap = font.ToUnicode.read_bytes().decode("latin-1")
        cmap, count = re.subn(r"(<[0-9a-f]{4}>) <006b>", r"\1 <>", cmap)  # "k" now maps to no text
        assert count == 1
        font.ToUnicode.write(cmap.encode("latin-1"))
        pdf.save(path)

    text = textcompare.pdf_text(path)
    words = words_of(text.pages[0], "PDF page 1")
    result = textcompare.Comparison()
    textcompare._check_unmapped([words], result)

    assert [w.text for w in words] == ["ze\ufffder", "weten"]
    assert [(d.segment, d.kind) for d in result.differences] == [("PDF page 1", "glyph without text")]
    assert "“ze\ufffder”" in result.differences[0].message
