"""``publisher check``: everything that must hold before an issue goes out, in one run and one table.

Contract: ``run(source, out, reporter) -> exit code`` (0 only when every check passes, else 1).  The checks,
one row each:

* ``source``    the tree loads (every ``path:line`` problem) and holds no template text of ``publisher new``;
* ``build``     both editions are built into ``out`` through ``Builder`` (so an unchanged tree reuses the
                cached layout);
* ``epubcheck`` W3C EPUBCheck: no fatal, error or warning;
* ``ace``       DAISY Ace: no accessibility violation;
* ``pdf``       the print rules of ``checks.pdf_findings`` (tags, embedded fonts, trim and bleed boxes …);
* ``text``      both editions carry the same words in the same order (``textcompare``).

The last four run side by side (they are separate programs, mostly).  A check that cannot run because a
tool is missing fails, with the command that installs it; checks after a failed source or build are "not
run".  Findings are printed above the table as ``tool: severity: location: message``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from publisher import model as m
from publisher.checks import Finding, ToolFailed, ToolMissing
from publisher.errors import Problems, PublisherError, SourceErrors

SETUP = "bash scripts/setup.sh"
TEXT_DIFFERENCES_SHOWN = 10
CHECK_NAMES = ("source", "build", "epubcheck", "ace", "pdf", "text")


@dataclass
class Row:
    """One line of the summary table."""

    name: str
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    ran: bool = True
    hidden: int = 0  # findings counted but not printed (long text comparisons)
    notes: list[str] = field(default_factory=list)  # what was checked, for --verbose

    @property
    def ok(self) -> bool:
        return self.ran and not self.findings

    @property
    def count(self) -> int:
        return len(self.findings) + self.hidden

    @property
    def result(self) -> str:
        return "not run" if not self.ran else ("ok" if self.ok else "FAILED")


def run(source: Path, out: Path, reporter) -> int:
    rows: list[Row] = []
    reporter.step(f"loading {source}")
    issue, row = _timed("source", lambda: check_source(source))
    rows.append(row)
    paths = None
    if issue is not None:
        reporter.step("building both editions")
        paths, row = _timed("build", lambda: build_editions(source, out, reporter.step))
        rows.append(row)
    if paths is not None:
        reporter.step("running EPUBCheck, Ace, the PDF checks and the text comparison")
        rows += run_validators(*paths, issue, Problems(source).display(source))
    reporter.end_step()
    rows += [Row(name, ran=False) for name in CHECK_NAMES if name not in {r.name for r in rows}]

    for row in rows:
        for note in row.notes:
            reporter.info(f"{row.name}: {note}")
        for finding in row.findings:
            reporter.problem(format_finding(finding))
        if row.hidden:
            reporter.problem(f"{row.name}: … and {row.hidden} more")
    for line in table(rows):
        reporter.result(line)
    failed = [row for row in rows if not row.ok]
    if failed:
        reporter.summary(f"{len(failed)} of {len(rows)} checks FAILED: {', '.join(r.name for r in failed)}", ok=False)
        return 1
    epub, pdf = paths  # type: ignore[misc]
    reporter.summary(f"all {len(rows)} checks passed: {epub} and {pdf} are ready", ok=True)
    return 0


# --- the checks ---------------------------------------------------------------------------------------


def check_source(source: Path) -> tuple[m.Issue | None, list[Finding]]:
    from publisher.load import load_issue
    from publisher.scaffold import placeholder_problems

    try:
        issue = load_issue(source)
    except SourceErrors as exc:
        return None, [_source_finding(problem) for problem in exc.problems]
    return issue, [_source_finding(problem) for problem in placeholder_problems(source)]


def _source_finding(problem) -> Finding:
    location = f"{problem.path}:{problem.line}" if problem.line else problem.path
    return Finding("source", "error", problem.message, location)


def build_editions(source: Path, out: Path, progress: Callable[[str], None]) -> tuple[tuple[Path, Path] | None, list[Finding]]:
    from publisher.build import Builder

    try:
        written = {item.target: item.path for item in Builder(source, out, progress=progress).build(("epub", "pdf"))}
    except SourceErrors as exc:  # the tree changed between the two steps
        return None, [_source_finding(problem) for problem in exc.problems]
    except PublisherError as exc:
        return None, [Finding("build", "error", str(exc), "")]
    return (written["epub"], written["pdf"]), []


def run_validators(epub: Path, pdf: Path, issue: m.Issue, folder: str = "") -> list[Row]:
    """EPUBCheck, Ace, the PDF rules and the text comparison, side by side; rows in that order.

    ``folder``: the source folder as findings name it (``source``), so text differences read
    ``source/articles/…:line`` like every other problem in the source.
    """
    from publisher import checks

    notes: list[str] = []
    jobs: dict[str, Callable[[], list[Finding]]] = {
        "epubcheck": lambda: checks.epubcheck(epub),
        "ace": lambda: checks.ace(epub),
        "pdf": lambda: checks.pdf_findings(pdf),
        "text": lambda: compare_text(epub, pdf, issue, notes, folder),
    }
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {
            name: pool.submit(_timed, name, lambda name=name, job=job: (None, _guarded(name, job)))
            for name, job in jobs.items()
        }
        rows = [futures[name].result()[1] for name in jobs]
    text_row = rows[-1]
    text_row.notes = notes
    if len(text_row.findings) > TEXT_DIFFERENCES_SHOWN:
        text_row.hidden = len(text_row.findings) - TEXT_DIFFERENCES_SHOWN
        text_row.findings = text_row.findings[:TEXT_DIFFERENCES_SHOWN]
    return rows


def compare_text(epub: Path, pdf: Path, issue: m.Issue, notes: list[str], folder: str = "") -> list[Finding]:
    """Differences between the words of the two editions; what was and was not compared goes to ``notes``."""
    from publisher.textcompare import compare_editions

    comparison = compare_editions(epub, pdf, issue, folder)
    notes.append(f"{comparison.words} words compared")
    notes += [f"as expected, {text}" for text in comparison.accepted]
    notes += [f"not compared: {text}" for text in comparison.not_compared]
    return [Finding("text", "error", f"{d.kind}: {d.message}", d.location) for d in comparison.differences]


def _guarded(name: str, job: Callable[[], list[Finding]]) -> list[Finding]:
    """A check that cannot run is a failed check, with what to do about it."""
    try:
        return job()
    except ToolMissing as exc:
        message = str(exc) if SETUP in str(exc) else f"{exc}; install it with: {SETUP}"
        return [Finding(name, "missing", message, "")]
    except ToolFailed as exc:
        return [Finding(name, "error", f"the check did not finish: {exc}", "")]
    except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others' results
        return [Finding(name, "error", f"the check crashed: {type(exc).__name__}: {exc}", "")]


def _timed(name: str, job: Callable[[], tuple[object, list[Finding]]]) -> tuple[object, Row]:
    started = time.perf_counter()
    value, findings = job()
    return value, Row(name, list(findings), time.perf_counter() - started)


# --- output -------------------------------------------------------------------------------------------


def format_finding(finding: Finding) -> str:
    parts = [finding.tool, finding.severity, finding.location, finding.message]
    return ": ".join(part for part in parts if part)


def table(rows: list[Row]) -> list[str]:
    """The summary table: check, result, count, time."""
    lines = [f"{'check':<10}  {'result':<7}  {'count':>5}  {'time':>7}"]
    for row in rows:
        seconds = f"{row.seconds:.1f} s" if row.ran else "–"
        count = str(row.count) if row.ran else "–"
        lines.append(f"{row.name:<10}  {row.result:<7}  {count:>5}  {seconds:>7}")
    return lines
