"""``publisher preview``: the issue in a browser while it is written, rebuilt on every save.

Contract: ``run(source, out, reporter, host=, port=, pdf=) -> exit code`` serves until Ctrl-C (or SIGTERM),
then returns 0.  ``PreviewServer(source, out, …)`` is the same thing as an object (``start()``, ``url``,
``stop()``) for callers that run it in a thread.

What it serves (and nothing else):

* ``/``: the contents: every article in reading order, linked, and the state of the PDF;
* ``/<NN-slug>.xhtml``: each article exactly as the EPUB's content document (``epub.article_document``),
  ``application/xhtml+xml`` like an e-reader parses it, with ``styles/base.css`` + ``styles/epub.css``;
* ``/images/…``: the images of the model; ``/styles/…``: the files of the styles folder (resolved, and
  refused if they lead outside it);
* ``/issue.pdf``: the print edition, rebuilt in the background (``publisher pdf`` in a child process, so
  the server stays responsive and Ctrl-C stops it) after each change that loads;
* ``/__version``: a number that changes when the pages do.  Every preview page — never an edition — gets
  a small script that polls it and reloads the page, and a bar with links to the neighbouring articles.

A source with problems is not an error here: every page shows the ``path:line: message`` list (escaped)
with status 200, and reloads itself once the problems are fixed.  Source and styles are watched with
watchfiles in a thread; requests are answered by ``http.server.ThreadingHTTPServer``.
"""

from __future__ import annotations

import errno
import hashlib
import html
import ipaddress
import mimetypes
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from publisher import model as m
from publisher.build import STYLES
from publisher.errors import PublisherError, SourceErrors, SourceProblem

VERSION_PATH = "/__version"
PDF_PATH = "/issue.pdf"
POLL_MS = 700
DEBOUNCE_MS = 150

XHTML_TYPE = "application/xhtml+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


# --- what is served -----------------------------------------------------------------------------------


Link = tuple[str, str]  # (href, title)


@dataclass(frozen=True)
class Rendering:
    files: dict[str, tuple[bytes, str]]
    neighbours: dict[str, tuple[Link | None, Link | None]]
    title: str
    slug: str


@dataclass(frozen=True)
class Snapshot:
    """One rendering of the source: every page and image, or the problems that stopped it."""

    content: int  # bumps when the pages (or styles) change
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (body, content type)
    neighbours: dict[str, tuple[Link | None, Link | None]] = field(default_factory=dict)  # page -> prev, next
    problems: tuple[str, ...] = ()
    title: str = ""
    slug: str = ""


@dataclass(frozen=True)
class PdfState:
    version: int = 0
    state: str = "off"  # off | waiting | building | ready | failed
    detail: str = ""
    path: Path | None = None


def render_site(source: Path) -> Rendering:
    """Article pages and images of the tree at ``source`` (raises SourceErrors)."""
    from publisher import epub
    from publisher.load import load_issue

    issue = load_issue(source)
    images = epub.article_images(issue)
    files: dict[str, tuple[bytes, str]] = {}
    neighbours: dict[str, tuple[Link | None, Link | None]] = {}
    links = [(epub.article_href(issue, a), a.title) for a in issue.articles]
    for number, article in enumerate(issue.articles):
        document = epub.article_document(issue, article, {}, images)
        files["/" + document.href] = (document.content, XHTML_TYPE)
        neighbours["/" + document.href] = (
            links[number - 1] if number else None, links[number + 1] if number + 1 < len(links) else None,
        )
    for resource in images.values():
        files["/" + resource.href] = (resource.content, resource.media_type)
    files["/"] = (_index_body(issue, [href for href, _ in links]).encode("utf-8"), HTML_TYPE)
    return Rendering(files, neighbours, f"{issue.title} {issue.issue_line}", issue.slug)


def _index_body(issue: m.Issue, hrefs: list[str]) -> str:
    rows = "\n".join(
        f'<li><a href="/{html.escape(href)}"><span class="kicker">{html.escape(a.kicker)}</span> '
        f'<span class="title">{html.escape(a.title)}</span></a> <span class="file">{html.escape(a.path)}</span></li>'
        for a, href in zip(issue.articles, hrefs)
    )
    return (
        f"<h1>{html.escape(issue.title)}</h1><p class=\"meta\">{html.escape(issue.issue_line)}</p>"
        f"<ol class=\"articles\">\n{rows}\n</ol>"
    )


# --- the state shared by the watcher, the PDF builder and the request handlers ----------------------------


class Site:
    """The current snapshot, rebuilt on demand; request handlers only ever read an immutable snapshot."""

    def __init__(self, source: Path, out: Path, pdf: bool):
        self.source, self.out = source, out
        self._lock = threading.Lock()
        self._digest = ""
        self.snapshot = Snapshot(0)
        self.pdf = PdfState(state="waiting" if pdf else "off")
        self.rebuild()

    @property
    def version(self) -> str:
        return f"{self.snapshot.content}.{self.pdf.version}"

    def rebuild(self, styles_changed: bool = False) -> Snapshot:
        """Render the source again; the content version moves only if something visible changed."""
        empty = Rendering({}, {}, "", "")
        try:
            rendering, problems = render_site(self.source), ()
        except SourceErrors as exc:
            rendering, problems = empty, tuple(str(p) for p in exc.problems)
        except PublisherError as exc:
            rendering, problems = empty, (f"error: {exc}",)
        except Exception as exc:  # noqa: BLE001 - the preview must survive a bug and show it
            rendering, problems = empty, (f"internal error: {type(exc).__name__}: {exc}",)
        digest = hashlib.sha256(repr((sorted((k, v[0]) for k, v in rendering.files.items()), problems)).encode())
        with self._lock:
            changed = digest.hexdigest() != self._digest or styles_changed
            self._digest = digest.hexdigest()
            content = self.snapshot.content + 1 if changed else self.snapshot.content
            self.snapshot = Snapshot(content, rendering.files, rendering.neighbours, problems, rendering.title,
                                     rendering.slug)
        return self.snapshot

    def set_pdf(self, state: str, detail: str = "", path: Path | None = None) -> None:
        with self._lock:
            self.pdf = PdfState(self.pdf.version + 1, state, detail, path)


# --- the PDF in the background ----------------------------------------------------------------------------


class PdfBuilder(threading.Thread):
    """Rebuilds the PDF in a child process whenever asked; one build at a time, the latest request wins."""

    def __init__(self, site: Site):
        super().__init__(name="preview-pdf", daemon=True)
        self.site = site
        self.wanted = threading.Event()
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def request(self) -> None:
        self.wanted.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            if not self.wanted.wait(0.2):
                continue
            self.wanted.clear()
            self._build_once()

    def _build_once(self) -> None:
        self.site.set_pdf("building")
        started = time.perf_counter()
        slug = self.site.snapshot.slug
        command = [sys.executable, "-m", "publisher", "pdf", "--source", str(self.site.source),
                   "--out", str(self.site.out), "--quiet"]
        with self._lock:
            if self.stopping.is_set():
                return
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)
        _, errors = self.process.communicate()
        code, self.process = self.process.returncode, None
        if self.stopping.is_set():
            return
        if code == 0:
            seconds = time.perf_counter() - started
            path = self.site.out / f"{slug}.pdf"
            self.site.set_pdf("ready", f"laid out in {seconds:.0f} s at {time.strftime('%H:%M:%S')}", path)
        elif not self.wanted.is_set():  # a newer request makes this failure old news
            self.site.set_pdf("failed", errors.strip().splitlines()[0] if errors.strip() else f"exit code {code}")

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()


# --- watching the tree -----------------------------------------------------------------------------------


class Watcher(threading.Thread):
    """Rebuild after every change in the source or styles folder."""

    def __init__(self, site: Site, on_rebuilt):
        super().__init__(name="preview-watch", daemon=True)
        self.site = site
        self.on_rebuilt = on_rebuilt
        self.stopping = threading.Event()
        self.ready = threading.Event()  # set once the folders are being watched

    def run(self) -> None:
        import watchfiles

        folders = [self.site.source, STYLES]
        # yield_on_timeout: the first (empty) yield proves the watch is in place
        for changes in watchfiles.watch(*folders, stop_event=self.stopping, debounce=DEBOUNCE_MS, step=50,
                                        raise_interrupt=False, rust_timeout=200, yield_on_timeout=True):
            if not self.ready.is_set():
                self.ready.set()
                self.site.rebuild()  # a save between the first rendering and the watch start is not lost
            if not changes:
                continue
            styles = any(Path(path).resolve().is_relative_to(STYLES.resolve()) for _, path in changes)
            self.on_rebuilt(self.site.rebuild(styles_changed=styles), changes)

    def stop(self) -> None:
        self.stopping.set()


# --- HTTP ------------------------------------------------------------------------------------------------


def clean_path(raw: str) -> str | None:
    """The request path, percent-decoded, or None if it tries to leave the served folders."""
    if not raw.startswith("/"):
        return None
    try:
        path = unquote(urlsplit(raw).path, errors="strict")
    except UnicodeDecodeError:  # %ff and friends: no file of ours has such a name
        return None
    if "\\" in path or "\x00" in path:
        return None
    parts = path.split("/")[1:]
    if any(part in (".", "..") for part in parts) or any(part == "" for part in parts[:-1]):
        return None
    return path


def style_file(path: str) -> Path | None:
    """``/styles/<file>`` as a file inside the styles folder, or None."""
    root = STYLES.resolve()
    target = (root / path.removeprefix("/styles/")).resolve()
    return target if target.is_relative_to(root) and target.is_file() else None


class Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def _answer(self, with_body: bool) -> None:
        site = self.server.site
        path = clean_path(self.path)
        if path is None:
            return self._send(HTTPStatus.NOT_FOUND, _page("Not found", "<p>No such page.</p>", site.version), HTML_TYPE, with_body)
        if path == VERSION_PATH:
            return self._send(HTTPStatus.OK, site.version.encode(), "text/plain; charset=utf-8", with_body)
        if path.startswith("/styles/"):
            found = style_file(path)
            if found is None:
                return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain", with_body)
            kind = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
            return self._send(HTTPStatus.OK, found.read_bytes(), _with_charset(kind), with_body)
        if path == PDF_PATH:
            pdf = site.pdf
            if pdf.state == "ready" and pdf.path is not None and pdf.path.is_file():
                return self._send(HTTPStatus.OK, pdf.path.read_bytes(), "application/pdf", with_body)
            return self._send(HTTPStatus.NOT_FOUND, _page("No PDF yet", f"<p>The PDF is {pdf.state}.</p>", site.version), HTML_TYPE, with_body)
        snapshot = site.snapshot
        if snapshot.problems and (path == "/" or path.endswith(".xhtml")):
            return self._send(HTTPStatus.OK, _problems_page(snapshot.problems, site.version), HTML_TYPE, with_body)
        if path == "/index.html":
            path = "/"
        entry = snapshot.files.get(path)
        if entry is None:
            return self._send(HTTPStatus.NOT_FOUND, _page("Not found", '<p>No such page. <a href="/">Contents</a></p>', site.version), HTML_TYPE, with_body)
        body, kind = entry
        if path == "/":
            body = _page(snapshot.title, body.decode("utf-8") + _pdf_line(site.pdf), site.version, watch_pdf=True)
        elif kind == XHTML_TYPE:
            body = inject(body, site.version, snapshot.neighbours.get(path, (None, None)))
        self._send(HTTPStatus.OK, body, kind, with_body)

    def _send(self, status: HTTPStatus, body: bytes, kind: str, with_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_request(self, code="-", size="-") -> None:
        if not str(code).startswith("2"):  # the page polls every second: only refusals are worth a line
            super().log_request(code, size)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        self.server.log(f"{self.address_string()} {format % args}")


def _with_charset(kind: str) -> str:
    return f"{kind}; charset=utf-8" if kind.startswith("text/") else kind


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, site: Site, log):
        self.site = site
        self.log = log
        super().__init__(address, Handler)

    def handle_error(self, request, client_address) -> None:
        """A browser that reloads mid-answer closes the connection: not worth a traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            self.log(f"error answering {client_address[0]}: {type(error).__name__}: {error}")


# --- the injected script and the preview-only pages ----------------------------------------------------------


def reload_script(version: str, watch_pdf: bool = False) -> str:
    """Poll /__version; reload when the pages change (the contents page also when the PDF does)."""
    part = "v" if watch_pdf else "v.split('.')[0]"
    return (
        "<script>//<![CDATA[\n"
        f"(function(){{var seen=\"{version}\";function key(v){{return {part};}}"
        f"setInterval(function(){{fetch(\"{VERSION_PATH}\",{{cache:\"no-store\"}})"
        ".then(function(r){return r.text();})"
        ".then(function(v){if(key(v)!==key(seen)){location.reload();}})"
        f".catch(function(){{}});}},{POLL_MS});}})();\n"
        "//]]></script>"
    )


_BAR_STYLE = (
    "font:0.85rem/1.4 system-ui,sans-serif;display:flex;gap:1.5em;padding:0.4em 0.8em;margin:0 0 1.5em;"
    "border-bottom:1px solid #b8ccd6;background:#f4f8fa;color:#1a1a1a"
)


def inject(document: bytes, version: str, neighbours: tuple[Link | None, Link | None]) -> bytes:
    """An article document with the preview bar after <body> and the reload script before </body>."""
    text = document.decode("utf-8")
    links = ['<a href="/">Contents</a>']
    previous, following = neighbours
    if previous:
        links.append(f'<a href="/{html.escape(previous[0])}">← {html.escape(previous[1])}</a>')
    if following:
        links.append(f'<a href="/{html.escape(following[0])}">{html.escape(following[1])} →</a>')
    bar = f'<nav class="publisher-preview" style="{_BAR_STYLE}" aria-label="Preview">{"".join(links)}</nav>'
    body_start = text.index(">", text.index("<body")) + 1
    body_end = text.rindex("</body>")
    text = text[:body_start] + bar + text[body_start:body_end] + reload_script(version) + text[body_end:]
    return text.encode("utf-8")


_PAGE_STYLE = """
body { font: 1rem/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; }
h1 { color: #005b7f; margin-bottom: 0.2rem; } .meta { margin-top: 0; color: #4a4a4a; }
.articles li { margin: 0.5rem 0; } .kicker { display: block; font-size: 0.8rem; color: #005b7f; }
.title { font-weight: 600; } .file { font-size: 0.8rem; color: #4a4a4a; }
.problems { background: #fff4f2; border-left: 4px solid #b3261e; padding: 0.6rem 1rem; }
.problems li { font-family: ui-monospace, monospace; font-size: 0.9rem; margin: 0.3rem 0; }
.note { font-size: 0.85rem; color: #4a4a4a; }
"""


def _page(title: str, body: str, version: str, watch_pdf: bool = False) -> bytes:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\" />"
        f"<title>{html.escape(title)} (preview)</title><style>{_PAGE_STYLE}</style></head><body>\n"
        f"{body}\n<p class=\"note\">Preview: this page reloads by itself when a file in the source or styles "
        f"folder changes.</p>\n{reload_script(version, watch_pdf)}\n</body></html>\n"
    ).encode("utf-8")


def _problems_page(problems: tuple[str, ...], version: str) -> bytes:
    count = len(problems)
    items = "\n".join(f"<li>{html.escape(problem)}</li>" for problem in problems)
    body = (
        f"<h1>The source has {count} problem{'s' if count != 1 else ''}</h1>"
        f"<ul class=\"problems\">\n{items}\n</ul>"
        "<p>Fix them and save: the page comes back by itself.</p>"
    )
    return _page("Problems in the source", body, version, watch_pdf=True)


def _pdf_line(pdf: PdfState) -> str:
    states = {
        "off": "The PDF is not rebuilt in this preview (--no-pdf).",
        "waiting": "The PDF will be laid out in the background.",
        "building": "The PDF is being laid out in the background …",
        "ready": f'<a href="{PDF_PATH}">The print edition (PDF)</a>, {html.escape(pdf.detail)}.',
        "failed": f"The PDF could not be built: {html.escape(pdf.detail)}",
    }
    return f"<p class=\"pdf\">{states[pdf.state]}</p>"


# --- running it ------------------------------------------------------------------------------------------------


class PreviewServer:
    """The preview as an object: ``start()`` binds and serves in threads, ``stop()`` ends everything."""

    def __init__(self, source: Path, out: Path, *, host: str = "127.0.0.1", port: int = 8000, pdf: bool = True,
                 log=lambda message: None, on_rebuilt=lambda snapshot, changes: None):
        if not source.is_dir():
            raise SourceErrors([SourceProblem(str(source), 0, "source folder does not exist")])
        self.site = Site(source, out, pdf)
        self.server = _Server((host, port), self.site, log)
        self.pdf = PdfBuilder(self.site) if pdf else None
        self.watcher = Watcher(self.site, self._rebuilt)
        self._on_rebuilt = on_rebuilt
        self._serving: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def _rebuilt(self, snapshot: Snapshot, changes) -> None:
        if self.pdf is not None and not snapshot.problems:
            self.pdf.request()
        self._on_rebuilt(snapshot, changes)

    def start(self, serve_in_thread: bool = True) -> None:
        """Watch, build the PDF, serve; returns once a change to the tree can no longer be missed."""
        self.watcher.start()
        self.watcher.ready.wait(timeout=10)
        if self.pdf is not None:
            self.pdf.start()
            if not self.site.snapshot.problems:
                self.pdf.request()
        if serve_in_thread:
            self._serving = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                             name="preview-http", daemon=True)
            self._serving.start()

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.watcher.stop()
        if self.pdf is not None:
            self.pdf.stop()
        if self._serving is not None:
            self.server.shutdown()
        self.server.server_close()
        for thread in (self.watcher, self.pdf):
            if thread is not None and thread.is_alive():
                thread.join(timeout=5)


def run(source: Path, out: Path, reporter, *, host: str, port: int, pdf: bool) -> int:
    def rebuilt(snapshot: Snapshot, changes) -> None:
        names = ", ".join(sorted({Path(path).name for _, path in changes if Path(path).exists()})) or "a file"
        if snapshot.problems:
            reporter.problem(f"{names} changed: {len(snapshot.problems)} problem(s), shown in the page:")
            for problem in snapshot.problems:
                reporter.problem(f"  {problem}")
        else:
            reporter.info(f"{names} changed: rebuilt")

    try:
        preview = PreviewServer(source, out, host=host, port=port, pdf=pdf, log=reporter.info, on_rebuilt=rebuilt)
    except OSError as exc:
        reason = "is in use by another program; try --port 0 (any free port)" if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc.strerror or exc}"
        reporter.problem(f"error: {host}:{port} {reason}")
        reporter.summary("the preview did not start", ok=False)
        return 1
    if not _is_loopback(host):
        reporter.problem(f"warning: serving on {host}: other computers on the network can see the preview")
    previous = _stop_on_signals()
    try:
        preview.start(serve_in_thread=False)
        for problem in preview.site.snapshot.problems:
            reporter.problem(problem)
        reporter.summary(f"preview of {source} at {preview.url} (Ctrl-C stops it)", ok=True)
        preview.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        preview.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    reporter.result("preview stopped")
    return 0


def _stop_on_signals() -> dict:
    """Ctrl-C and SIGTERM stop the preview, even where SIGINT was inherited as ignored (a background job).

    Only the main thread may set handlers; a preview run from another thread is stopped with ``stop()``.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    return {signum: signal.signal(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
