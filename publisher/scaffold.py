"""``publisher new``: start a new article from the template and add it to the reading order.

Contract: ``create_article(source, slug, title=…, rubric=…, kind=…, topic=…)`` writes
``<source>/articles/NN-<slug>.md`` (NN: one more than the highest number in use) and appends the slug to
``order:`` in ``issue.yaml`` by editing that one place in the text, so the editor's layout, quoting and
comments survive.  The tree must load before and after: on any failure both files are put back as they
were and the error is raised (``SourceErrors`` for a tree that does not load, ``ScaffoldError`` for the
rest).  Library code: it raises, never prints.

The new article is valid source, so it previews and builds at once, but every word an editor must
replace carries the marker ``VERVANG`` ("replace"); ``placeholder_problems`` finds the markers that are
left, and ``publisher check`` fails on them, so a template text never reaches the printer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from publisher import yamlfields as y
from publisher.errors import Problems, PublisherError, SourceProblem
from publisher.load import ARTICLE_FOLDER, ISSUE_FILE, SLUG, load_issue
from publisher.output import write_atomic

KINDS = ("feature", "interview", "column", "factsheet", "series")
MARKER = "VERVANG"
_NUMBERED = re.compile(r"^(\d+)-")


class ScaffoldError(PublisherError):
    """The article could not be created (and nothing was changed)."""


# --- the template ---------------------------------------------------------------------------------

_COMMENTS = {  # YAML comments, as in docs/source-format.md: the template explains itself
    "kind": "feature | interview | column | factsheet | series",
    "lead": "the intro under the title; delete both lines if there is none",
    "credits": "role: names as printed (Tekst, Foto, Foto’s, Beeld)",
    "author": "a column names its columnist",
}


def _front_matter(slug: str, title: str, rubric: str, kind: str, topic: str | None) -> str:
    fields = [("slug", slug), ("kind", kind), ("rubric", _yaml_string(rubric))]
    if topic:
        fields.append(("topic", _yaml_string(topic)))
    fields += [("title", _yaml_string(title)), ("lead", ">-")]
    lines = ["---"]
    for key, value in fields:
        lines.append(_commented(f"{key}: {value}", _COMMENTS.get(key)))
    lines.append(f"  {MARKER}: de intro van het artikel, in twee of drie zinnen.")
    lines += [_commented("credits:", _COMMENTS["credits"]), f'  Tekst: "{MARKER}: naam"']
    if kind == "column":  # the loader requires a columnist
        lines += [_commented("author:", _COMMENTS["author"]), f'  name: "{MARKER}: naam"', f'  role: "{MARKER}: functie"']
    lines.append("---")
    return "\n".join(lines) + "\n"


def _commented(line: str, comment: str | None) -> str:
    return f"{line:<29} # {comment}" if comment else line


_BODY = """\

{marker}: dit is de voorbeeldtekst van `publisher new`. Schrijf hier de eerste alinea. Een lege regel
begint een nieuwe alinea; *cursief*, **vet** en [een link](https://www.ser.nl) schrijf je zoals in
docs/source-format.md.

## {marker}: een tussenkop

{marker}: de tekst onder de tussenkop.

{marker} of verwijder: hieronder staat een voorbeeld van een magazine-element, een container tussen
regels met drie dubbele punten. Alle elementen staan met een voorbeeld in docs/source-format.md.

{sample}
"""

_SAMPLES = {
    "interview": """\
::: question
{marker}: een vraag van de interviewer?
:::

{marker}: het antwoord is de gewone tekst na de vraag.""",
    "feature": """\
::: pullquote
‘{marker}: een citaat uit de tekst, met de aanhalingstekens’
:::""",
    "column": """\
::: pullquote
‘{marker}: een citaat uit de column, met de aanhalingstekens’
:::""",
    "factsheet": """\
::: facts
## {marker}: de kop van een lijst

- {marker}: het eerste feit
- {marker}: het tweede feit
:::""",
    "series": """\
::: statement name="{marker}: naam" organisation="{marker}: organisatie"
## {marker}: de kop van deze bijdrage

{marker}: de tekst van deze bijdrage.
:::""",
}


def article_text(slug: str, title: str, rubric: str, kind: str, topic: str | None = None) -> str:
    """The new article's Markdown: valid front matter and an example body full of markers."""
    return _front_matter(slug, title, rubric, kind, topic) + _BODY.format(marker=MARKER, sample=_SAMPLES[kind].format(marker=MARKER))


def _yaml_string(value: str) -> str:
    """A double-quoted YAML scalar (a JSON string is one), whatever quotes or colons the text holds."""
    return json.dumps(value, ensure_ascii=False)


# --- creating the article -------------------------------------------------------------------------


def create_article(
    source: Path, slug: str, *, title: str, rubric: str, kind: str, topic: str | None = None,
) -> tuple[Path, Path]:
    """Write the article and add it to the reading order; returns (article path, issue.yaml path)."""
    if not SLUG.match(slug):
        raise ScaffoldError(f"'{slug}' cannot be a slug: use lower-case letters, digits and '-' (e.g. mijn-artikel)")
    if kind not in KINDS:
        raise ScaffoldError(f"unknown kind '{kind}'; choose one of {', '.join(KINDS)}")
    for name, value in (("title", title), ("rubric", rubric), ("topic", topic)):
        if value is not None and not value.strip():
            raise ScaffoldError(f"--{name} may not be empty")
    issue = load_issue(source)  # a broken tree is reported as it is, before anything is touched
    taken = {a.slug: a.path for a in issue.articles}
    if slug in taken:
        raise ScaffoldError(f"an article with slug '{slug}' already exists: {source / taken[slug]}")

    folder = source / ARTICLE_FOLDER
    article_path = folder / f"{_next_number(folder)}-{slug}.md"
    issue_path = source / ISSUE_FILE
    original_issue = issue_path.read_bytes()
    new_issue = add_to_order(original_issue.decode("utf-8-sig"), slug, issue_path).encode("utf-8")
    if original_issue.startswith(b"\xef\xbb\xbf"):
        new_issue = b"\xef\xbb\xbf" + new_issue

    try:
        with article_path.open("x", encoding="utf-8", newline="\n") as handle:  # never overwrite a file
            handle.write(article_text(slug, title.strip(), rubric.strip(), kind, topic.strip() if topic else None))
    except FileExistsError as exc:
        raise ScaffoldError(f"{article_path} already exists") from exc
    except OSError as exc:
        raise ScaffoldError(f"cannot write {article_path}: {exc.strerror}") from exc
    try:
        write_atomic(issue_path, new_issue)
        load_issue(source)  # proof that the tree still validates with the new article in it
    except BaseException:
        article_path.unlink(missing_ok=True)
        write_atomic(issue_path, original_issue)
        raise
    return article_path, issue_path


def _next_number(folder: Path) -> str:
    """One more than the highest leading number of the article files, zero-padded like them."""
    numbers = [(int(match.group(1)), len(match.group(1)))
               for match in (_NUMBERED.match(p.name) for p in folder.glob("*.md")) if match]
    highest = max((n for n, _ in numbers), default=0)
    width = max([2, *(w for _, w in numbers)])
    return f"{highest + 1:0{width}d}"


# --- editing issue.yaml as text -------------------------------------------------------------------

_BLOCK_ITEM = re.compile(r"^(?P<prefix>\s*-[ \t]+)(?P<value>[^#\s][^#]*?)(?P<rest>[ \t]*(?:#.*)?)$")
_FLOW = re.compile(r"^(?P<head>[^#]*\[)(?P<items>[^\]#]*)(?P<tail>\].*)$")


def add_to_order(text: str, slug: str, path: Path) -> str:
    """``text`` of issue.yaml with ``slug`` appended to ``order:``; every other byte stays the same."""
    problems = Problems(path.parent)
    data = y.load_yaml(text, path, problems)
    if problems.items or not isinstance(data, y.Mapping) or "order" not in data:
        raise ScaffoldError(f"{path}: cannot find the reading order ('order:'); add '{slug}' to it yourself")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    order = data["order"]
    key_line = data.key_lines["order"]
    if isinstance(order, y.Sequence) and order and max(order.item_lines) > key_line:
        edited = _append_block_item(lines, max(order.item_lines), slug, newline)
    elif isinstance(order, y.Sequence):
        edited = _append_flow_item(lines, key_line, slug, bool(order))
    elif order is None:
        edited = _insert_first_item(lines, key_line, slug, newline)
    else:
        edited = None
    if edited is None:
        raise ScaffoldError(f"{path}: 'order:' is written in a way this command cannot edit; add '{slug}' yourself")
    result = "".join(edited)
    _verify_only_order_changed(data, result, slug, path)
    return result


def _append_block_item(lines: list[str], last_item_line: int, slug: str, newline: str) -> list[str] | None:
    last = lines[last_item_line - 1]
    match = _BLOCK_ITEM.match(last.rstrip("\r\n"))
    if not match:
        return None
    if not last.endswith("\n"):
        lines[last_item_line - 1] = last + newline
    return [*lines[:last_item_line], f"{match['prefix']}{slug}{newline}", *lines[last_item_line:]]


def _append_flow_item(lines: list[str], key_line: int, slug: str, has_items: bool) -> list[str] | None:
    line = lines[key_line - 1]
    content = line.rstrip("\r\n")
    match = _FLOW.match(content)
    if not match:
        return None
    items = match["items"].rstrip()
    joined = f"{items}, {slug}" if has_items else slug
    edited = f"{match['head']}{joined}{match['tail']}{line[len(content):]}"
    return [*lines[:key_line - 1], edited, *lines[key_line:]]


def _insert_first_item(lines: list[str], key_line: int, slug: str, newline: str) -> list[str]:
    line = lines[key_line - 1]
    indent = line[: len(line) - len(line.lstrip())]
    if not line.endswith("\n"):
        lines[key_line - 1] = line + newline
    return [*lines[:key_line], f"{indent}  - {slug}{newline}", *lines[key_line:]]


def _verify_only_order_changed(before: y.Mapping, text: str, slug: str, path: Path) -> None:
    """Re-parse the edited text: the order gained exactly ``slug`` at its end and nothing else moved."""
    problems = Problems(path.parent)
    after = y.load_yaml(text, path, problems)
    expected = dict(before, order=[*(before["order"] or []), slug])
    if problems.items or not isinstance(after, dict) or dict(after) != expected:
        raise ScaffoldError(f"{path}: editing 'order:' went wrong; nothing was changed. Add '{slug}' yourself")


# --- leftovers of the template --------------------------------------------------------------------


def placeholder_problems(source: Path) -> list[SourceProblem]:
    """Every line of an article that still holds the template's ``VERVANG`` marker."""
    problems = Problems(source)
    for path in sorted((source / ARTICLE_FOLDER).glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the loader reports unreadable files
        for number, line in enumerate(text.splitlines(), start=1):
            if MARKER in line:
                problems.add(path, number, f"template text of `publisher new` is still there: {line.strip()[:60]}")
    return problems.items
