"""The command line: ``publisher`` / ``python -m publisher``.

The only module that prints or picks exit codes: 0 success, 1 the source or a build is wrong, 2 usage
error (argparse's own convention).  Source problems are printed as ``path:line: message``, all at once,
followed by a one-line summary; a user error never shows a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, TextIO

from publisher import __version__
from publisher.errors import PublisherError, SourceErrors

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EXAMPLES = {
    "epub": "publisher epub --source source --out dist   # writes dist/<slug>.epub",
    "pdf": "publisher pdf --crop-marks                  # a proof with crop marks",
    "build": "publisher build                             # both editions, one layout",
    "html": "publisher html && weasyprint dist/<slug>.html same.pdf",
    "check": "publisher check                             # everything, before sending the issue out",
    "preview": "publisher preview --port 8000              # then open http://127.0.0.1:8000/",
    "new": "publisher new mijn-artikel --title 'Titel' --rubric Interview --kind interview",
}


class Reporter:
    """Progress and result lines on stderr/stdout; a live elapsed-time line only on a terminal."""

    def __init__(self, quiet: bool = False, verbose: bool = False, out: TextIO | None = None, err: TextIO | None = None):
        # sys.stdout/sys.stderr looked up now, not at import: callers (and tests) may have replaced them
        self.quiet, self.verbose = quiet, verbose
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.live = self.err.isatty() and not quiet
        self.color = self.live and not os.environ.get("NO_COLOR")
        self._ticker: threading.Thread | None = None
        self._step: tuple[str, float] | None = None
        self._stop = threading.Event()

    def step(self, message: str) -> None:
        """A step that may take seconds: a ticking line on a terminal, a plain line elsewhere."""
        self.end_step()
        if self.quiet:
            return
        if not self.live:
            print(f"{message} …", file=self.err, flush=True)
            return
        self._step = (message, time.perf_counter())
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while self._step and not self._stop.wait(0.2):
            message, started = self._step
            self.err.write(f"\r{message} … {time.perf_counter() - started:4.1f} s")
            self.err.flush()

    def end_step(self) -> None:
        if self._ticker is None:
            return
        self._stop.set()
        self._ticker.join()
        message, started = self._step or ("", time.perf_counter())
        self.err.write(f"\r{message} … {time.perf_counter() - started:4.1f} s\n")
        self.err.flush()
        self._ticker, self._step = None, None

    def info(self, message: str) -> None:
        if self.verbose:
            self.end_step()
            print(message, file=self.err, flush=True)

    def result(self, message: str) -> None:
        self.end_step()
        if not self.quiet:
            print(message, file=self.out, flush=True)

    def problem(self, message: str) -> None:
        self.end_step()
        print(message, file=self.err, flush=True)

    def summary(self, message: str, ok: bool) -> None:
        self.end_step()
        if self.color:
            message = f"\033[{32 if ok else 31}m{message}\033[0m"
        print(message, file=self.err if not ok else self.out, flush=True)


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="publisher",
        description="Build the EPUB and PDF editions of one magazine issue from its source tree.",
        epilog="Exit codes: 0 success, 1 the source or a build is wrong, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"publisher {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=help_text, epilog=f"example:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("--source", type=Path, default=Path("source"), help="the issue's source folder (default: ./source)")
        sub.add_argument("--out", type=Path, default=Path("dist"), help="where editions are written (default: ./dist)")
        noise = sub.add_mutually_exclusive_group()
        noise.add_argument("-q", "--quiet", action="store_true", help="print only errors")
        noise.add_argument("-v", "--verbose", action="store_true", help="print every step")
        return sub

    command("epub", "Write the EPUB 3 edition: <out>/<slug>.epub.")
    command("pdf", "Write the press-ready PDF edition: <out>/<slug>.pdf.").add_argument(
        "--crop-marks", action="store_true", help="add crop marks (for proofs)")
    command("build", "Write both editions from one load of the source and one print layout.")
    command("html", "Write the print document <out>/<slug>.html with its styles beside it.")
    _register_extra_commands(command)
    return parser


def _register_extra_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """check, preview and new live in their own modules; they add their own options."""
    from publisher import commands

    commands.register(command)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    reporter = Reporter(quiet=args.quiet, verbose=args.verbose)
    try:
        return args.handler(args, reporter) if hasattr(args, "handler") else _build(args, reporter)
    except SourceErrors as exc:
        for problem in exc.problems:
            reporter.problem(str(problem))
        count = len(exc.problems)
        reporter.summary(f"{count} problem{'s' if count != 1 else ''} in {args.source}; nothing was written", ok=False)
        return EXIT_FAILED
    except PublisherError as exc:
        reporter.problem(f"error: {exc}")
        reporter.summary("build failed; the previous editions are unchanged", ok=False)
        return EXIT_FAILED
    except KeyboardInterrupt:
        reporter.problem("interrupted; the previous editions are unchanged")
        return 130
    finally:
        reporter.end_step()


def _build(args: argparse.Namespace, reporter: Reporter) -> int:
    from publisher.build import Builder

    targets = ("epub", "pdf") if args.command == "build" else (args.command,)
    builder = Builder(args.source, args.out, progress=reporter.step, crop_marks=getattr(args, "crop_marks", False))
    started = time.perf_counter()
    for item in builder.build(targets):
        reporter.result(f"{item.path}  {human_size(item.size)}  {item.seconds:.1f} s")
    reporter.info(f"done in {time.perf_counter() - started:.1f} s")
    return EXIT_OK
