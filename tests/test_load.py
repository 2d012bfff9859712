"""Tests of the loader (publisher.load, publisher.markdown, publisher.yamlfields).

Three parts: the real issue loads into the model we expect (numbers checked by hand against the seed
``tests/fixtures/seed.txt``, so a lost box or question fails here); small trees written into tmp_path, each
broken in one way, report exactly the ``path:line: message`` an editor needs; and the command line turns
those problems into lines on stderr and exit code 1, writing nothing.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from publisher import model as m
from publisher.errors import SourceErrors
from publisher.load import load_issue

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"


# --- the real issue -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issue() -> m.Issue:
    return load_issue(SOURCE)


def test_real_issue_metadata(issue: m.Issue) -> None:
    assert (issue.title, issue.subtitle, issue.tagline) == (
        "SER Magazine", "Magazine van de Sociaal-Economische Raad", "Denkwerk Draagvlak Dialoog",
    )
    assert (issue.number, issue.volume, issue.date) == (3, 61, dt.date(2021, 9, 1))
    assert issue.publisher == "Sociaal-Economische Raad"
    assert (issue.language, issue.slug) == ("nl", "sermagazine-2021-03")
    assert issue.issue_line == "September 2021 #3 - jaargang 61"  # seed line 2, as printed on the cover


def test_real_issue_reading_order(issue: m.Issue) -> None:
    assert [a.slug for a in issue.articles] == [
        "hamer", "column-ait-abderrahman", "nieuwe-energie-voor-de-bouw", "mlt-in-vogelvlucht",
        "interview-laagland", "vast-en-flex", "toekomstige-arbeidsmarkt", "niemand-is-uitgeleerd",
        "energietransitie-groningen", "looprobot", "gelijke-kansen-osb",
    ]
    assert [a.path for a in issue.articles] == sorted(a.path for a in issue.articles)  # files numbered in order


def _element_counts(issue: m.Issue) -> Counter[str]:
    counts: Counter[str] = Counter()
    for article in issue.articles:
        for block in m.walk(article.blocks):
            if isinstance(block, m.Question):
                counts["numbered question" if block.number is not None else "question"] += 1
            elif isinstance(block, m.Box):
                counts[f"box {block.kind}"] += 1
            elif isinstance(block, m.Heading):
                counts[f"h{block.level}"] += 1
            elif isinstance(block, m.ListBlock):
                counts["list"] += 1
                counts["list item"] += len(block.items)
            else:
                counts[type(block).__name__] += 1
    return counts


def test_real_issue_has_every_element_of_the_seed(issue: m.Issue) -> None:
    """Each number counted by hand in the seed (line numbers of seed.txt, kept copies only)."""
    counts = _element_counts(issue)
    assert counts["question"] == 8  # Hamer interview: 120, 178, 206, 236, 248, 268, 285, 328
    assert counts["numbered question"] == 6  # Laagland interview: 1-6 at 790, 829, 855, 882, 904, 923
    assert counts["PullQuote"] == 3  # 475 ‘Je bent slimmer…’, 1875 ‘De robot geeft…’, 2097 ‘Je bent hier niet…’
    assert counts["box advies"] == 7  # the label "Advies": 322, 572, 1129, 1372, 1648, 1873, 2007
    assert counts["box cv"] == 1  # 979
    assert counts["box aan-het-woord"] == 3  # 1108, 1613, 2013
    assert counts["box sidebar"] == 2  # 740 "De rode draad", 1264 "House of Skills"
    assert counts["box facts"] == 3  # 614 Werk aan herstel…, 646 Vernieuw de arbeidsmarkt, 754 Versterk de publieke…
    assert (counts["list"], counts["list item"]) == (3, 17)  # the bullets • of the fact sheet: 6 + 7 + 4
    assert counts["Person"] == 4  # Elly Ploumen 1110, Henk Lukken 1615, Jan Dirk Gardenier 1621, Maryse Knook 2015
    assert counts["Statement"] == 6  # Elzinga 1149, Thijssen 1177, Van der Tak 1426, Vonhof 1651, Fortuin 1680, Van Holstein 1928
    assert counts["Caption"] == 4  # 474, 1287, 1556, 1766
    assert counts["Reference"] == 2  # 370 "Meer weten?", 752 "Verder lezen?"
    assert counts["EndNote"] == 3  # "Dit verhaal verscheen…" 1085, 1559, 2009
    # subheadings in the running text: 466, 511, 568 | 1072 | 1295, 1325 | 1516, 1573 | 1767, 1796, 1845 |
    # 1974, 2029, 2062 (box and statement titles are the boxes' own titles, not headings)
    assert (counts["h2"], counts["h3"]) == (14, 0)
    assert counts["Image"] == 0  # the seed has no photographs
    assert counts["Paragraph"] == 156  # a transcription choice (paragraph breaks); test_fidelity checks the words


def test_real_issue_box_labels_and_titles(issue: m.Issue) -> None:
    boxes = {(a.slug, b.kind, b.label, m.plain_text(b.title or ())) for a in issue.articles for b in m.walk(a.blocks)
             if isinstance(b, m.Box) and b.kind in ("sidebar", "cv")}
    assert boxes == {
        ("mlt-in-vogelvlucht", "sidebar", "De rode draad", "Brede welvaart voor iedereen"),
        ("interview-laagland", "cv", "CV", "Wie is Femke Laagland?"),
        ("niemand-is-uitgeleerd", "sidebar", "House of Skills", "Transferpunt Zorg en Welzijn"),
    }
    numbers = [b.number for a in issue.articles for b in m.walk(a.blocks) if isinstance(b, m.Question) and b.number]
    assert numbers == [1, 2, 3, 4, 5, 6]


def test_real_issue_front_matter(issue: m.Issue) -> None:
    kinds = Counter(a.kind for a in issue.articles)
    assert kinds == {"feature": 6, "interview": 2, "column": 1, "factsheet": 1, "series": 1}
    column = issue.article("column-ait-abderrahman")
    assert column.author == m.Author("Yasmin Ait Abderrahman", "Vicevoorzitter FNV Young & United en docent Nederlands in opleiding")
    assert issue.article("hamer").credits == (
        m.Credit("Tekst", "Corien Lambregtse"), m.Credit("Foto’s", "ANP/Caspar Huurdeman, ANP/Guus Schoonewille"),
    )
    assert issue.article("looprobot").kicker == "Zo doen wij dat · Robotica"
    assert all(a.rubric[0].isupper() and not a.rubric.isupper() for a in issue.articles)  # normal case in the source


def test_real_issue_cover(issue: m.Issue) -> None:
    slugs = {a.slug for a in issue.articles}
    lines = issue.cover.lines
    assert [line.article for line in lines] == [
        "nieuwe-energie-voor-de-bouw", "looprobot", "interview-laagland", "mlt-in-vogelvlucht",
    ]
    assert all(line.article in slugs for line in lines)
    story = issue.cover.story
    assert story is not None and story.question == "Wat is de impact van het sociaal leenstelsel op jongeren?"
    assert [q.name for q in story.quotes] == ["Sofya Wattjes", "Maurice Knijnenburg", "August de Heij", "Nathalie Rompen"]
    assert [t.url for t in issue.back_teasers] == ["https://www.ser.nl/SERmagazine"]


def test_real_issue_corrections(issue: m.Issue) -> None:
    assert [(c.file, c.printed, c.corrected) for c in issue.corrections] == [
        ("articles/04-mlt-in-vogelvlucht.md", "OOnnddeerrwwiijjss", None),
        ("articles/06-vast-en-flex.md", "zegt Ellly Ploumen, groepsdirecteur HR bij Achmea",
         "zegt Elly Ploumen, groepsdirecteur HR bij Achmea"),
        ("articles/07-toekomstige-arbeidsmarkt.md", "MLT-ADVIES WERGEVERS EN WERKNEMERS", "Werkgevers en werknemers"),
        ("articles/08-niemand-is-uitgeleerd.md", "OLGV-West", "OLVG-West"),
    ]
    assert all(c.reason for c in issue.corrections)


# --- small trees in tmp_path ----------------------------------------------------------------------------

ISSUE = """\
title: Proefblad
subtitle: Blad van de proef
tagline: Denken Doen
slug: proef-2021-01
number: 1
volume: 1
date: 2021-01-01
date_label: Januari 2021
publisher: Proefuitgever
language: nl
url: https://example.org/proef
cover:
  lines:
    - kicker: Proef
      text: Een proefregel
      article: eerste
back_cover:
  teasers:
    - title: Lees meer
order:
  - eerste
"""
# Line numbers of ISSUE used below: 3 tagline, 5 number, 11 url, 14 the cover line, 21 the order entry.

FRONT = "slug: eerste\nkind: feature\nrubric: Proef\ntitle: Een eerste artikel\n"


def article(body: str = "Een alinea.\n", front: str = FRONT) -> str:
    """An article file: front matter on lines 2-5 (with FRONT), the body from line 8."""
    return f"---\n{front}---\n\n{body}"


def write_tree(
    tmp_path: Path, issue: str | bytes | None = ISSUE, articles: dict[str, str | bytes] | None = None,
    corrections: str | None = None,
) -> Path:
    """Write a source tree: issue.yaml, articles/<name> for each entry, and optionally corrections.yaml."""
    source = tmp_path / "source"
    (source / "articles").mkdir(parents=True)
    if issue is not None:
        (source / "issue.yaml").write_bytes(issue.encode() if isinstance(issue, str) else issue)
    for name, text in (articles if articles is not None else {"01-eerste.md": article()}).items():
        (source / "articles" / name).write_bytes(text.encode() if isinstance(text, str) else text)
    if corrections is not None:
        (source / "corrections.yaml").write_text(corrections, encoding="utf-8")
    return source


def problems(source: Path) -> list[str]:
    with pytest.raises(SourceErrors) as caught:
        load_issue(source)
    return [str(p) for p in caught.value.problems]


def test_minimal_tree_loads(tmp_path: Path) -> None:
    issue = load_issue(write_tree(tmp_path))
    assert (issue.title, issue.number, issue.date) == ("Proefblad", 1, dt.date(2021, 1, 1))
    [only] = issue.articles
    assert (only.slug, only.path, only.blocks) == ("eerste", "articles/01-eerste.md", (m.Paragraph((m.Text("Een alinea."),), 8),))
    assert issue.cover.lines == (m.CoverLine("Proef", "Een proefregel", "eerste"),)


def test_byte_order_mark_and_windows_line_ends_are_accepted(tmp_path: Path) -> None:
    text = ("\ufeff" + article("Een alinea.\n\n## Kop\n")).replace("\n", "\r\n")
    issue = load_issue(write_tree(tmp_path, articles={"01-eerste.md": text}))
    assert [type(b).__name__ for b in issue.articles[0].blocks] == ["Paragraph", "Heading"]
    assert issue.articles[0].blocks[1].line == 10


def test_a_correction_whose_text_occurs_loads(tmp_path: Path) -> None:
    corrections = "- file: articles/01-eerste.md\n  printed: Een alinae.\n  corrected: Een alinea.\n  reason: typfout\n"
    issue = load_issue(write_tree(tmp_path, corrections=corrections))
    assert issue.corrections == (m.Correction("articles/01-eerste.md", "Een alinae.", "Een alinea.", "typfout"),)


A = "source/articles/01-eerste.md"
I = "source/issue.yaml"

BROKEN = {
    "YAML syntax error": (
        dict(issue=ISSUE.replace("tagline: Denken Doen", "tagline: Denken: Doen")),
        [f"{I}:3: YAML syntax error: mapping values are not allowed here"],
    ),
    "unclosed quote in YAML": (
        dict(issue=ISSUE.replace("tagline: Denken Doen", 'tagline: "Denken Doen')),
        [f"{I}:3: YAML syntax error: a quote or bracket that opens on this line is never closed (while scanning a quoted scalar)"],
    ),
    "YAML syntax error in front matter": (
        dict(articles={"01-eerste.md": article(front=FRONT.replace("rubric: Proef", "rubric: Proef: nieuw"))}),
        [f"{A}:4: YAML syntax error: mapping values are not allowed here"],
    ),
    "date that does not exist": (
        dict(issue=ISSUE.replace("2021-01-01", "2021-02-30")),
        [f"{I}:7: YAML syntax error: '2021-02-30' is not a valid date (day is out of range for month)"],
    ),
    "wrong type": (
        dict(issue=ISSUE.replace("number: 1", "number: een")),
        [f"{I}:5: 'number' must be a whole number, not text"],
    ),
    "wrong type in front matter": (
        dict(articles={"01-eerste.md": article(front=FRONT.replace("title: Een eerste artikel", "title: 3"))}),
        [f"{A}:5: 'title' must be text, not a number"],
    ),
    "unknown key": (
        dict(issue=ISSUE.replace("url: https", "colour: blue\nurl: https")),
        [f"{I}:11: unknown key 'colour' in issue.yaml (expected one of: back_cover, cover, date, date_label, "
         "language, number, order, publisher, slug, subtitle, tagline, title, url, volume)"],
    ),
    "unknown key in front matter": (
        dict(articles={"01-eerste.md": article(front=FRONT + "auteur: Iemand\n")}),
        [f"{A}:6: unknown key 'auteur' in the front matter (expected one of: author, credits, kind, lead, rubric, "
         "slug, title, topic)"],
    ),
    "missing key": (
        dict(issue=ISSUE.replace("tagline: Denken Doen\n", "")),
        [f"{I}:1: missing key 'tagline' in issue.yaml"],
    ),
    "missing key in front matter": (
        dict(articles={"01-eerste.md": article(front=FRONT.replace("rubric: Proef\n", ""))}),
        [f"{A}:2: missing key 'rubric' in the front matter"],
    ),
    "duplicate key": (
        dict(issue=ISSUE.replace("url: https", "title: Nog een titel\nurl: https")),
        [f"{I}:11: duplicate key 'title'"],
    ),
    "article not in the order": (
        dict(articles={"01-eerste.md": article(), "02-tweede.md": article(front=FRONT.replace("eerste", "tweede"))}),
        ["source/articles/02-tweede.md:2: article 'tweede' is not in the reading order ('order' in issue.yaml)"],
    ),
    "order entry with no file": (
        dict(issue=ISSUE + "  - derde\n"),
        [f"{I}:22: order lists 'derde', but no article has that slug"],
    ),
    "order entry twice": (
        dict(issue=ISSUE + "  - eerste\n"),
        [f"{I}:22: 'eerste' appears twice in the reading order"],
    ),
    "slug that looks like a block id of another article": (
        dict(
            issue=ISSUE + "  - eerste-2\n",
            articles={"01-eerste.md": article(), "02-x.md": article(front=FRONT.replace("eerste", "eerste-2"))},
        ),
        ["source/articles/02-x.md:2: slug 'eerste-2' clashes with the ids of the blocks of article 'eerste'; choose another"],
    ),
    "duplicate slugs": (
        dict(articles={"01-eerste.md": article(), "02-tweede.md": article()}),
        ["source/articles/02-tweede.md:2: duplicate slug 'eerste' (also used by articles/01-eerste.md)"],
    ),
    "slug with capitals": (
        dict(articles={"01-eerste.md": article(front=FRONT.replace("slug: eerste", "slug: Eerste"))}),
        [f"{A}:2: 'slug' may hold only lower-case letters, digits and '-'",
         f"{I}:14: cover line points at article 'eerste', which does not exist",  # true: no slug is 'eerste'
         f"{I}:21: order lists 'eerste', but no article has that slug"],
    ),
    "unknown container": (
        dict(articles={"01-eerste.md": article("Tekst.\n\n::: kader\nIets.\n:::\n")}),
        [f"{A}:10: unknown container 'kader' (known: aan-het-woord, advies, caption, cv, endnote, facts, person, "
         "pullquote, question, reference, sidebar, statement)"],
    ),
    "unclosed container": (
        dict(articles={"01-eerste.md": article("Tekst.\n\n::: pullquote\n‘Iets’\n")}),
        [f"{A}:10: container is never closed: add a line with the same number of colons (:::) after its content"],
    ),
    "unknown container attribute": (
        dict(articles={"01-eerste.md": article('Tekst.\n\n::: question kleur="rood"\nWaarom?\n:::\n')}),
        [f"{A}:10: unknown attribute 'kleur' on container 'question' (allowed: number)"],
    ),
    "missing required attribute": (
        dict(articles={"01-eerste.md": article("Tekst.\n\n::: sidebar\nIets.\n:::\n")}),
        [f"{A}:10: container 'sidebar' needs the attribute label=\"…\""],
    ),
    "person without a name": (
        dict(articles={"01-eerste.md": article('Tekst.\n\n:::: aan-het-woord\n::: person role="lezer"\n:::\n::::\n')}),
        [f"{A}:10: an 'aan-het-woord' box holds only 'person' containers (use :::: outside, ::: inside)",
         f"{A}:11: container 'person' needs the attribute name=\"…\""],
    ),
    "raw HTML block": (
        dict(articles={"01-eerste.md": article("Tekst.\n\n<div>Iets</div>\n")}),
        [f"{A}:10: raw HTML is not allowed; use a container (see docs/source-format.md)"],
    ),
    "raw HTML inline": (
        dict(articles={"01-eerste.md": article("Tekst met <b>vet</b>.\n")}),
        [f"{A}:8: raw HTML is not allowed: '</b>'", f"{A}:8: raw HTML is not allowed: '<b>'"],
    ),
    "javascript: link": (
        dict(articles={"01-eerste.md": article("Tekst.\n\nMet een [link](javascript:alert(1)).\n")}),
        [f"{A}:10: link target must start with https://, http:// or mailto:; got 'javascript:alert(1)'"],
    ),
    "javascript: autolink": (
        dict(articles={"01-eerste.md": article("Tekst <javascript:alert(1)>.\n")}),
        [f"{A}:8: link target must start with https://, http:// or mailto:; got 'javascript:alert(1)'"],
    ),
    "data: link": (
        dict(articles={"01-eerste.md": article("Tekst [a](data:text/html,hoi).\n")}),
        [f"{A}:8: link target must start with https://, http:// or mailto:; got 'data:text/html,hoi'"],
    ),
    "relative link": (
        dict(articles={"01-eerste.md": article("Tekst [a](pagina.html).\n")}),
        [f"{A}:8: link target must start with https://, http:// or mailto:; got 'pagina.html'"],
    ),
    "level-1 heading": (
        dict(articles={"01-eerste.md": article("# Kop\n\nTekst.\n")}),
        [f"{A}:8: a level-1 heading (#): the article title comes from the front matter; use ## for subheadings"],
    ),
    "non-UTF-8 bytes": (
        dict(articles={"01-eerste.md": article("Tekst.\n\nCafé.\n").encode("utf-8").replace("é".encode(), b"\xe9")}),
        [f"{A}:10: not valid UTF-8 (byte 0xe9); save the file as UTF-8"],
    ),
    "control character": (
        dict(articles={"01-eerste.md": article("Tekst.\n\nMet een \x07bel.\n")}),
        [f"{A}:10: invisible control character U+0007 in the text; delete it"],
    ),
    "empty file": (
        dict(articles={"01-eerste.md": "\n  \n"}),
        [f"{A}:1: file is empty",
         f"{I}:14: cover line points at article 'eerste', which does not exist",
         f"{I}:21: order lists 'eerste', but no article has that slug"],
    ),
    "front matter never closed": (
        dict(articles={"01-eerste.md": "---\n" + FRONT + "\nTekst.\n"}),
        [f"{A}:1: the front matter is never closed: add a line '---' after the YAML keys"],
    ),
    "cover line pointing at a missing article": (
        dict(issue=ISSUE.replace("      article: eerste", "      article: tweede")),
        [f"{I}:14: cover line points at article 'tweede', which does not exist"],
    ),
    "correction whose corrected text is absent": (
        dict(corrections="- file: articles/01-eerste.md\n  printed: Een alinae.\n  corrected: Een alinea!\n  reason: typfout\n"),
        ["source/corrections.yaml:3: the corrected text does not occur in articles/01-eerste.md"],
    ),
    "correction naming no file": (
        dict(corrections="- file: ../issue.yaml\n  printed: a\n  corrected: b\n  reason: r\n"),
        ["source/corrections.yaml:1: 'file' names no file of the source: '../issue.yaml'"],
    ),
    "YAML nested too deeply": (
        dict(issue=ISSUE + "extra: " + "[" * 3000 + "]" * 3000 + "\n"),
        [f"{I}:1: YAML is nested too deeply"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_tree_reports_path_line_message(tmp_path: Path, case: str) -> None:
    tree, expected = BROKEN[case]
    assert problems(write_tree(tmp_path, **tree)) == expected


def test_a_broken_article_is_not_also_reported_missing_from_order_and_cover(tmp_path: Path) -> None:
    # The file declares slug 'eerste' but cannot load: its own problem is the whole story.
    broken = article(front=FRONT.replace("title: Een eerste artikel", "title: [3]"))
    assert problems(write_tree(tmp_path, articles={"01-eerste.md": broken})) == [f"{A}:5: 'title' must be text, not a list"]


def test_several_problems_in_several_files_are_reported_at_once_sorted(tmp_path: Path) -> None:
    source = write_tree(
        tmp_path,
        issue=ISSUE.replace("number: 1", "number: een").replace("url: https", "colour: blue\nurl: https"),
        articles={
            "01-eerste.md": article("Tekst met <b>vet</b>.\n\n# Kop\n"),
            "02-tweede.md": article("::: kader\nIets.\n:::\n\nTekst.\n", front=FRONT.replace("eerste", "tweede")),
        },
        corrections="- file: articles/01-eerste.md\n  printed: x\n  corrected: niet er\n  reason: r\n",
    )
    found = problems(source)
    assert found == [
        f"{A}:8: raw HTML is not allowed: '</b>'",
        f"{A}:8: raw HTML is not allowed: '<b>'",
        f"{A}:10: a level-1 heading (#): the article title comes from the front matter; use ## for subheadings",
        "source/articles/02-tweede.md:2: article 'tweede' is not in the reading order ('order' in issue.yaml)",
        "source/articles/02-tweede.md:8: unknown container 'kader' (known: aan-het-woord, advies, caption, cv, "
        "endnote, facts, person, pullquote, question, reference, sidebar, statement)",
        "source/corrections.yaml:3: the corrected text does not occur in articles/01-eerste.md",
        f"{I}:5: 'number' must be a whole number, not text",
        f"{I}:11: unknown key 'colour' in issue.yaml (expected one of: back_cover, cover, date, date_label, "
        "language, number, order, publisher, slug, subtitle, tagline, title, url, volume)",
    ]
    located = [(p.split(":")[0], int(p.split(":")[1])) for p in found]
    assert located == sorted(located)


# --- the command line -----------------------------------------------------------------------------------


def test_cli_reports_a_broken_source_on_stderr_and_writes_nothing(tmp_path: Path) -> None:
    source = write_tree(
        tmp_path,
        issue=ISSUE.replace("number: 1", "number: een"),
        articles={"01-eerste.md": article("Tekst [a](javascript:alert(1)).\n")},
    )
    out = tmp_path / "dist"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "epub", "--source", "source", "--out", "dist"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        f"{A}:8: link target must start with https://, http:// or mailto:; got 'javascript:alert(1)'",
        f"{I}:5: 'number' must be a whole number, not text",
    ]
    assert "2 problems" in lines[-1]
    assert list(out.iterdir()) == []
