"""The command line as editors meet it: exit codes, help, --version, and `publisher new`.

In-process tests call ``publisher.cli.main(argv)``; the exit-code tests run ``python -m publisher`` in a
subprocess, exactly as a user or a script would, and also check that no traceback ever reaches stderr.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from publisher import __version__, scaffold
from publisher.cli import EXAMPLES, main
from publisher.errors import SourceErrors, SourceProblem
from publisher.load import load_issue

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
COMMANDS = ("epub", "pdf", "build", "html", "check", "preview", "new")


def publisher(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "publisher", *args], capture_output=True, text=True, timeout=120,
        cwd=cwd or ROOT, stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the real issue's source, to change freely."""
    copy = tmp_path / "source"
    shutil.copytree(SOURCE, copy)
    return copy


# --- help, version, exit codes ----------------------------------------------------------------------------


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"publisher {__version__}"


def test_top_level_help_lists_every_command_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"    {command} " in out
    assert "Exit codes: 0 success, 1 the source or a build is wrong, 2 usage error." in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_shows_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"example:\n  {EXAMPLES[command]}" in out
    assert EXAMPLES[command].startswith(f"publisher {command}")
    assert "--source" in out and "--quiet" in out


def test_unknown_option_is_a_usage_error_with_exit_code_2() -> None:
    result = publisher("build", "--colour")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: publisher")
    assert "unrecognized arguments: --colour" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_command_is_a_usage_error() -> None:
    result = publisher()
    assert result.returncode == 2
    assert "usage: publisher" in result.stderr and "Traceback" not in result.stderr


def test_broken_source_exits_1_with_path_line_messages_and_writes_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "source"
    (broken / "articles").mkdir(parents=True)
    (broken / "issue.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    (broken / "articles" / "01-a.md").write_text("no front matter here\n", encoding="utf-8")
    out = tmp_path / "dist"

    result = publisher("build", "--source", str(broken), "--out", str(out))

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "source/articles/01-a.md:1: an article starts with front matter" in result.stderr
    assert any(line.startswith("source/issue.yaml:") and "YAML syntax error" in line for line in lines)
    assert lines[-1] == f"{len(lines) - 1} problems in {broken}; nothing was written"
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_success_exits_0_through_a_subprocess(tree: Path) -> None:
    result = publisher("new", "over-de-grens", "--title", "Over de grens", "--rubric", "Column",
                       "--kind", "column", "--source", str(tree))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "Traceback" not in result.stderr
    assert f"created {tree / 'articles' / '12-over-de-grens.md'}" in result.stdout


def test_missing_source_folder_is_a_source_error(tmp_path: Path) -> None:
    result = publisher("epub", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "dist"))
    assert result.returncode == 1
    assert "source folder does not exist" in result.stderr and "Traceback" not in result.stderr


# --- publisher new -----------------------------------------------------------------------------------------


def test_new_creates_the_article_and_appends_it_to_the_order(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (tree / "issue.yaml").read_text(encoding="utf-8")

    code = main(["new", "robot-in-de-klas", "--title", "‘Een robot: in de klas’", "--rubric", "Zo doen wij dat",
                 "--topic", "Onderwijs", "--kind", "feature", "--source", str(tree)])

    assert code == 0
    created = tree / "articles" / "12-robot-in-de-klas.md"
    assert created.is_file()
    out = capsys.readouterr().out
    assert f"created {created}" in out and "added 'robot-in-de-klas' to the end of the reading order" in out
    after = (tree / "issue.yaml").read_text(encoding="utf-8")
    assert after == before.replace("  - gelijke-kansen-osb\n", "  - gelijke-kansen-osb\n  - robot-in-de-klas\n")
    issue = load_issue(tree)
    article = issue.articles[-1]
    assert (article.slug, article.title, article.rubric, article.topic, article.kind) == (
        "robot-in-de-klas", "‘Een robot: in de klas’", "Zo doen wij dat", "Onderwijs", "feature")
    assert article.path == "articles/12-robot-in-de-klas.md"


def test_new_refuses_an_existing_slug_and_changes_nothing(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}

    code = main(["new", "hamer", "--title", "Nog een", "--rubric", "Interview", "--kind", "interview",
                 "--source", str(tree)])

    assert code == 1
    err = capsys.readouterr().err
    assert "error: an article with slug 'hamer' already exists" in err and "01-hamer.md" in err
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before


def test_new_twice_with_the_same_slug_refuses_the_second(tree: Path) -> None:
    args = ["new", "tweemaal", "--title", "T", "--rubric", "R", "--kind", "feature", "--source", str(tree)]
    assert main(args) == 0
    assert main(args) == 1
    assert len(list((tree / "articles").glob("*-tweemaal.md"))) == 1


def test_new_refuses_a_slug_the_loader_would_refuse(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "Mijn_Artikel", "--title", "T", "--rubric", "R", "--kind", "feature", "--source", str(tree)]) == 1
    assert "cannot be a slug" in capsys.readouterr().err
    assert len(list((tree / "articles").glob("*.md"))) == 11


def test_new_rolls_back_when_the_tree_no_longer_loads(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A title pasted with a line break passes argparse but not the loader: both files are put back."""
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}

    code = main(["new", "twee-regels", "--title", "Eerste regel\nTweede regel", "--rubric", "R", "--kind",
                 "feature", "--source", str(tree)])

    assert code == 1
    err = capsys.readouterr().err
    assert "source/articles/12-twee-regels.md:" in err and "single line" in err
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before


def test_new_rolls_back_when_interrupted_after_writing(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    calls = []

    def load_then_fail(source):
        calls.append(source)
        if len(calls) == 2:  # the check after writing
            raise SourceErrors([SourceProblem("source/issue.yaml", 3, "simulated")])
        return load_issue(source)

    monkeypatch.setattr(scaffold, "load_issue", load_then_fail)
    with pytest.raises(SourceErrors):
        scaffold.create_article(tree, "x", title="T", rubric="R", kind="feature")
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before


def test_new_reports_a_broken_tree_before_touching_it(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "articles" / "01-hamer.md").write_text("kapot\n", encoding="utf-8")
    assert main(["new", "x", "--title", "T", "--rubric", "R", "--kind", "feature", "--source", str(tree)]) == 1
    assert "source/articles/01-hamer.md:1:" in capsys.readouterr().err
    assert not list((tree / "articles").glob("*-x.md"))


@pytest.mark.parametrize("kind", scaffold.KINDS)
def test_every_kind_of_template_loads_and_is_marked_for_replacement(tree: Path, kind: str) -> None:
    path, _ = scaffold.create_article(tree, f"nieuw-{kind}", title="Titel", rubric="Rubriek", kind=kind)
    article = load_issue(tree).article(f"nieuw-{kind}")
    assert article.kind == kind
    assert any(b.__class__.__name__ == "Heading" for b in article.blocks), "the example has a ## subheading"
    leftovers = scaffold.placeholder_problems(tree)
    assert leftovers and all(p.path == f"source/articles/{path.name}" for p in leftovers)
    assert "template text of `publisher new`" in leftovers[0].message


def test_placeholder_problems_is_empty_for_the_real_issue() -> None:
    assert scaffold.placeholder_problems(SOURCE) == []


# --- editing issue.yaml as text ------------------------------------------------------------------------------

PATH = Path("issue.yaml")


def test_add_to_order_keeps_comments_quoting_and_layout() -> None:
    text = (
        "title: 'Quoted'   # a comment\n"
        "order:            # reading order\n"
        "    - een         # first\n"
        "    - twee\n"
        "\n"
        "# trailing comment\n"
        "other: value\n"
    )
    assert scaffold.add_to_order(text, "drie", PATH) == text.replace("    - twee\n", "    - twee\n    - drie\n")


def test_add_to_order_handles_unindented_items_crlf_and_no_final_newline() -> None:
    text = "order:\r\n- een\r\n- twee"
    assert scaffold.add_to_order(text, "drie", PATH) == "order:\r\n- een\r\n- twee\r\n- drie\r\n"


def test_add_to_order_handles_a_flow_list() -> None:
    assert scaffold.add_to_order("a: 1\norder: [een, twee]  # kort\n", "drie", PATH) == (
        "a: 1\norder: [een, twee, drie]  # kort\n")
    assert scaffold.add_to_order("order: []\n", "een", PATH) == "order: [een]\n"


def test_add_to_order_refuses_what_it_cannot_edit_safely() -> None:
    with pytest.raises(scaffold.ScaffoldError, match="add 'drie' yourself"):
        scaffold.add_to_order("order: [\n  een,\n  twee]\n", "drie", PATH)
    with pytest.raises(scaffold.ScaffoldError, match="cannot find the reading order"):
        scaffold.add_to_order("title: x\n", "drie", PATH)
