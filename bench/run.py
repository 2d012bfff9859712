"""Benchmarks of the publisher toolchain, side by side with the tools it is measured against.

Run from the project folder::

    .venv/bin/python bench/run.py [--repeat N] [--quick] [--cases a,b] [--json bench/results.json]

Every measurement is one fresh subprocess driven through the command line (``python -m publisher ...``),
so the numbers hold whatever the build does inside.  Each repeat gets fresh output folders (cold), except
the cases that are about the cache.  The cases of one repeat run one after the other, and the repeats
follow each other, so a burst of load from something else on the machine spreads over all the cases
instead of falling on one.  Wall time, CPU time (user + sys) and peak memory (``ru_maxrss`` of that one
child, from ``os.wait4``) are recorded per sample; the table shows medians and minima.

The results go to ``bench/results.json`` (with the machine, the code's git state and whether the code
changed during the run) and a Markdown table to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
PYTHON = sys.executable
WEASYPRINT = str(Path(sys.executable).parent / "weasyprint")
EDIT_ARTICLE = "looprobot"  # the article whose one word the one-article-edit case changes
TARGET_LINEAR_SPREAD = 1.25  # "roughly constant": time per article at the largest scale within 25 % of 1x


# --- running one measured subprocess ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    seconds: float
    cpu_seconds: float
    max_rss_mb: float

    def __add__(self, other: "Sample") -> "Sample":
        """Two commands run one after the other: times add up, the memory peak is the larger one."""
        return Sample(self.seconds + other.seconds, self.cpu_seconds + other.cpu_seconds,
                      max(self.max_rss_mb, other.max_rss_mb))


class Code:
    """The code the run measures: a snapshot of publisher/ and styles/ taken when the run starts.

    Other people edit the working tree while a run takes minutes; a snapshot keeps every sample of one run
    on one version of the code (and a rebuild's cache key stable).  Commands run with the snapshot as
    working folder and on PYTHONPATH, so ``python -m publisher`` imports it, not the working tree.
    """

    folder: Path = ROOT
    env: dict[str, str] = dict(os.environ)

    @classmethod
    def snapshot(cls, destination: Path, revision: str | None = None) -> None:
        """Copy the working tree's code, or with ``revision`` (e.g. HEAD) the committed code of that revision."""
        if revision:
            destination.mkdir(parents=True)
            archive = subprocess.run(["git", "archive", "--format=tar", revision, "publisher", "styles"], cwd=ROOT,
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
        else:
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            for name in ("publisher", "styles"):
                shutil.copytree(ROOT / name, destination / name, ignore=ignore)
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(destination / "publisher")], check=True)
        cls.folder = destination
        cls.env = {**os.environ, "PYTHONPATH": str(destination)}


def measure(command: list[str], cwd: Path | None = None) -> Sample:
    """Run ``command`` in a fresh process; its wall time, CPU time and peak RSS (it must succeed)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd or Code.folder, env=Code.env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not the sum over all children
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-2000:]
            raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}:\n{tail}")
    return Sample(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def run(command: list[str], cwd: Path | None = None) -> None:
    """An untimed setup step (it must succeed)."""
    subprocess.run(command, cwd=cwd or Code.folder, env=Code.env, stdin=subprocess.DEVNULL, capture_output=True,
                   check=True)


def publisher(command: str, *, out: Path, source: Path = SOURCE) -> list[str]:
    return [PYTHON, "-m", "publisher", command, "--source", str(source), "--out", str(out), "--quiet"]


# --- synthetic issues ----------------------------------------------------------------------------------------


def synthetic_issue(factor: int, destination: Path) -> Path:
    """A copy of source/ with every article ``factor`` times: copies get the slug ``<slug>-x<k>`` (k = 2..factor)
    and are appended to ``order:``; cover lines keep pointing at the originals.

    Not ``<slug>-<k>``: block ids are ``<slug>-<n>``, so an article ``hamer-2`` would take the id of the second
    block of ``hamer`` (the build refuses that: "article slugs and block ids collide").
    """
    tree = destination / "source"
    shutil.copytree(SOURCE, tree)
    order = _order(tree / "issue.yaml")
    by_slug = {_slug(path): path for path in (tree / "articles").glob("*.md")}
    added = []
    for k in range(2, factor + 1):
        for slug in order:
            original = by_slug[slug]
            text = re.sub(r"^slug:.*$", f"slug: {slug}-x{k}", original.read_text("utf-8"), count=1, flags=re.MULTILINE)
            (original.parent / f"{original.stem}-{k}.md").write_text(text, "utf-8")
            added.append(f"{slug}-x{k}")
    _extend_order(tree / "issue.yaml", added)
    if len(_order(tree / "issue.yaml")) != len(order) * factor:
        raise RuntimeError("synthetic issue: the reading order was not extended as expected")
    return tree


def _slug(article: Path) -> str:
    match = re.search(r"^slug:\s*[\"']?([a-z0-9-]+)", article.read_text("utf-8"), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{article}: no slug")
    return match.group(1)


def _order(issue_yaml: Path) -> list[str]:
    lines = issue_yaml.read_text("utf-8").splitlines()
    items, index = [], lines.index("order:") + 1
    while index < len(lines) and lines[index].lstrip().startswith("- "):
        items.append(lines[index].lstrip()[2:].strip())
        index += 1
    return items


def _extend_order(issue_yaml: Path, slugs: list[str]) -> None:
    """Append slugs to the block list under ``order:`` (textually: the rest of the file stays as written)."""
    lines = issue_yaml.read_text("utf-8").splitlines()
    end = lines.index("order:") + 1
    while end < len(lines) and lines[end].lstrip().startswith("- "):
        end += 1
    indent = lines[end - 1][: len(lines[end - 1]) - len(lines[end - 1].lstrip())]
    lines[end:end] = [f"{indent}- {slug}" for slug in slugs]
    issue_yaml.write_text("\n".join(lines) + "\n", "utf-8")


def edit_one_word(tree: Path, slug: str = EDIT_ARTICLE) -> str:
    """Change one word of article ``slug``: the first word of six letters or more in the body (in *looprobot*,
    the opening paragraph's "idealisme") gets the case of its first letter flipped."""
    path = next(p for p in (tree / "articles").glob("*.md") if _slug(p) == slug)
    text = path.read_text("utf-8")
    body_start = text.index("\n---\n", 4) + 5  # after the front matter
    match = re.compile(r"\b([A-Za-z]{6,})\b").search(text, body_start)
    if match is None:
        raise RuntimeError(f"{path}: no word to change")
    word = match.group(1)
    changed = word[0].swapcase() + word[1:]
    path.write_text(text[: match.start()] + changed + text[match.end():], "utf-8")
    return f"{path.name}: {word} -> {changed}"


def reading_order_files(tree: Path = SOURCE) -> list[str]:
    by_slug = {_slug(path): path for path in (tree / "articles").glob("*.md")}
    return [str(by_slug[slug]) for slug in _order(tree / "issue.yaml")]


# --- the cases --------------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    label: str
    command: str  # what is timed, for the reader of results.json
    measure_once: Callable[[Path], Sample]  # gets a fresh, empty work folder
    samples: list[Sample] = field(default_factory=list)
    factor: int | None = None  # scaling cases: how many times the articles


@dataclass
class Shared:
    """What several cases reuse within one run: the print HTML for raw WeasyPrint, synthetic trees."""

    root: Path
    notes: dict[str, object] = field(default_factory=dict)
    trees: dict[int, Path] = field(default_factory=dict)

    def html_folder(self) -> Path:
        folder = self.root / "html"
        if not folder.exists():
            run(publisher("html", out=folder))
            run(publisher("pdf", out=folder))  # from the same (cached) layout: to compare the bytes
        return folder

    def tree(self, factor: int) -> Path:
        if factor not in self.trees:
            self.trees[factor] = synthetic_issue(factor, self.root / f"x{factor}")
        return self.trees[factor]


def cases(shared: Shared, factors: list[int]) -> list[Case]:
    slug = _issue_slug()

    def epub_cold(work: Path) -> Sample:
        return measure(publisher("epub", out=work / "dist"))

    def epub_warm(work: Path) -> Sample:
        run(publisher("pdf", out=work / "dist"))  # leaves the layout (page list) in the cache, not the EPUB
        return measure(publisher("epub", out=work / "dist"))

    def pandoc(work: Path) -> Sample:
        return measure(["pandoc", "--to", "epub3", "-o", str(work / "x.epub"), "--metadata", "title=SER Magazine",
                        "--metadata", "lang=nl", *reading_order_files()])

    def pdf_cold(work: Path) -> Sample:
        return measure(publisher("pdf", out=work / "dist"))

    def weasyprint(work: Path) -> Sample:
        folder = shared.html_folder()
        sample = measure([WEASYPRINT, "--pdf-variant", "pdf/ua-1", f"{slug}.html", str(work / "out.pdf")], cwd=folder)
        shared.notes.setdefault(
            "weasyprint_cli_pdf_equals_publisher_pdf",
            (work / "out.pdf").read_bytes() == (folder / f"{slug}.pdf").read_bytes(),
        )
        return sample

    def build_cold(work: Path) -> Sample:
        return measure(publisher("build", out=work / "dist"))

    def separate(work: Path) -> Sample:
        return measure(publisher("epub", out=work / "a")) + measure(publisher("pdf", out=work / "b"))

    def sequential(work: Path) -> Sample:
        return measure(publisher("epub", out=work / "dist")) + measure(publisher("pdf", out=work / "dist"))

    def no_change(work: Path) -> Sample:
        run(publisher("build", out=work / "dist"))
        return measure(publisher("build", out=work / "dist"))

    def one_edit(work: Path) -> Sample:
        tree = work / "source"
        shutil.copytree(SOURCE, tree)
        run(publisher("build", source=tree, out=work / "dist"))
        shared.notes["one_word_edit"] = edit_one_word(tree)
        return measure(publisher("build", source=tree, out=work / "dist"))

    def startup(work: Path) -> Sample:
        return measure([PYTHON, "-m", "publisher", "--version"])

    def scaled(factor: int) -> Callable[[Path], Sample]:
        return lambda work: measure(publisher("build", source=shared.tree(factor), out=work / "dist"))

    found = [
        Case("startup", "`publisher --version` (interpreter + CLI start)", "publisher --version", startup),
        Case("pandoc_epub", "pandoc --to epub3 (11 articles)", "pandoc --to epub3 -o x.epub ...", pandoc),
        Case("epub_warm", "`epub`, layout cached (page list reused)", "publisher pdf (untimed); publisher epub", epub_warm),
        Case("epub_cold", "`epub`, cold (lays out the print edition)", "publisher epub --out fresh", epub_cold),
        Case("weasyprint_pdf", "weasyprint --pdf-variant pdf/ua-1 <slug>.html", "weasyprint ... <slug>.html out.pdf", weasyprint),
        Case("pdf_cold", "`pdf`, cold", "publisher pdf --out fresh", pdf_cold),
        Case("build_cold", "`build`, cold", "publisher build --out fresh", build_cold),
        Case("epub_pdf_separate", "`epub` + `pdf`, each cold in its own --out", "publisher epub --out a; publisher pdf --out b", separate),
        Case("epub_pdf_same_out", "`epub` then `pdf` into the same --out", "publisher epub --out d; publisher pdf --out d", sequential),
        Case("rebuild_no_change", "`build` again, nothing changed", "publisher build (untimed); publisher build", no_change),
        Case("rebuild_one_edit", "`build` again after a one-word edit", "publisher build (untimed); edit; publisher build", one_edit),
    ]
    for factor in factors:
        if factor == 1:
            continue  # 1x is the real issue: the build_cold case
        found.append(Case(f"scale_{factor}x", f"`build`, cold, {factor}x the articles", f"publisher build ({factor}x)",
                          scaled(factor), factor=factor))
    return found


def _issue_slug() -> str:
    match = re.search(r"^slug:\s*(\S+)", (SOURCE / "issue.yaml").read_text("utf-8"), re.MULTILINE)
    assert match is not None
    return match.group(1)


# --- the machine and the code ----------------------------------------------------------------------------


def machine() -> dict[str, object]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    pandoc = subprocess.run(["pandoc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "nproc": len(os.sched_getaffinity(0)), "cpu": cpu, "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(), "python": platform.python_version(), "weasyprint": version("weasyprint"),
        "pandoc": pandoc.split()[-1], "ebooklib": version("ebooklib"),
    }


def code_state(revision: str | None) -> dict[str, object]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.rstrip("\n")

    return {
        "measured": f"committed code of {revision}" if revision else "working tree",
        "git_head": git("rev-parse", "--short", revision or "HEAD"),
        "uncommitted": [] if revision else git("status", "--porcelain", "--", "publisher", "styles").splitlines(),
    }


def code_hash(root: Path = ROOT) -> str:
    """A hash of the code and styles (the run measures the snapshot; this tells which version it was)."""
    digest = hashlib.sha256()
    for folder in (root / "publisher", root / "styles"):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(path.relative_to(root).as_posix().encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


# --- summary, targets, table ------------------------------------------------------------------------------


def summary(case: Case) -> dict[str, object]:
    times = [s.seconds for s in case.samples]
    return {
        "label": case.label, "command": case.command, "factor": case.factor,
        "samples": [s.__dict__ for s in case.samples],
        "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
        "median_cpu_s": statistics.median(s.cpu_seconds for s in case.samples),
        "max_rss_mb": max(s.max_rss_mb for s in case.samples),
    }


def targets(results: dict[str, dict], articles: int) -> list[dict[str, object]]:
    def median(name: str, key: str = "median_s") -> float | None:
        return results[name][key] if name in results else None

    found = []

    def ratio_target(name: str, goal: str, ours: str, theirs: str, limit: float) -> None:
        a, b = median(ours), median(theirs)
        if a is None or b is None:
            return
        ratio = a / b
        # CPU time as a second opinion: it moves less than wall time when other work shares the machine
        cpu_ratio = median(ours, "median_cpu_s") / median(theirs, "median_cpu_s")
        found.append({"target": name, "goal": goal,
                      "measured": f"{a:.2f} s vs {b:.2f} s = {ratio:.2f}x (CPU time: {cpu_ratio:.2f}x)",
                      "ratio": ratio, "cpu_ratio": cpu_ratio, "limit": limit, "met": ratio <= limit,
                      "by": f"{a - limit * b:+.2f} s against the limit of {limit * b:.2f} s"})

    ratio_target("EPUB no slower than pandoc (warm layout: comparable)", "<= 1.00x pandoc", "epub_warm", "pandoc_epub", 1.0)
    ratio_target("EPUB no slower than pandoc (cold: includes a print layout)", "<= 1.00x pandoc", "epub_cold", "pandoc_epub", 1.0)
    ratio_target("PDF within 10 % of raw WeasyPrint", "<= 1.10x weasyprint", "pdf_cold", "weasyprint_pdf", 1.10)
    ratio_target("build within 15 % of raw WeasyPrint", "<= 1.15x weasyprint", "build_cold", "weasyprint_pdf", 1.15)
    if (t := median("rebuild_no_change")) is not None:
        found.append({"target": "no-change rebuild under 0.3 s", "goal": "< 0.30 s", "measured": f"{t:.2f} s",
                      "met": t < 0.3, "by": f"{t - 0.3:+.2f} s against the limit"})
    scaling = scaling_rows(results, articles)
    if len(scaling) > 1:
        base, top = scaling[0], scaling[-1]
        spread = top["per_article_s"] / base["per_article_s"]
        found.append({
            "target": "linear scaling (time per article roughly constant)",
            "goal": f"per article at {top['factor']}x within {TARGET_LINEAR_SPREAD:.2f}x of 1x",
            "measured": f"{base['per_article_s']:.2f} s -> {top['per_article_s']:.2f} s per article = {spread:.2f}x",
            "ratio": spread, "limit": TARGET_LINEAR_SPREAD, "met": spread <= TARGET_LINEAR_SPREAD,
            "by": f"{(spread / TARGET_LINEAR_SPREAD - 1) * 100:+.0f} % against the limit",
        })
    return found


def scaling_rows(results: dict[str, dict], articles: int) -> list[dict[str, object]]:
    rows = []
    for name, result in results.items():
        factor = 1 if name == "build_cold" else result.get("factor")
        if factor:
            rows.append({"factor": factor, "articles": articles * factor, "median_s": result["median_s"],
                         "min_s": result["min_s"], "per_article_s": result["median_s"] / (articles * factor),
                         "max_rss_mb": result["max_rss_mb"]})
    return sorted(rows, key=lambda row: row["factor"])


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"Machine: {m['nproc']} CPU ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}, "
        f"WeasyPrint {m['weasyprint']}, pandoc {m['pandoc']}; {report['repeat']} repeats"
        f"{' (--quick)' if report['quick'] else ''}; code: {report['code']['measured']} at {report['code']['git_head']}"
        f"{' + uncommitted changes' if report['code']['uncommitted'] else ''}"
        f" (snapshot {report['code']['code_hash']}"
        f"{', the working tree changed during the run' if report['working_tree_changed_during_run'] else ''}); "
        f"load average (1 min) {report['load_average']['before'][0]:.1f} before, "
        f"{report['load_average']['after'][0]:.1f} after (above {m['nproc']}: other work shared the CPUs).",
        "",
        "| case | median s | min s | CPU s | peak MB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for result in report["cases"].values():
        lines.append(f"| {result['label']} | {result['median_s']:.2f} | {result['min_s']:.2f} | "
                     f"{result['median_cpu_s']:.2f} | {result['max_rss_mb']:.0f} |")
    lines += ["", "| scale | articles | median s | min s | s per article | peak MB |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["scaling"]:
        lines.append(f"| {row['factor']}x | {row['articles']} | {row['median_s']:.1f} | {row['min_s']:.1f} | "
                     f"{row['per_article_s']:.2f} | {row['max_rss_mb']:.0f} |")
    lines += ["", "| target | goal | measured | met? |", "| --- | --- | --- | --- |"]
    for target in report["targets"]:
        verdict = "met" if target["met"] else f"**missed** ({target['by']})"
        lines.append(f"| {target['target']} | {target['goal']} | {target['measured']} | {verdict} |")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, help="repeats per case (default 5; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, and no 16x synthetic issue")
    parser.add_argument("--cases", help="comma-separated case names to run (default: all)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json", help="where to write the results")
    parser.add_argument("--report", action="store_true",
                        help="measure nothing: print the table of the results in --json again (targets recomputed)")
    parser.add_argument("--code", metavar="REVISION",
                        help="measure the committed code of REVISION (e.g. HEAD) instead of the working tree")
    args = parser.parse_args(argv)
    if args.report:
        report = json.loads(args.json.read_text("utf-8"))
        report["targets"] = targets(report["cases"], len(_order(SOURCE / "issue.yaml")))
        print(markdown(report))
        return 0
    repeat = args.repeat or (3 if args.quick else 5)
    factors = [1, 4] if args.quick else [1, 4, 16]

    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="publisher-bench-") as scratch:
        code = code_state(args.code)
        Code.snapshot(Path(scratch) / "code", args.code)
        code["code_hash"] = code_hash(Code.folder)
        shared = Shared(Path(scratch))
        selected = cases(shared, factors)
        if args.cases:
            wanted = set(args.cases.split(","))
            selected = [case for case in selected if case.name in wanted]
        for index in range(repeat):
            for case in selected:
                with tempfile.TemporaryDirectory(dir=scratch) as work:
                    sample = case.measure_once(Path(work))
                case.samples.append(sample)
                print(f"[{index + 1}/{repeat}] {case.name}: {sample.seconds:.2f} s, {sample.max_rss_mb:.0f} MB",
                      file=sys.stderr, flush=True)
        notes = shared.notes

    articles = len(_order(SOURCE / "issue.yaml"))
    results = {case.name: summary(case) for case in selected}
    report = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "repeat": repeat, "quick": args.quick, "machine": machine(), "code": code,
        "working_tree_changed_during_run": not args.code and code_hash() != code["code_hash"],
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "notes": notes, "cases": results, "scaling": scaling_rows(results, articles),
        "targets": targets(results, articles),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
