"""`publisher preview` against a real server: a child process on a free port, real HTTP requests.

Every wait polls with a deadline (no sleep-and-hope): the watcher, the rebuild and the background PDF are
asynchronous by design.
"""

from __future__ import annotations

import http.client
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from lxml import etree

from publisher import preview
from publisher.cli import main

ROOT = Path(__file__).resolve().parent.parent
SECRET = "this file must never be served"

ISSUE_YAML = """\
title: Test Magazine
subtitle: Magazine om te testen
tagline: Een twee drie
slug: test-2024-01
number: 1
volume: 1
date: 2024-01-01
date_label: Januari 2024
publisher: Testuitgever
language: nl
url: https://example.org/magazine
cover:
  lines:
    - text: Het eerste artikel
      article: eerste
back_cover:
  teasers:
    - title: Lees verder online
      url: https://example.org/magazine
order:
  - eerste
  - tweede
"""

FIRST = """\
---
slug: eerste
kind: feature
rubric: Reportage
title: De eerste titel
---

Een alinea met gewone woorden over de arbeidsmarkt.

## Een tussenkop

Nog een alinea.
"""

SECOND = """\
---
slug: tweede
kind: interview
rubric: Interview
title: De tweede titel
---

::: question
Wat is de vraag?
:::

Het antwoord.
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    (source / "articles").mkdir(parents=True)
    (source / "issue.yaml").write_text(ISSUE_YAML, encoding="utf-8")
    (source / "articles" / "01-eerste.md").write_text(FIRST, encoding="utf-8")
    (source / "articles" / "02-tweede.md").write_text(SECOND, encoding="utf-8")
    (tmp_path / "secret.txt").write_text(SECRET, encoding="utf-8")
    return source


class Server:
    """``python -m publisher preview --port 0`` in a child process, and requests to it."""

    def __init__(self, source: Path, *extra: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "publisher", "preview", "--source", str(source), "--out",
             str(source.parent / "dist"), "--port", "0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=ROOT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.lines.get(timeout=30)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert match, first
        self.port = int(match.group(1))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def get(self, path: str) -> tuple[int, str, bytes]:
        """GET ``path`` exactly as written (http.client does not normalise ``..``)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            connection.close()

    def text(self, path: str) -> str:
        return self.get(path)[2].decode("utf-8")

    def stop(self) -> tuple[int, str, str]:
        """Ctrl-C, then the exit code and what was printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        assert self.process.stderr is not None
        rest = "".join(_drain(self.lines))
        return code, rest, self.process.stderr.read()


def _drain(lines: queue.Queue[str]) -> Iterator[str]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        yield line
        if "preview stopped" in line:
            return


@pytest.fixture
def server(tree: Path) -> Iterator[Server]:
    running = Server(tree, "--no-pdf")
    yield running
    code, _, err = running.stop()
    assert code == 0 and "Traceback" not in err, err


def wait_until(condition: Callable[[], bool], timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for: {what}")


# --- pages ------------------------------------------------------------------------------------------------


def test_index_lists_the_articles_in_reading_order(server: Server) -> None:
    status, kind, body = server.get("/")
    page = body.decode("utf-8")
    assert (status, kind) == (200, "text/html; charset=utf-8")
    assert page.index('href="/01-eerste.xhtml"') < page.index('href="/02-tweede.xhtml"')
    assert "De eerste titel" in page and "De tweede titel" in page
    assert "articles/01-eerste.md" in page
    assert preview.VERSION_PATH in page  # the reload script


def test_an_article_is_its_epub_document_with_the_reload_script(server: Server) -> None:
    status, kind, body = server.get("/01-eerste.xhtml")
    assert (status, kind) == (200, "application/xhtml+xml; charset=utf-8")
    root = etree.fromstring(body)  # still well-formed XML after the injection
    xhtml = "{http://www.w3.org/1999/xhtml}"
    assert root.find(f".//{xhtml}h1").text == "De eerste titel"
    assert [link.get("href") for link in root.iter(f"{xhtml}link")][-2:] == ["styles/base.css", "styles/epub.css"]
    scripts = list(root.iter(f"{xhtml}script"))
    assert len(scripts) == 1 and preview.VERSION_PATH in scripts[0].text
    assert 'href="/02-tweede.xhtml"' in body.decode("utf-8")  # the preview bar links the next article
    status, kind, css = server.get("/styles/epub.css")
    assert (status, kind) == (200, "text/css; charset=utf-8") and css == (ROOT / "styles" / "epub.css").read_bytes()
    assert server.get("/nergens.xhtml")[0] == 404


def test_editing_an_article_changes_the_version_and_the_page(server: Server, tree: Path) -> None:
    before = server.text(preview.VERSION_PATH)
    article = tree / "articles" / "01-eerste.md"
    article.write_text(FIRST.replace("gewone woorden", "vers geschreven woorden"), encoding="utf-8")

    wait_until(lambda: server.text(preview.VERSION_PATH) != before, what="/__version to change")
    wait_until(lambda: "vers geschreven woorden" in server.text("/01-eerste.xhtml"), what="the new text")
    assert "gewone woorden" not in server.text("/01-eerste.xhtml")


def test_a_broken_edit_is_shown_in_the_page_and_the_server_keeps_running(server: Server, tree: Path) -> None:
    article = tree / "articles" / "01-eerste.md"
    article.write_text(FIRST.replace("kind: feature", "kind: <script>alert(1)</script>"), encoding="utf-8")

    wait_until(lambda: "problem" in server.text("/01-eerste.xhtml"), what="the problem page")
    status, kind, body = server.get("/01-eerste.xhtml")
    page = body.decode("utf-8")
    assert (status, kind) == (200, "text/html; charset=utf-8")
    assert "The source has 1 problem" in page
    assert "source/articles/01-eerste.md:3: " in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert preview.VERSION_PATH in page  # it reloads itself once fixed
    assert "The source has 1 problem" in server.text("/")

    article.write_text(FIRST, encoding="utf-8")
    wait_until(lambda: "De eerste titel" in server.text("/01-eerste.xhtml"), what="the page to come back")
    assert server.process.poll() is None


TRAVERSALS = (
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/styles/../../source/issue.yaml",
    "/styles/%2e%2e/pyproject.toml",
    "/styles/..%2fpyproject.toml",
    "/styles/%2E%2E%2F%2E%2E%2Fsecret.txt",
    "/styles//etc/passwd",
    "/styles/%2fetc%2fpasswd",
    "/styles/fonts/../../pyproject.toml",
    "/issue.yaml",
    "/articles/01-eerste.md",
    "/images/../issue.yaml",
    "/%ff%fe",
)


def test_paths_outside_the_served_files_are_refused(server: Server) -> None:
    for path in TRAVERSALS:
        status, _, body = server.get(path)
        assert status == 404, path
        assert SECRET.encode() not in body and b"[project]" not in body and b"slug:" not in body, path


def test_ctrl_c_stops_the_server_cleanly(tree: Path) -> None:
    running = Server(tree, "--no-pdf")
    assert running.get("/")[0] == 200
    code, out, err = running.stop()
    assert code == 0
    assert "preview stopped" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1)


def test_the_pdf_is_rebuilt_in_the_background(tree: Path) -> None:
    running = Server(tree)
    try:
        wait_until(lambda: 'href="/issue.pdf"' in running.text("/"), timeout=90, what="the background PDF")
        status, kind, body = running.get("/issue.pdf")
        assert (status, kind) == (200, "application/pdf") and body.startswith(b"%PDF-")
        assert body == (tree.parent / "dist" / "test-2024-01.pdf").read_bytes()
    finally:
        code, _, err = running.stop()
    assert code == 0 and "Traceback" not in err


# --- in-process -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("/", "/"),
    ("/01-eerste.xhtml?x=1", "/01-eerste.xhtml"),
    ("/styles/fonts/a%20b.woff2", "/styles/fonts/a b.woff2"),
    ("/../x", None),
    ("/%2e%2e/x", None),
    ("/a/%2E/b", None),
    ("/a//b", None),
    ("/a%5cb", None),
    ("/a%00b", None),
    ("/%ff", None),
    ("http://elsewhere/x", None),
])
def test_clean_path(raw: str, expected: str | None) -> None:
    assert preview.clean_path(raw) == expected


def test_a_port_in_use_is_reported_without_a_traceback(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["preview", "--source", str(tree), "--port", str(port), "--no-pdf"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} is in use" in err and "--port 0" in err
