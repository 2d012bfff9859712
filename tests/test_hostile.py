"""Hostile and broken sources: every one is refused with exactly the problems an editor needs, quickly.

The corpus is data: tests/hostile/cases.yaml (one entry per case, each a change to the valid base tree in
tests/hostile/base/ and the exact `path:line: message` lines it must give).  A few cases also go through
the command line, which must exit 1 with the same lines and no traceback.  The tests at the end check the
bounds that need trees too large to describe as data.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from hostile.tree import load_cases, make_tree
from publisher import model as m
from publisher.errors import SourceErrors
from publisher.load import MAX_ARTICLES, load_issue

ROOT = Path(__file__).resolve().parent.parent
CASES = load_cases()
CLI_CASES = [case for case in CASES if case.get("cli")]
SECONDS_PER_CASE = 10  # the slowest case takes well under a second; this only catches runaway parsing


def problems_of(source: Path) -> list[str] | str:
    try:
        load_issue(source)
    except SourceErrors as exc:
        return [str(problem) for problem in exc.problems]
    return "ok"


def test_the_corpus_is_large_and_every_case_says_what_it_expects() -> None:
    assert len(CASES) >= 60
    assert all(case.get("expect") for case in CASES)
    assert len(CLI_CASES) >= 5


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_hostile_case(tmp_path: Path, case: dict) -> None:
    source = make_tree(tmp_path, case)
    started = time.perf_counter()
    found = problems_of(source)
    seconds = time.perf_counter() - started
    assert found == case["expect"]
    assert seconds < SECONDS_PER_CASE, f"{case['id']} took {seconds:.1f} s"


def test_the_base_tree_loads(tmp_path: Path) -> None:
    issue = load_issue(make_tree(tmp_path, {"id": "base"}))
    assert [a.slug for a in issue.articles] == ["een", "twee"]
    [image] = [b for b in m.walk(issue.articles[0].blocks) if isinstance(b, m.Image)]
    assert (image.media_type, image.width, image.height) == ("image/png", 40, 30)


def test_a_byte_order_mark_is_stripped_not_kept(tmp_path: Path) -> None:
    case = next(c for c in CASES if c["id"] == "byte-order-mark-and-windows-line-ends-are-accepted")
    issue = load_issue(make_tree(tmp_path, case))
    column = issue.article("twee")
    assert column.slug == "twee" and column.blocks == (m.Paragraph((m.Text("Tekst van de column."),), 11),)


def test_a_png_named_jpg_is_labelled_by_its_bytes(tmp_path: Path) -> None:
    case = next(c for c in CASES if c["id"] == "png-named-jpg-is-accepted")
    issue = load_issue(make_tree(tmp_path, case))
    [image] = [b for b in m.walk(issue.articles[0].blocks) if isinstance(b, m.Image)]
    assert image.media_type == "image/png" and image.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("case", CLI_CASES, ids=[case["id"] for case in CLI_CASES])
def test_the_cli_refuses_a_hostile_source_without_a_traceback(tmp_path: Path, case: dict) -> None:
    source = make_tree(tmp_path, case)
    out = tmp_path / "dist"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "publisher", "epub", "--source", str(source), "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    count = len(case["expect"])
    assert run.stderr.splitlines() == [
        *case["expect"], f"{count} problem{'s' if count != 1 else ''} in {source}; nothing was written",
    ]
    assert not out.exists() or not any(out.iterdir()), "nothing may be written for a broken source"


# --- bounds that need more than a few lines of data ---------------------------------------------------------


def test_too_many_articles_are_refused(tmp_path: Path) -> None:
    source = make_tree(tmp_path, {"id": "many"})
    front = (source / "articles" / "02-twee.md").read_text("utf-8")
    for number in range(MAX_ARTICLES):
        (source / "articles" / f"9{number:03}.md").write_text(front.replace("slug: twee", f"slug: extra-{number}"), "utf-8")
    started = time.perf_counter()
    found = problems_of(source)
    assert time.perf_counter() - started < SECONDS_PER_CASE
    assert f"source/articles: {MAX_ARTICLES + 2} articles; the limit is {MAX_ARTICLES}" in found


def test_an_image_used_thousands_of_times_is_read_and_held_once(tmp_path: Path) -> None:
    # 2,500 references to one 20-megapixel photo: decoded once, one copy of its bytes in the model
    from hostile.tree import image

    source = make_tree(tmp_path, {"id": "one image, many uses", "body": "Tekst.\n\n" + "![Foto](images/groot.png)\n\n" * 2500})
    image(source / "images" / "groot.png", {"format": "PNG", "size": [5000, 4000]})
    started = time.perf_counter()
    issue = load_issue(source)
    assert time.perf_counter() - started < SECONDS_PER_CASE
    images = [b for b in m.walk(issue.articles[0].blocks) if isinstance(b, m.Image)]
    assert len(images) == 2500
    assert len({id(b.data) for b in images}) == 1


# --- nothing unsafe in any edition ---------------------------------------------------------------------------
# A tree full of content that is allowed but tricky (tests/hostile/tricky/01-een.md): text that looks like
# HTML or like template code, quotes and ampersands in attributes, odd but valid link targets.  Both editions
# must carry it as inert text.

EPOCH = 1_700_000_000
ACTIVE_ELEMENTS = {"script", "iframe", "object", "embed", "frame", "frameset", "applet", "form", "input", "button", "base"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "background", "{http://www.w3.org/1999/xlink}href"}
SAFE_EXTERNAL = ("https://", "http://", "mailto:")
PDF_ACTIVE_KEYS = {"/JavaScript", "/JS", "/Launch", "/EmbeddedFiles", "/EmbeddedFile", "/AA", "/SubmitForm", "/ImportData",
                   "/GoToR", "/GoToE", "/RichMedia", "/XFA", "/AcroForm"}


@pytest.fixture(scope="module")
def tricky_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    article = (Path(__file__).parent / "hostile" / "tricky" / "01-een.md").read_text("utf-8")
    return make_tree(tmp_path_factory.mktemp("tricky"), {"id": "tricky", "files": {"articles/01-een.md": article}})


@pytest.fixture(scope="module")
def tricky_issue(tricky_source: Path) -> m.Issue:
    return load_issue(tricky_source)


def private_paths(data: bytes, source: Path) -> list[str]:
    """Paths of the machine that built the edition (where the source or the project lie) found in ``data``."""
    return [str(path) for path in (source.parent, ROOT, Path.home()) if f"{path}/".encode() in data]


def source_urls(issue: m.Issue) -> set[str]:
    """Every external URL the source gives: the only ones an edition may link to."""
    urls = {issue.url, *(t.url for t in issue.back_teasers if t.url)}

    def inline_links(inlines) -> None:
        for node in inlines or ():
            if isinstance(node, m.Link):
                urls.add(node.href)
            if hasattr(node, "children"):
                inline_links(node.children)

    for article in issue.articles:
        inline_links(article.lead)
        for block in m.walk(article.blocks):
            for name in ("inlines", "title"):
                inline_links(getattr(block, name, None))
            if getattr(block, "url", None):
                urls.add(block.url)
    return urls


def unsafe_markup(name: str, xml: bytes, allowed: set[str]) -> list[str]:
    """What makes an (X)HTML/SVG/XML document active or leaky: scripts, handlers, foreign URLs."""
    from lxml import etree

    found = []
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    for element in root.iter():
        if not isinstance(element.tag, str):
            if isinstance(element, etree._ProcessingInstruction):
                found.append(f"{name}: processing instruction {element}")
            continue
        tag = etree.QName(element).localname.lower()
        if tag in ACTIVE_ELEMENTS:
            found.append(f"{name}: <{tag}>")
        if tag == "meta" and element.get("http-equiv"):
            found.append(f"{name}: <meta http-equiv>")
        for attribute, value in element.attrib.items():
            local = etree.QName(attribute).localname.lower()
            if local.startswith("on"):
                found.append(f"{name}: {local}= on <{tag}>")
            if attribute in URL_ATTRIBUTES or local in URL_ATTRIBUTES:
                target = value.strip().lower()
                if target.startswith(("javascript:", "vbscript:", "file:", "data:")):
                    found.append(f"{name}: {local}={value[:60]!r}")
                elif ":" in target.split("/", 1)[0] or target.startswith("//"):
                    if not target.startswith(SAFE_EXTERNAL) or value not in allowed:
                        found.append(f"{name}: {local}={value[:60]!r} is not a URL of the source")
                elif ".." in value.split("/"):
                    found.append(f"{name}: {local}={value!r} climbs out of the package")
            if local == "style" and "url(" in value.lower():
                found.append(f"{name}: style with url()")
    return found


def test_the_tricky_tree_is_allowed(tricky_issue: m.Issue) -> None:
    words = " ".join(m.plain_text(b.inlines) for b in m.walk(tricky_issue.articles[0].blocks) if hasattr(b, "inlines"))
    assert "<script>alert(1)</script>" in words and "{{ 7*7 }}" in words and "{% raw %}" in words


def test_nothing_unsafe_in_the_epub(tricky_issue: m.Issue, tricky_source: Path) -> None:
    from lxml import etree

    from publisher import epub

    allowed = source_urls(tricky_issue)
    book = zipfile.ZipFile(io.BytesIO(epub.build_epub(tricky_issue, epoch=EPOCH)))
    found, texts = [], {}
    for name in book.namelist():
        data = book.read(name)
        found += [f"{name}: {path}" for path in private_paths(data, tricky_source)]
        if name.endswith((".xhtml", ".html", ".svg", ".opf", ".ncx", ".xml")):
            found += unsafe_markup(name, data, allowed)
            texts[name] = "".join(etree.fromstring(data).itertext())
        elif name.endswith(".css"):
            css = data.decode("utf-8").lower()
            for url in re.findall(r"url\(\s*['\"]?([^)'\"]*)", css):
                if ":" in url or url.startswith(("/", "..")):
                    found.append(f"{name}: url({url})")
            if "expression(" in css or "javascript:" in css:
                found.append(f"{name}: active CSS")
    assert found == []
    article = next(text for name, text in texts.items() if name.endswith("01-een.xhtml"))
    # the look-alikes come out as the very characters the editor wrote, not as markup or evaluated template
    for literal in ("<script>alert(1)</script>", "<iframe src=\"x\">", "<img src=x onerror=alert(1)>", "{{ 7*7 }}",
                    "{% raw %}", "{# weg #}", "{%- if true -%}ja{%- endif -%}", "<script>alert('rubriek')</script>",
                    "{{ config }}", "Zeg \"hoi\" & <doei> {{ label }}", "Jan \"de\" <Vries>", "${jndi:ldap://evil.example/x}"):
        assert literal in article, literal
    assert "49" not in article


def test_nothing_unsafe_in_the_pdf_or_its_print_document(tricky_issue: m.Issue, tricky_source: Path) -> None:
    import pikepdf

    from publisher import pdf

    allowed = source_urls(tricky_issue)
    layout = pdf.lay_out(tricky_issue, epoch=EPOCH)
    assert unsafe_markup("print document", layout.html.encode("utf-8"), allowed) == []
    data = pdf.pdf_bytes(layout)
    document = pikepdf.open(io.BytesIO(data))
    found, uris = private_paths(data, tricky_source), set()
    for obj in document.objects:
        if isinstance(obj, pikepdf.Stream):
            found += private_paths(obj.read_bytes(), tricky_source) if obj.get("/Filter") != "/DCTDecode" else []
            obj = obj.stream_dict
        if not isinstance(obj, pikepdf.Dictionary):
            continue
        found += sorted(key for key in obj.keys() if key in PDF_ACTIVE_KEYS)
        if obj.get("/S") in (pikepdf.Name.JavaScript, pikepdf.Name.Launch, pikepdf.Name.SubmitForm, pikepdf.Name.ImportData):
            found.append(f"action {obj.get('/S')}")
        if "/URI" in obj:
            uris.add(str(obj.URI))
    assert "/OpenAction" not in document.Root or "/JS" not in document.Root.OpenAction
    assert found == []
    assert all(uri.startswith(SAFE_EXTERNAL) and uri in allowed for uri in uris), uris - allowed
    assert len(document.attachments) == 0


def test_a_truncated_image_is_refused_even_after_weasyprint_is_imported(tmp_path: Path) -> None:
    # WeasyPrint sets Pillow's global LOAD_TRUNCATED_IMAGES = True on import: `preview` and `check` load the
    # source again in a process where it was imported, and must still refuse a cut-off photo
    from PIL import ImageFile

    import weasyprint  # noqa: F401 -- the import is the point

    assert ImageFile.LOAD_TRUNCATED_IMAGES is True, "WeasyPrint no longer sets it: this test can go"
    case = next(c for c in CASES if c["id"] == "image-truncated")
    assert problems_of(make_tree(tmp_path, case)) == case["expect"]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True, "WeasyPrint's own setting is given back"


def test_the_pdf_uses_only_the_vendored_typefaces(tmp_path: Path) -> None:
    # An inline `code` span is allowed by the loader; the print edition must still set it in the project's own
    # fonts.  A font of the machine (DejaVu Sans Mono via the user agent's `monospace`) makes the PDF depend on
    # what happens to be installed where it is built.
    import pikepdf

    from publisher import pdf

    body = "Typ `publisher build` en druk op Enter.\n"
    issue = load_issue(make_tree(tmp_path, {"id": "code", "body": body}))
    document = pikepdf.open(io.BytesIO(pdf.pdf_bytes(pdf.lay_out(issue, epoch=EPOCH))))
    fonts = {str(obj.BaseFont).split("+", 1)[-1] for obj in document.objects
             if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Font" and "/BaseFont" in obj}
    assert fonts and all(name.startswith(("Source-Serif-4", "Source-Sans-3")) for name in fonts), sorted(fonts)


def test_photo_metadata_never_reaches_an_edition(tmp_path: Path) -> None:
    # A photographer's JPEG carries EXIF (GPS position, camera serial, a thumbnail), a comment; a PNG carries
    # text chunks.  The editions get the pixels, byte for byte, and the orientation -- nothing else.
    import pikepdf
    from PIL import Image, PngImagePlugin

    from publisher import epub, pdf

    secret = "Geheim-52.37N-4.89E"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° to stand upright
    exif[0x010F] = secret  # camera make
    exif[0x9286] = secret.encode()  # user comment
    photo = Image.effect_noise((120, 80), 60).convert("RGB")
    source = make_tree(tmp_path, {"id": "metadata", "body": "![Een foto](images/foto.jpg)\n\n![Een plaatje](images/plaatje.png)\n"})
    photo.save(source / "images" / "foto.jpg", "JPEG", exif=exif.tobytes(), comment=secret.encode())
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", secret)
    text.add_itxt("XML:com.adobe.xmp", f"<x:xmpmeta>{secret}</x:xmpmeta>")
    photo.save(source / "images" / "plaatje.png", "PNG", pnginfo=text)

    issue = load_issue(source)
    images = [b for b in m.walk(issue.articles[0].blocks) if isinstance(b, m.Image)]
    assert [i.media_type for i in images] == ["image/jpeg", "image/png"]
    for image, original in zip(images, ("foto.jpg", "plaatje.png")):
        assert secret.encode() not in image.data
        with Image.open(io.BytesIO(image.data)) as clean, Image.open(source / "images" / original) as raw:
            assert clean.tobytes() == raw.tobytes()
            assert clean.getexif().get(0x0112, 1) == raw.getexif().get(0x0112, 1)
    book = epub.build_epub(issue, epoch=EPOCH)
    assert all(secret.encode() not in zipfile.ZipFile(io.BytesIO(book)).read(n) for n in zipfile.ZipFile(io.BytesIO(book)).namelist())
    document = pikepdf.open(io.BytesIO(pdf.pdf_bytes(pdf.lay_out(issue, epoch=EPOCH))))
    streams = [obj.read_raw_bytes() for obj in document.objects if isinstance(obj, pikepdf.Stream)]
    assert all(secret.encode() not in data for data in streams)
