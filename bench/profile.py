"""Where the time of one publisher command goes: cProfile through the command line, grouped by stage.

Run from the project folder::

    .venv/bin/python bench/profile.py [--command build|epub|pdf] [--warm] [--factor N] [--top 15]

It runs ``python -m cProfile -o … -m publisher COMMAND`` in a fresh subprocess on a snapshot of the code
(like bench/run.py; ``--code HEAD``: the committed code), into a fresh --out folder (``--warm``: after an untimed ``pdf`` into the same folder,
so ``epub`` reuses the cached layout), and prints the cumulative time and call count of the stages that
matter (load, templates, WeasyPrint passes, cascade, box tree, layout, column balancing, line breaking,
copyfitting, PDF writing, font subsetting, cover, EPUB packaging), then the slowest ``publisher``
functions.  cProfile slows pure-Python code down (about 1.5-2x here): read the shares, not the seconds.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the snapshot, the synthetic issues, the runner)

# (depth, file suffix, function name, what it is): a stage of depth d is part of the stage above it of depth d-1.
# WeasyPrint's layout functions are generators: cProfile counts each resumption as a call.
STAGES = [
    (0, "publisher/load.py", "load_issue", "load and validate the source"),
    (0, "publisher/build.py", "cache_key", "cache key (hash of the inputs)"),
    (0, "publisher/pdf.py", "lay_out", "print layout, all of it"),
    (1, "publisher/pdf.py", "_document_html", "templates -> print XHTML"),
    (1, "publisher/pdf.py", "lay_out_html", "WeasyPrint passes over the print XHTML (calls = passes)"),
    (1, "publisher/pdf.py", "runt_articles", "copyfit: finding runts"),
    (0, "weasyprint/css/__init__.py", "get_all_computed_styles", "CSS cascade, incl. @font-face loading (print and cover)"),
    (0, "weasyprint/formatting_structure/build.py", "build_formatting_structure", "box tree (print and cover)"),
    (0, "weasyprint/layout/page.py", "make_page", "page layout (print and cover; calls = pages laid out)"),
    (1, "weasyprint/layout/column.py", "columns_layout", "multi-column layout and balancing"),
    (1, "weasyprint/text/line_break.py", "split_first_line", "line breaking (Pango, hyphenation)"),
    (0, "publisher/pdf.py", "pdf_bytes", "PDF writing (print edition)"),
    (0, "weasyprint/pdf/fonts.py", "build_fonts_dictionary", "font subsetting and embedding (print and cover)"),
    (0, "publisher/cover.py", "cover_png", "cover PNG (its own WeasyPrint render + rasterising)"),
    (0, "publisher/epub.py", "build_epub", "EPUB packaging (includes the cover PNG)"),
]


def profile(command: str, warm: bool, factor: int, work: Path, revision: str | None) -> pstats.Stats:
    bench.Code.snapshot(work / "code", revision)
    source = bench.synthetic_issue(factor, work / "tree") if factor > 1 else bench.SOURCE
    out = work / "dist"
    if warm:
        bench.run(bench.publisher("pdf", source=source, out=out))
    stats_file = work / "profile.out"
    sample = bench.measure([bench.PYTHON, "-m", "cProfile", "-o", str(stats_file), "-m", "publisher", command,
                            "--source", str(source), "--out", str(out), "--quiet"])
    print(f"`publisher {command}`{' (warm)' if warm else ''}, {factor}x: {sample.seconds:.2f} s under cProfile, "
          f"peak {sample.max_rss_mb:.0f} MB\n")
    return pstats.Stats(str(stats_file))


def stage_table(stats: pstats.Stats) -> list[str]:
    table = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = stats.total_tt  # type: ignore[attr-defined]
    lines = [f"total profiled: {total:.2f} s", "", "| stage | calls | cumulative s | share |", "| --- | ---: | ---: | ---: |"]
    for depth, suffix, name, label in STAGES:
        label = "· " * depth + label
        found = [(nc, ct) for (file, _, func), (_, nc, _, ct, _) in table.items()
                 if func == name and file.replace("\\", "/").endswith(suffix)]
        if not found:
            lines.append(f"| {label} | - | - | - |")
            continue
        calls, seconds = sum(nc for nc, _ in found), sum(ct for _, ct in found)
        lines.append(f"| {label} | {calls} | {seconds:.2f} | {seconds / total:.0%} |")
    return lines


def top_publisher(stats: pstats.Stats, count: int) -> list[str]:
    table = stats.stats  # type: ignore[attr-defined]
    rows = sorted(((ct, nc, f"{Path(file).name}:{func}") for (file, _, func), (_, nc, _, ct, _) in table.items()
                   if "/publisher/" in file.replace("\\", "/")), reverse=True)[:count]
    lines = ["", f"slowest {count} publisher functions (cumulative):", "", "| function | calls | cumulative s |",
             "| --- | ---: | ---: |"]
    lines += [f"| {name} | {nc} | {ct:.2f} |" for ct, nc, name in rows]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--command", default="build", choices=("build", "epub", "pdf"))
    parser.add_argument("--warm", action="store_true", help="reuse a cached layout (run `pdf` first, untimed)")
    parser.add_argument("--factor", type=int, default=1, help="profile a synthetic issue of N times the articles")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--code", metavar="REVISION", help="profile the committed code of REVISION (e.g. HEAD)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="publisher-profile-") as work:
        stats = profile(args.command, args.warm, args.factor, Path(work), args.code)
        print("\n".join(stage_table(stats) + top_publisher(stats, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
