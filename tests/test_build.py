"""The build's caches: a rebuild with nothing changed does no layout work; after an edit only the parts of
the print edition that changed, or moved to another folio, are laid out again; and whatever came out of a
cache equals a build from scratch, byte for byte.

The tree is the small valid one of tests/hostile/base: cover, contents, two articles ("een", a feature with
an image; "twee", a column), back cover with a QR code.  It is built once per module and copied per test.
Which parts WeasyPrint lays out is seen at WeasyPrint itself: ``HTML.render`` is wrapped and records the id of
the first element of each document it lays out (a part document holds one part), or "epub-cover" for the
cover page cover.py renders as the EPUB's cover image.  While counting, the build is told it has one
processor, so that the cover image is made in this process, where it can be seen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import weasyprint

from hostile.tree import make_tree
from publisher import build as build_module
from publisher import pdf
from publisher.build import CACHE_FOLDER, PARTS_FOLDER, Builder, PartStore
from publisher.errors import BuildError

SLUG = "proefblad-2024-01"
ALL_TARGETS = ("epub", "pdf", "html")
PARTS = ["cover", "inhoud", "een", "twee", "back-cover"]  # the first element id of each part, in order
EPUB_COVER = "epub-cover"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A source tree and the output folder (editions and caches) of one successful build."""
    root = tmp_path_factory.mktemp("built")
    make_tree(root, {"id": "build-cache"})
    Builder(root / "source", root / "dist").build(ALL_TARGETS)
    return root


@pytest.fixture
def work(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    return tmp_path


@pytest.fixture(autouse=True)
def fixed_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)  # the editions' dates come from the issue date


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first element id of every document WeasyPrint lays out from now on (in this process)."""
    monkeypatch.setattr(build_module, "_processors", lambda: 1)
    seen: list[str] = []
    real_render = weasyprint.HTML.render

    def render(self, *args, **kwargs):
        body = self.etree_element.find("body")
        if body.get("class") == "cover-only":  # templates/print/cover-page.xhtml.j2
            seen.append(EPUB_COVER)
        else:
            seen.append(next((child.get("id") for child in body), None))
        return real_render(self, *args, **kwargs)

    monkeypatch.setattr(weasyprint.HTML, "render", render)
    return seen


def build(root: Path, *targets: str) -> None:
    Builder(root / "source", root / "dist").build(targets or ALL_TARGETS)


def editions(root: Path) -> dict[str, bytes]:
    """Every file of the output folder outside the caches, with its bytes."""
    out = root / "dist"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and CACHE_FOLDER not in p.relative_to(out).parts}


def from_scratch(root: Path, elsewhere: Path) -> dict[str, bytes]:
    """The editions of ``root``'s source built into an empty folder elsewhere (no cache at all)."""
    shutil.copytree(root / "source", elsewhere / "source")
    build(elsewhere)
    return editions(elsewhere)


def drop_edition_cache(root: Path) -> None:
    """Forget the whole-edition cache (and the editions), keeping only the laid-out parts."""
    cache = root / "dist" / CACHE_FOLDER
    for entry in cache.iterdir():
        if entry.name != PARTS_FOLDER:
            shutil.rmtree(entry)
    for name in editions(root):
        (root / "dist" / name).unlink()


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / "source" / "articles" / name
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


def refuse_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_layout(*args, **kwargs):
        raise AssertionError("WeasyPrint was asked to lay out a document")

    monkeypatch.setattr(weasyprint.HTML, "render", no_layout)


# --------------------------------------------------------------------------- no change


def test_the_first_build_lays_out_every_part_once(built: Path, tmp_path: Path, renders: list[str]) -> None:
    # the control experiment for the counts below: from nothing, each part is laid out exactly once: the
    # articles first, then the contents that lists their folios
    shutil.copytree(built / "source", tmp_path / "source")
    build(tmp_path)
    assert renders == ["cover", "een", "twee", "inhoud", "back-cover", EPUB_COVER]


def test_a_rebuild_with_nothing_changed_does_no_layout_work(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = editions(work)
    refuse_layout(monkeypatch)
    build(work)
    assert editions(work) == before


def test_the_part_cache_alone_spares_every_layout(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # without the whole-edition cache, every part of the print layout still comes from the part cache
    before = editions(work)
    drop_edition_cache(work)
    refuse_layout(monkeypatch)
    build(work, "pdf", "html")
    after = editions(work)
    assert after == {name: data for name, data in before.items() if not name.endswith(".epub")}


# --------------------------------------------------------------------------- edits


def test_a_one_article_edit_lays_out_only_that_article(
    work: Path, tmp_path_factory: pytest.TempPathFactory, renders: list[str],
) -> None:
    pages_before = pdf_pages(work)
    edit(work, "02-twee.md", "Tekst van de column.", "Tekst van de herziene column.")
    build(work)
    assert renders == ["twee"]  # the EPUB's cover image comes from the cache too
    assert pdf_pages(work) == pages_before  # so nothing after it moved
    assert editions(work) == from_scratch(work, tmp_path_factory.mktemp("scratch"))


def test_an_article_that_grows_a_page_moves_the_contents_and_the_parts_after_it(
    work: Path, tmp_path_factory: pytest.TempPathFactory, renders: list[str],
) -> None:
    pages_before = pdf_pages(work)
    paragraphs = "\n\n".join(f"Extra alinea {n}, lang genoeg om de kolommen te vullen. " * 6 for n in range(40))
    edit(work, "01-een.md", "Tweede alinea.", f"Tweede alinea.\n\n{paragraphs}")
    build(work)
    assert pdf_pages(work) > pages_before
    # the cover stays; "een" changed; "twee" and the back cover begin on new folios; the contents lists them
    assert renders == ["een", "twee", "inhoud", "back-cover"]
    assert editions(work) == from_scratch(work, tmp_path_factory.mktemp("scratch"))


def test_the_cache_survives_an_edit_and_its_undo(work: Path, renders: list[str]) -> None:
    before = editions(work)
    edit(work, "02-twee.md", "Tekst van de column.", "Andere tekst.")
    build(work, "pdf")
    edit(work, "02-twee.md", "Andere tekst.", "Tekst van de column.")
    renders.clear()
    build(work)
    assert renders == [] and editions(work) == before


# --------------------------------------------------------------------------- damage and limits


def test_a_damaged_part_is_laid_out_again(work: Path, renders: list[str]) -> None:
    before = editions(work)
    drop_edition_cache(work)
    for entry in (work / "dist" / CACHE_FOLDER / PARTS_FOLDER).iterdir():
        data = bytearray(entry.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte, as a failing disk would
        entry.write_bytes(bytes(data))
    build(work)
    assert sorted(renders) == sorted([*PARTS, EPUB_COVER])  # every part, and the EPUB's cover image
    assert editions(work) == before


def test_a_part_that_cannot_be_pickled_is_laid_out_at_every_build(
    work: Path, monkeypatch: pytest.MonkeyPatch, renders: list[str],
) -> None:
    import pickle

    before = editions(work)
    shutil.rmtree(work / "dist" / CACHE_FOLDER)

    def unpicklable(self, entry):
        raise pickle.PicklingError("injected: something in these pages does not pickle")

    monkeypatch.setattr(pdf._PartPickler, "dump", unpicklable)
    build(work)
    drop_edition_cache(work)
    renders.clear()
    build(work)
    assert sorted(renders) == sorted(PARTS)  # the cover image is bytes: it was cached
    assert editions(work) == before


def test_the_cover_image_made_in_a_second_process_is_the_one_made_here(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert build_module._processors() > 1, "this machine cannot show the second process"
    shutil.copytree(built / "source", tmp_path / "source")
    monkeypatch.setattr(build_module, "_processors", lambda: 1)
    build(tmp_path, "epub")
    assert (tmp_path / "dist" / f"{SLUG}.epub").read_bytes() == (built / "dist" / f"{SLUG}.epub").read_bytes()


def test_a_failed_layout_stops_the_cover_image_process(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    drop_edition_cache(work)
    shutil.rmtree(work / "dist" / CACHE_FOLDER / PARTS_FOLDER)
    children = []

    def failing_layout(*args, **kwargs):
        children.extend(multiprocessing.active_children())
        raise BuildError("injected layout failure")

    monkeypatch.setattr(pdf, "lay_out", failing_layout)
    with pytest.raises(BuildError, match="injected layout failure"):
        build(work)
    assert len(children) == 1, "the cover image was being made meanwhile"
    assert not children[0].is_alive() and multiprocessing.active_children() == []


def test_a_cache_entry_refers_only_to_weasyprints_classes() -> None:
    import io
    import pickle

    class Payload:
        def __reduce__(self):
            return os.system, ("true",)

    with pytest.raises(pickle.UnpicklingError, match="posix.system"):
        pdf._PartUnpickler(io.BytesIO(pickle.dumps(Payload())), None, None, None).load()


def test_the_part_store_keeps_this_builds_entries_and_the_most_recent_others(tmp_path: Path) -> None:
    store = PartStore(tmp_path / "parts")
    for n in range(6):
        store.put(f"old{n}", b"x" * n)
        os.utime(tmp_path / "parts" / f"old{n}", (1000 + n, 1000 + n))
    fresh = PartStore(tmp_path / "parts")
    fresh.put("new", b"new")
    assert fresh.get("old0") == b""
    fresh.prune(keep=4)
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == ["new", "old0", "old4", "old5"]
    (tmp_path / "parts" / "old5").write_bytes(b"damaged")
    assert fresh.get("old5") is None and fresh.get("missing") is None


def test_an_unwritable_part_cache_only_costs_time(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher import build as build_module

    before = editions(work)
    shutil.rmtree(work / "dist" / CACHE_FOLDER / PARTS_FOLDER)
    drop_edition_cache(work)
    real_write = build_module.write_atomic

    def write(path: Path, data: bytes) -> Path:
        if PARTS_FOLDER in path.parts:
            raise BuildError(f"cannot write {path}: injected")
        return real_write(path, data)

    monkeypatch.setattr(build_module, "write_atomic", write)
    build(work)
    assert editions(work) == before
    assert not (work / "dist" / CACHE_FOLDER / PARTS_FOLDER).exists()


# --------------------------------------------------------------------------- the print document


def test_weasyprints_own_cli_gives_the_same_pdf_from_the_html_edition(built: Path, tmp_path: Path) -> None:
    out = built / "dist"
    target = tmp_path / "cli.pdf"
    subprocess.run(
        [sys.executable, "-m", "weasyprint", "--pdf-variant", pdf.PDF_VARIANT, f"{SLUG}.html", str(target)],
        cwd=out, check=True, capture_output=True,
    )
    assert target.read_bytes() == (out / f"{SLUG}.pdf").read_bytes()


def test_the_contents_prints_the_folios_the_articles_start_on(built: Path) -> None:
    html = (built / "dist" / f"{SLUG}.html").read_text("utf-8")
    assert 'href="#een" data-page="3"' in html and 'href="#twee" data-page="' in html
    assert "counter-reset" not in html, "the whole edition needs no page offset: only a part document does"


def pdf_pages(root: Path) -> int:
    import pikepdf

    with pikepdf.open(root / "dist" / f"{SLUG}.pdf") as document:
        return len(document.pages)


def test_parts_laid_out_in_one_process_are_reused_by_the_next(built: Path, tmp_path: Path) -> None:
    # what a user sees: two `publisher pdf` runs, the second after an edit, each in its own process
    shutil.copytree(built / "source", tmp_path / "source")

    def publisher_pdf() -> str:
        command = [sys.executable, "-m", "publisher", "pdf", "--source", "source", "--out", "dist", "--verbose"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONPATH": str(Path(pdf.__file__).parent.parent)})
        return done.stdout + done.stderr

    assert "print layout: all 5 parts laid out" in publisher_pdf()
    edit(tmp_path, "02-twee.md", "Tekst van de column.", "Tekst van de herziene column.")
    assert "print layout: 1 of 5 parts laid out (twee), the others reused" in publisher_pdf()
    expected = from_scratch(tmp_path, tmp_path / "scratch")[f"{SLUG}.pdf"]
    assert (tmp_path / "dist" / f"{SLUG}.pdf").read_bytes() == expected
