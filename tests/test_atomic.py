"""Nothing is lost: a failed or interrupted build leaves the editions already in the output folder exactly
as they were, and no temporary or partial file behind.

Each test starts from a folder holding the editions of a small valid tree (built once per module, copied per
test), changes the source so that a new layout is needed, makes the build fail at one point -- a source
error, a BuildError or another exception in the middle of packaging, a rename or a write that fails, Ctrl-C --
and compares the output folder byte for byte.
"""

from __future__ import annotations

import errno
import os
import shutil
import tracemalloc
from pathlib import Path

import pytest

from hostile.tree import make_tree
from publisher import cli
from publisher.build import CACHE_FOLDER, Builder
from publisher.errors import BuildError

SLUG = "proefblad-2024-01"
EDITIONS = (f"{SLUG}.epub", f"{SLUG}.pdf")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A source tree and the output folder of one successful `publisher build`."""
    root = tmp_path_factory.mktemp("built")
    source = make_tree(root, {"id": "atomic"})
    assert cli.main(["build", "--source", str(source), "--out", str(root / "dist"), "--quiet"]) == cli.EXIT_OK
    assert sorted(p.name for p in (root / "dist").iterdir() if p.is_file()) == sorted(EDITIONS)
    return root


@pytest.fixture
def work(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built tree whose source now needs a new layout (a word changed)."""
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    article = tmp_path / "source" / "articles" / "01-een.md"
    article.write_text(article.read_text("utf-8").replace("Tweede alinea.", "Tweede, herziene alinea."), "utf-8")
    return tmp_path


def editions(root: Path) -> dict[str, bytes]:
    """Every file of the output folder outside the layout cache, with its bytes."""
    out = root / "dist"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and CACHE_FOLDER not in p.relative_to(out).parts}


def leftovers(root: Path) -> list[str]:
    """Temporary or partial files anywhere in the output folder (the cache included)."""
    out = root / "dist"
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_file() and (p.name.endswith(".tmp") or (p.name.startswith(".") and p.name != CACHE_FOLDER)))


def build(root: Path, *targets: str) -> int:
    command = "build" if not targets else targets[0]
    return cli.main([command, "--source", str(root / "source"), "--out", str(root / "dist"), "--quiet"])


def fail_with(exception: BaseException):
    def fail(*args, **kwargs):
        raise exception

    return fail


def test_a_rebuild_after_the_change_does_replace_the_editions(work: Path) -> None:
    # the control experiment: without a failure the changed source gives new editions
    before = editions(work)
    assert build(work) == cli.EXIT_OK
    after = editions(work)
    assert after.keys() == before.keys() and all(after[name] != before[name] for name in EDITIONS)
    assert leftovers(work) == []


def test_a_source_error_leaves_the_editions(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = editions(work)
    (work / "source" / "articles" / "02-twee.md").write_text("---\nslug: twee\n---\n\n<script>x</script>\n", "utf-8")
    assert build(work) == cli.EXIT_FAILED
    assert "nothing was written" in capsys.readouterr().err
    assert editions(work) == before and leftovers(work) == []


def test_a_build_error_in_the_print_layout_leaves_the_editions(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher import pdf

    before = editions(work)
    monkeypatch.setattr(pdf, "pdf_bytes", fail_with(BuildError("PDF: injected failure")))
    assert build(work) == cli.EXIT_FAILED
    assert editions(work) == before and leftovers(work) == []


def test_a_build_error_in_the_epub_leaves_the_editions(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher import epub

    before = editions(work)
    monkeypatch.setattr(epub, "build_epub", fail_with(BuildError("EPUB: injected failure")))
    assert build(work) == cli.EXIT_FAILED
    assert editions(work) == before and leftovers(work) == []


def test_a_crash_in_the_epub_leaves_the_editions(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # not a PublisherError: the CLI lets it through (a bug shows its traceback), but nothing is damaged
    from publisher import epub

    before = editions(work)
    monkeypatch.setattr(epub, "build_epub", fail_with(RuntimeError("injected bug")))
    with pytest.raises(RuntimeError, match="injected bug"):
        build(work)
    assert editions(work) == before and leftovers(work) == []


def test_ctrl_c_during_the_layout_leaves_the_editions(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher import pdf

    before = editions(work)
    monkeypatch.setattr(pdf, "pdf_bytes", fail_with(KeyboardInterrupt()))
    assert build(work) == 130
    assert editions(work) == before and leftovers(work) == []


def test_ctrl_c_while_an_edition_is_written_leaves_no_partial_file(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = editions(work)
    real_fsync = os.fsync

    def interrupted_fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith(f".{SLUG}.epub."):
            raise KeyboardInterrupt  # the temporary file holds the new EPUB, not yet renamed
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    assert build(work) == 130
    assert editions(work) == before and leftovers(work) == []


def test_a_full_disk_leaves_the_editions(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = editions(work)
    real_fsync = os.fsync

    def full(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith(f".{SLUG}."):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    assert build(work) == cli.EXIT_FAILED
    assert editions(work) == before and leftovers(work) == []


def test_a_failed_rename_of_the_first_edition_leaves_the_editions(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = editions(work)
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith(".epub"):
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    assert build(work) == cli.EXIT_FAILED
    assert editions(work) == before and leftovers(work) == []


def test_a_failed_rename_of_the_second_edition_leaves_both_editions(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `build` writes the EPUB, then the PDF: when the PDF cannot be written, the folder must not be left
    # holding a new EPUB beside the old PDF (two editions of different sources)
    before = editions(work)
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith(f"{SLUG}.pdf"):
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    assert build(work) == cli.EXIT_FAILED
    assert editions(work) == before and leftovers(work) == []


def test_the_builder_raises_and_leaves_the_editions(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher import pdf

    before = editions(work)
    monkeypatch.setattr(pdf, "lay_out", fail_with(BuildError("injected layout failure")))
    with pytest.raises(BuildError, match="injected layout failure"):
        Builder(work / "source", work / "dist").build(["epub", "pdf"])
    assert editions(work) == before and leftovers(work) == []


def test_a_damaged_cache_is_never_copied_into_an_edition(built: Path, tmp_path: Path) -> None:
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    good = editions(tmp_path)
    for cached in (tmp_path / "dist" / CACHE_FOLDER).rglob("edition.*"):
        if not cached.name.endswith(".sha256"):
            data = bytearray(cached.read_bytes())
            data[len(data) // 2] ^= 0xFF  # one flipped byte, as a failing disk would
            cached.write_bytes(bytes(data))
    (tmp_path / "dist" / EDITIONS[0]).unlink()
    (tmp_path / "dist" / EDITIONS[1]).unlink()
    assert build(tmp_path) == cli.EXIT_OK
    assert editions(tmp_path) == good and leftovers(tmp_path) == []


def test_a_huge_file_in_the_source_folder_does_not_fill_the_memory(built: Path, tmp_path: Path) -> None:
    # The layout cache key hashes the source tree; a 300 MB file nobody references (a video dropped in
    # images/) must be hashed in pieces, not read whole.  The file is sparse: it costs no disk.
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    with open(tmp_path / "source" / "images" / "video.mov", "wb") as handle:
        handle.truncate(300 * 1024 * 1024)
    tracemalloc.start()
    try:
        Builder(tmp_path / "source", tmp_path / "dist").cache_key(0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"hashing the source took {peak // 2**20} MiB"
