"""Extra CLI commands (check, preview, new): their options and handlers; the work is done elsewhere.

``register(command)`` is called by ``cli._parser`` with a factory that returns a subparser already holding
``--source/--out/-q/-v``.  Each handler has the signature ``handler(args, reporter) -> exit code`` and, like
the rest of the CLI, lets ``SourceErrors`` and other ``PublisherError``s reach ``cli.main``, which prints
them.  The modules doing the work (``check``, ``preview``, ``scaffold``) are imported only when their
command runs, so ``publisher --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Callable

from publisher.cli import EXIT_FAILED, EXIT_OK, Reporter

CommandFactory = Callable[[str, str], argparse.ArgumentParser]
KINDS = ("feature", "interview", "column", "factsheet", "series")


def register(command: CommandFactory) -> None:
    """Add check, preview and new to the CLI parser."""
    command(
        "check",
        "Check everything before the issue goes out: the source, both editions (built into --out), "
        "EPUBCheck, DAISY Ace, the PDF rules, and that both editions carry the same text. "
        "Ends with one table; exit 0 only when every row says ok.",
    ).set_defaults(handler=run_check)

    preview = command(
        "preview",
        "Serve the issue in your browser while you write: every save in the source or styles folder "
        "rebuilds it and the open page reloads itself. A mistake in the source is shown in the page. "
        "Stop with Ctrl-C.",
    )
    preview.add_argument("--port", type=int, default=8000, help="port to serve on (default: 8000; 0 picks a free one)")
    preview.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1, this computer only)")
    preview.add_argument("--no-pdf", action="store_true", help="do not rebuild the PDF in the background")
    preview.set_defaults(handler=run_preview)

    new = command(
        "new",
        "Start a new article: create articles/NN-SLUG.md from the template (every text to replace is "
        "marked VERVANG) and add SLUG to the end of the reading order in issue.yaml.",
    )
    new.add_argument("slug", metavar="SLUG", help="the article's slug: lower-case letters, digits and '-'")
    new.add_argument("--title", required=True, help="the headline, as printed")
    new.add_argument("--rubric", required=True, help="the section, e.g. Interview, Column, 'Zo doen wij dat'")
    new.add_argument("--kind", required=True, choices=KINDS, help="the kind of article (sets the print layout)")
    new.add_argument("--topic", help="optional second part of the rubric, e.g. Robotica")
    new.set_defaults(handler=run_new)


def run_check(args: argparse.Namespace, reporter: Reporter) -> int:
    from publisher import check

    return check.run(args.source, args.out, reporter)


def run_preview(args: argparse.Namespace, reporter: Reporter) -> int:
    from publisher import preview

    return preview.run(args.source, args.out, reporter, host=args.host, port=args.port, pdf=not args.no_pdf)


def run_new(args: argparse.Namespace, reporter: Reporter) -> int:
    from publisher import scaffold

    try:
        article, issue_file = scaffold.create_article(
            args.source, args.slug, title=args.title, rubric=args.rubric, kind=args.kind, topic=args.topic,
        )
    except scaffold.ScaffoldError as exc:
        reporter.problem(f"error: {exc}")
        reporter.summary("no article was created; nothing was changed", ok=False)
        return EXIT_FAILED
    reporter.result(f"created {article}")
    reporter.result(f"added '{args.slug}' to the end of the reading order in {issue_file}")
    reporter.result(f"next: replace every {scaffold.MARKER} in {article.name}; `publisher preview` shows it as you write")
    return EXIT_OK
