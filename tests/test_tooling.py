"""Tests of the project's tooling: vendored fonts, external validators, screenshots.

These run the real tools that scripts/setup.sh installs (Java + EPUBCheck,
DAISY Ace + Chromium, Node + epub.js); a missing tool is a failure, not a skip.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image
from weasyprint import HTML

from publisher import checks

ROOT = Path(__file__).resolve().parent.parent
STYLES = ROOT / "styles"
FONTS = STYLES / "fonts"
FAMILIES = {"Source Serif 4": "OFL-SourceSerif4.txt", "Source Sans 3": "OFL-SourceSans3.txt"}
FACES = {(400, "normal"), (400, "italic"), (600, "normal"), (700, "normal"), (700, "italic")}


# --------------------------------------------------------------------------- fonts


def _font_faces() -> list[dict[str, str]]:
    css = (STYLES / "fonts.css").read_text(encoding="utf-8")
    faces = []
    for block in re.findall(r"@font-face\s*{([^}]*)}", css):
        props = dict(re.findall(r"([\w-]+)\s*:\s*([^;]+);", block))
        faces.append({k: v.strip() for k, v in props.items()})
    return faces


def test_fonts_css_references_existing_woff2_files() -> None:
    faces = _font_faces()
    assert len(faces) == len(FAMILIES) * len(FACES)
    referenced = set()
    for face in faces:
        urls = re.findall(r"url\(\s*['\"]?([^)'\"]+)['\"]?\s*\)", face["src"])
        assert urls, face
        for url in urls:
            assert url.startswith("fonts/") and url.endswith(".woff2"), url
            path = STYLES / url
            assert path.is_file(), f"fonts.css references missing {url}"
            assert path.read_bytes()[:4] == b"wOF2", f"{url} is not WOFF2"
            referenced.add(path.name)
    on_disk = {p.name for p in FONTS.glob("*.woff2")}
    assert referenced == on_disk, "every vendored font is declared, and only those"


def test_fonts_css_declares_every_family_weight_and_style() -> None:
    declared: dict[str, set[tuple[int, str]]] = {}
    for face in _font_faces():
        family = face["font-family"].strip("\"'")
        declared.setdefault(family, set()).add((int(face["font-weight"]), face["font-style"]))
    assert declared == {family: FACES for family in FAMILIES}


@pytest.mark.parametrize("family,licence", sorted(FAMILIES.items()))
def test_each_family_has_its_ofl_licence(family: str, licence: str) -> None:
    text = (FONTS / licence).read_text(encoding="utf-8")
    assert family in text
    assert "SIL Open Font License, Version 1.1" in text
    assert "Reserved Font Name" in text
    readme = (FONTS / "README.md").read_text(encoding="utf-8")
    assert licence in readme and "@fontsource/" in readme


# --------------------------------------------------------------------------- PDF checks

PDF_HTML = """<!doctype html><html lang="nl"><head><meta charset="utf-8">
<title>Proefnummer</title><link rel="stylesheet" href="fonts.css">
<style>@page {{ size: 210mm 280mm; {bleed} }}
body {{ font-family: "Source Serif 4" }} h1 {{ font-family: "Source Sans 3" }}</style>
</head><body><h1>Kop – ‘één’</h1><p>Het “café” is <i>open</i> • <b>ook</b> ’s avonds.</p></body></html>"""


def _weasyprint_pdf(path: Path, *, bleed: bool) -> Path:
    html = PDF_HTML.format(bleed="bleed: 3mm; marks: crop;" if bleed else "")
    HTML(string=html, base_url=str(STYLES) + "/").write_pdf(path, pdf_tags=True)
    return path


def test_pdf_findings_accepts_tagged_pdf_with_bleed_and_vendored_fonts(tmp_path: Path) -> None:
    pdf_path = _weasyprint_pdf(tmp_path / "good.pdf", bleed=True)
    assert checks.pdf_findings(pdf_path) == []
    with pikepdf.open(pdf_path) as pdf:
        fonts = {str(f.BaseFont) for f in pdf.pages[0].Resources.Font.values()}
    assert any("Source-Serif-4" in name for name in fonts), fonts
    assert any("Source-Sans-3" in name for name in fonts), fonts


def test_pdf_findings_flags_missing_trimbox(tmp_path: Path) -> None:
    pdf_path = _weasyprint_pdf(tmp_path / "good.pdf", bleed=True)
    with pikepdf.open(pdf_path) as pdf:
        del pdf.pages[0].obj["/TrimBox"]
        pdf.save(tmp_path / "notrim.pdf")
    findings = checks.pdf_findings(tmp_path / "notrim.pdf")
    assert [(f.severity, f.message, f.location) for f in findings] == [("error", "page has no /TrimBox", "page 1")]


def test_pdf_findings_flags_pdf_without_bleed(tmp_path: Path) -> None:
    # WeasyPrint without `bleed` still writes a TrimBox, but BleedBox == TrimBox.
    findings = checks.pdf_findings(_weasyprint_pdf(tmp_path / "nobleed.pdf", bleed=False))
    assert len(findings) == 1
    assert findings[0].location == "page 1" and "BleedBox must extend the TrimBox by 3 mm" in findings[0].message


def test_pdf_findings_flags_untagged_unembedded_and_active_content(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    helvetica = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    font = pdf.make_indirect(helvetica)
    pdf.pages[0].Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)")
    pdf.attachments["x.txt"] = b"hello"
    pdf.save(tmp_path / "bad.pdf")
    messages = {f.message for f in checks.pdf_findings(tmp_path / "bad.pdf")}
    assert messages == {
        "font Helvetica is not embedded",
        "PDF is not tagged: /MarkInfo /Marked true is missing",
        "PDF is not tagged: no /StructTreeRoot",
        "document language /Lang is not set",
        "no document /Title in the document info or XMP metadata",
        "page has no /TrimBox",
        "page has no /BleedBox",
        "document has embedded files (/Names /EmbeddedFiles)",
        "document contains a JavaScript action",
    }


# --------------------------------------------------------------------------- EPUB checks

CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""

OPF = """<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid" xml:lang="nl">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">urn:uuid:3b1f4c0e-8d7a-4b0e-9a57-0c6c1f6f2a11</dc:identifier>
    <dc:title>Proefnummer</dc:title>
    <dc:language>nl</dc:language>
    <meta property="dcterms:modified">2024-01-01T00:00:00Z</meta>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>
    <item id="img" href="img.png" media-type="image/png"/>
  </manifest>
  <spine><itemref idref="c1"/></spine>
</package>"""

NAV = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="nl" xml:lang="nl">
<head><title>Inhoud</title></head>
<body><nav epub:type="toc" role="doc-toc"><h1>Inhoud</h1><ol><li><a href="c1.xhtml">Hoofdstuk</a></li></ol></nav></body>
</html>"""

CHAPTER = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" lang="nl" xml:lang="nl">
<head><title>Hoofdstuk</title></head>
<body><h1>Hoofdstuk</h1><p>Het “café” is één van de mooiste plekken – zeker ’s avonds.</p>{extra}</body>
</html>"""


def _epub(path: Path, *, extra: str = "") -> Path:
    img = path.with_suffix(".png")
    Image.new("RGB", (120, 60), (200, 40, 40)).save(img)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", CONTAINER, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("OEBPS/content.opf", OPF, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("OEBPS/nav.xhtml", NAV, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("OEBPS/c1.xhtml", CHAPTER.format(extra=extra), compress_type=zipfile.ZIP_DEFLATED)
        z.write(img, "OEBPS/img.png")
    return path


def test_epubcheck_passes_valid_epub_and_reports_errors_with_location(tmp_path: Path) -> None:
    assert checks.epubcheck(_epub(tmp_path / "ok.epub", extra='<p><img src="img.png" alt="rood"/></p>')) == []
    broken = _epub(tmp_path / "bad.epub", extra='<p><a href="missing.xhtml">weg</a></p><blink>x</blink>')
    findings = checks.epubcheck(broken)
    assert {f.tool for f in findings} == {"epubcheck"}
    assert all(f.severity == "error" for f in findings), findings
    assert any(f.message.startswith("RSC-007") and f.location.startswith("OEBPS/c1.xhtml:") for f in findings)
    assert any(f.message.startswith("RSC-005") and "blink" in f.message for f in findings)


def test_ace_reports_violations_per_rule_and_location(tmp_path: Path) -> None:
    findings = checks.ace(_epub(tmp_path / "a11y.epub", extra='<p><img src="img.png"/></p>'))
    assert findings and {f.severity for f in findings} == {"violation"} and {f.tool for f in findings} == {"ace"}
    image_alt = [f for f in findings if f.message.startswith("image-alt [critical]")]
    assert len(image_alt) == 1 and image_alt[0].location.startswith("c1.xhtml img epubcfi("), image_alt
    rules = {f.message.split(" ", 1)[0] for f in findings}
    assert "metadata-accessmode" in rules  # no schema.org accessibility metadata in this OPF


def test_missing_tools_raise_tool_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    epub = _epub(tmp_path / "x.epub")
    monkeypatch.setattr(checks, "ACE_BIN", tmp_path / "no-ace-cli")
    with pytest.raises(checks.ToolMissing, match="DAISY Ace"):
        checks.ace(epub)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(checks.ToolMissing, match="Java"):
        checks.epubcheck(epub)


# --------------------------------------------------------------------------- screenshots


@pytest.mark.parametrize("dark", [False, True])
def test_screenshot_renders_text(tmp_path: Path, dark: bool) -> None:
    epub = _epub(tmp_path / "shot.epub")
    out = tmp_path / "shots"
    cmd = ["node", str(ROOT / "tools" / "screenshot.mjs"), str(epub), str(out), "--width", "400", "--height", "300"]
    proc = subprocess.run([*cmd, *(["--dark"] if dark else [])], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    png = out / "00-c1.png"
    assert proc.stdout.split() == [str(png)]
    with Image.open(png) as im:
        gray = im.convert("L")
        assert gray.size == (400, 300)
        histogram = gray.histogram()
    background = max(range(256), key=histogram.__getitem__)
    assert (background < 64) if dark else (background > 192)
    ink = sum(n for value, n in enumerate(histogram) if abs(value - background) > 96)
    assert ink > 500, "the page should show dark-on-light (or light-on-dark) text"
