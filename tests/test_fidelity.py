"""Fidelity of ``source/`` to the printed magazine: every word once, nothing invented, in reading order.

The printed issue exists only as raw text extracted from the PDF; ``tests/fixtures/seed.txt`` is a byte
copy of it, so this test runs on a fresh clone.  Both sides are reduced to word tokens (``normalise``):
lower case, no punctuation or quote marks, apostrophes and hyphens inside words deleted (so the
transcriber's choice between ``leven-lang`` and ``levenlang`` cannot matter, but ``good will`` for
``goodwill`` does).  Then:

1. Counts: the multiset of words of the cleaned seed must equal the multiset of words the model prints
   (metadata, front matter, every block), except for the corrections in ``source/corrections.yaml`` and
   the short, explained allowlists below.  A dropped, doubled or invented word changes a count.
2. Order: every text of the model of ``WINDOW`` words or more must be made of runs of ``WINDOW``
   consecutive words that occur, contiguously, in the cleaned seed, on the seed pages of the same
   article.  Breaks between runs are allowed (the seed interleaves columns, boxes and titles; the
   transcribers restored the reading order), but an invented, reshuffled or misplaced passage leaves
   words that no seed window covers.

"Cleaning the seed" removes only what is not editorial text; every rule is listed below with its reason,
and ``test_removed_seed_ranges_are_copies_of_text_that_stays`` proves the removed ranges are copies of text that stays.
Tampered copies of the source prove that each kind of mistake fails the checks.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from publisher import model as m
from publisher.load import load_issue

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "fixtures" / "seed.txt"
SEED_SHA256 = "edbbed40e8c019b74c18594a3f07316291338755bbfbf76dcba1f0d776db5e34"  # /work/shared/seed/000_3ed600bc322f094c.txt
SOURCE = ROOT / "source"

# --- what the seed holds that is not editorial text (line numbers of seed.txt, 1-based, inclusive) ----

NOT_EDITORIAL_RANGES = [
    (672, 724, "second copy of pages 10-11, the fact sheet (first copy: lines 614-666)"),
    (1431, 1446, "second printing of the series intro 'De SER over de toekomstige arbeidsmarkt' (first: 1133-1147)"),
    (1712, 1725, "third printing of the same series intro"),
    (1931, 1944, "fourth printing of the same series intro"),
    (2104, 2176, "second copy of the cover spread (first copy: lines 1-73); the cover lines that follow, "
                 "2177-2190, exist only here and stay"),
]

# Running footers: "SERMAGAZINE #3 2021 11", "11SERMAGAZINE #3 2021SERMAGAZINE #3 202110", "… 202116".
FOOTER = re.compile(r"^\s*\d*SERMAGAZINE #3 2021")

# A running rubric is a line in capitals ("ZO DOEN WIJ DAT ROBOTICA"); print repeats it at page tops.
# Its first printing is the article's rubric (rubric + topic in the source); the repeats go.
RUBRIC_LINE = re.compile(r"^[A-ZÀ-Þ&\- ]+$")


def is_rubric_line(line: str) -> bool:
    """A line of two or more words in capitals (one capital word is a label like "CV")."""
    stripped = line.strip()
    return bool(RUBRIC_LINE.match(stripped)) and len(stripped.split()) >= 2

# Words broken at a line end whose second half the extraction put after an interleaved box or column:
# seed line of the first half -> seed line that starts with the second half.  The transcribers joined
# them where the reading order continues; the test joins them the same way.
SPLIT_WORDS = {
    813: 822,    # "Werken-" | lead, credits | "den ervaren minder stress" (05 Laagland)
    1506: 1563,  # "‘Leercul-" | lead, title, caption, end note | "tuur-accelerator’" (09 Groningen)
    1548: 1482,  # "trainingsprogram-" | title, caption | "ma’s die mensen" (09 Groningen, extracted earlier)
}

# Extraction artefacts inside a line, repaired before comparing: (line, printed, repaired, why).
ARTEFACTS = [
    (385, "I n het", "In het", "drop cap 'I' split from its word (02 column)"),
]

# Lone quote glyphs (“ or “ “ on a line of their own: decoration) and box labels need no rule: glyphs
# have no words, and labels ("Advies", "CV", "Aan het woord", "De rode draad") are compared with the
# labels of the model's boxes.

# The seed pages of each part of the issue (for the order check: a passage must come from its own pages).
SEED_PAGES: dict[str, list[tuple[int, int]]] = {
    "issue": [(1, 73), (2177, 2190)],  # cover spread (front and back) and cover lines
    "hamer": [(74, 372)],
    "column-ait-abderrahman": [(373, 432)],
    "nieuwe-energie-voor-de-bouw": [(433, 613)],
    "mlt-in-vogelvlucht": [(614, 767)],
    "interview-laagland": [(768, 979)],
    "vast-en-flex": [(980, 1130)],
    "toekomstige-arbeidsmarkt": [(1131, 1210), (1378, 1446), (1647, 1725), (1880, 1944)],  # spread over pages
    "niemand-is-uitgeleerd": [(1211, 1377)],
    "energietransitie-groningen": [(1447, 1646)],
    "looprobot": [(1726, 1881)],
    "gelijke-kansen-osb": [(1945, 2103)],
}

# --- what the source may legitimately differ in (besides source/corrections.yaml) ----------------------

# Words of the seed the source does not carry: word -> (count, reason).  None are needed.
ALLOWED_MISSING: dict[str, tuple[int, str]] = {}

# Words the source carries that the seed does not: word -> (count, reason).
ALLOWED_EXTRA: dict[str, tuple[int, str]] = {
    "ser": (1, "the title 'SER Magazine': the masthead's 'SER' is a logo, the extraction holds only 'magazine' (line 4)"),
}

WINDOW = 8  # words per order window: long enough to be unique in the issue, short enough to fit between breaks
MIN_COVERED = 0.9  # share of a text's words that seed windows must cover
MAX_UNCOVERED_RUN = 3  # longest run of words no window covers (a corrected word; an invented sentence is longer)


# --- normalisation ------------------------------------------------------------------------------------


def normalise(text: str) -> list[str]:
    """Word tokens: lower case, punctuation dropped, apostrophes and hyphens inside words deleted."""
    text = unicodedata.normalize("NFC", text).lower()
    text = re.sub(r"(?<=\w)[’'](?=\w)", "", text)  # zo’n, zzp’ers, cao’s
    text = re.sub(r"(?<=\w)-(?=\w)", "", text)  # leven-lang = levenlang, MLT-advies = mltadvies
    return re.findall(r"\w+", text)


def join_hyphenation(text: str) -> str:
    """Join words broken at a line end; keep an elliptic hyphen ("zonne- \\nen windparken")."""
    text = re.sub(r"(?<=\w)-[ \t]*\n\s*(?=(?:en|of)\b)", "- ", text)
    return re.sub(r"(?<=\w)-[ \t]*\n\s*-?(?=\w)", "", text)  # "leven-\n-lang": the compound's own hyphen


@dataclass(frozen=True)
class SeedWord:
    word: str
    line: int  # the seed line the word starts on


def clean_seed_lines(raw: str) -> list[tuple[int, str]]:
    """(line number, text) of the seed's editorial lines, with split words and artefacts repaired."""
    lines = dict(enumerate(raw.split("\n"), start=1))
    for first, last, _why in NOT_EDITORIAL_RANGES:
        for number in range(first, last + 1):
            del lines[number]
    seen_rubrics: set[str] = set()
    for number, line in list(lines.items()):
        stripped = line.strip()
        if FOOTER.match(line):
            del lines[number]
        elif is_rubric_line(stripped):
            if stripped in seen_rubrics:
                del lines[number]
            seen_rubrics.add(stripped)
    for number, printed, repaired, _why in ARTEFACTS:
        assert printed in lines[number], f"seed line {number} no longer holds {printed!r}"
        lines[number] = lines[number].replace(printed, repaired, 1)
    for first, second in SPLIT_WORDS.items():
        assert lines[first].rstrip().endswith("-"), f"seed line {first} does not end in a broken word"
        head, _, rest = lines[second].strip().partition(" ")
        lines[first] = lines[first].rstrip() + head
        lines[second] = rest
    return sorted((number, text) for number, text in lines.items() if text.strip())


def seed_words(raw: str) -> list[SeedWord]:
    """The cleaned seed as one stream of normalised words, each with its seed line."""
    marked = "\n".join(f"\x00{number}\x00{text}" for number, text in clean_seed_lines(raw))
    # A line mark must not stop hyphenation from joining: the word belongs to the line it starts on.
    marked = re.sub(r"-([ \t]*)\n\x00\d+\x00", r"-\1\n", marked)
    words: list[SeedWord] = []
    line = 0
    for part in re.split(r"\x00(\d+)\x00", join_hyphenation(marked))[1:]:
        if part.isdigit():
            line = int(part)
        else:
            words.extend(SeedWord(w, line) for w in normalise(part))
    return words


# --- the words the model prints ----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceText:
    part: str  # "issue" or an article slug
    where: str  # "articles/01-hamer.md:45" or "issue.yaml: cover line"
    text: str


def _inline_text(inlines: m.Inlines | None) -> str:
    return m.plain_text(inlines) if inlines else ""


def _block_texts(block: m.Block) -> list[str]:
    """The printed words a block adds itself; its child blocks are walked separately."""
    if isinstance(block, (m.Paragraph, m.Heading, m.Caption)):
        return [_inline_text(block.inlines)]
    if isinstance(block, m.Question):
        return [str(block.number) if block.number is not None else ""]  # "1 Waarom is dit advies …"
    if isinstance(block, m.Box):
        return [block.label or "", _inline_text(block.title)]
    if isinstance(block, m.Person):
        return [block.name, block.role or ""]
    if isinstance(block, m.Statement):
        # name and organisation repeat the printed heading ("Tuur Elzinga, FNV: ‘…’"), which is compared;
        # test_statement_names_come_from_their_heading proves they add no words of their own.
        return [_inline_text(block.title)]
    if isinstance(block, m.Reference):
        return [block.label]  # the url is the QR code's target, not printed text
    if isinstance(block, m.Image):
        return [block.alt]
    return []  # ListBlock, PullQuote, Quote, EndNote: only their children print words


def source_texts(issue: m.Issue) -> list[SourceText]:
    """Every printed string of the model, with where it comes from."""
    meta = [("title", issue.title), ("subtitle", issue.subtitle), ("tagline", issue.tagline),
            ("issue line", issue.issue_line)]
    for line in issue.cover.lines:
        meta += [("cover line", line.kicker or ""), ("cover line", line.text)]
    if issue.cover.story:
        story = issue.cover.story
        meta += [("cover story", story.question), ("cover story", story.lead or "")]
        for quote in story.quotes:
            meta += [("cover quote", t) for t in (quote.name, quote.role or "", quote.text)]
    for teaser in issue.back_teasers:
        url = teaser.url.split("://", 1)[1] if teaser.url else ""  # printed without its scheme
        meta += [("back cover", t) for t in (teaser.title, teaser.text or "", url)]
    out = [SourceText("issue", f"issue.yaml: {what}", text) for what, text in meta]
    for article in issue.articles:
        head = [article.rubric, article.topic or "", article.title, _inline_text(article.lead)]
        head += [f"{credit.role} {credit.names}" for credit in article.credits]
        if article.author:
            head += [article.author.name, article.author.role or ""]
        out += [SourceText(article.slug, f"{article.path}: front matter", text) for text in head]
        for block in m.walk(article.blocks):
            out += [SourceText(article.slug, f"{article.path}:{block.line}", text) for text in _block_texts(block)]
    return [t for t in out if t.text.strip()]


# --- the checks ---------------------------------------------------------------------------------------


def count_findings(issue: m.Issue, seed: list[SeedWord]) -> list[str]:
    """Differences between the word counts of the seed and of the model that nothing explains."""
    texts = source_texts(issue)
    seed_counts = Counter(w.word for w in seed)
    source_counts = Counter(w for t in texts for w in normalise(t.text))
    missing, extra = seed_counts - source_counts, source_counts - seed_counts
    may_miss, must_add = Counter(), Counter()
    findings = []
    for c in issue.corrections:
        printed, corrected = Counter(normalise(c.printed)), Counter(normalise(c.corrected or ""))
        gone = printed - corrected
        if gone and not any(missing[w] for w in gone):
            findings.append(f"STALE correction in {c.file}: the printed {c.printed!r} is still in the source")
        may_miss += gone
        must_add += corrected - printed
    for word, (count, reason) in ALLOWED_MISSING.items():
        if missing[word] < count:
            findings.append(f"STALE ALLOWED_MISSING {word!r} ×{count}: {missing[word]} missing ({reason})")
        may_miss[word] += count
    for word, (count, _reason) in ALLOWED_EXTRA.items():
        must_add[word] += count
    for word, count in (must_add - extra).items():
        findings.append(f"STALE: {count} more {word!r} expected in the source by a correction or ALLOWED_EXTRA")
    seed_lines: dict[str, list[int]] = {}
    for w in seed:
        seed_lines.setdefault(w.word, []).append(w.line)
    places: dict[str, list[str]] = {}
    for t in texts:
        for w in normalise(t.text):
            places.setdefault(w, []).append(t.where)

    def describe(word: str) -> str:
        return (f"seed {seed_counts[word]}× (lines {_short(seed_lines.get(word, []))}), "
                f"source {source_counts[word]}× ({_short(places.get(word, []))})")

    def rare_first(words: Counter) -> list[str]:  # distinctive words tell the reader more than "de"
        return sorted(words, key=lambda w: (seed_counts[w] + source_counts[w], w))

    findings += [f"MISSING {word!r}: {describe(word)}" for word in rare_first(missing - may_miss)]
    findings += [f"EXTRA {word!r}: {describe(word)}" for word in rare_first(extra - must_add)]
    return findings


def _short(items: list) -> str:
    unique = list(dict.fromkeys(items))
    return ", ".join(str(i) for i in unique[:6]) + (" …" if len(unique) > 6 else "")


def order_findings(issue: m.Issue, seed: list[SeedWord]) -> list[str]:
    """Texts whose words are not runs of the seed's word sequence on their own pages."""
    stream = [w.word for w in seed]
    window_lines: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(stream) - WINDOW + 1):
        window_lines.setdefault(tuple(stream[i:i + WINDOW]), []).append(seed[i].line)
    page_texts = {
        part: f" {' '.join(w.word for w in seed if any(a <= w.line <= b for a, b in pages))} "
        for part, pages in SEED_PAGES.items()
    }
    findings = []
    for text in source_texts(issue):
        words = normalise(text.text)
        if len(words) < WINDOW:
            continue  # headings, names, captions: the counts cover them
        pages = SEED_PAGES[text.part]
        covered = [False] * len(words)
        for i in range(len(words) - WINDOW + 1):
            lines = window_lines.get(tuple(words[i:i + WINDOW]), [])
            if any(first <= line <= last for line in lines for first, last in pages):
                covered[i:i + WINDOW] = [True] * WINDOW
        _cover_short_pieces(words, covered, page_texts[text.part])
        share = sum(covered) / len(words)
        runs = [len(r) for r in re.findall(r"0+", "".join("1" if c else "0" for c in covered))]
        if share < MIN_COVERED or max(runs, default=0) > MAX_UNCOVERED_RUN:
            starts = [i for i, c in enumerate(covered) if not c and (i == 0 or covered[i - 1])]
            gaps = " | ".join(" ".join(words[i:i + 8]) for i in starts[:5])
            findings.append(f"ORDER {text.where}: {share:.0%} of {len(words)} words in seed order; not found: {gaps}")
    return findings


def _cover_short_pieces(words: list[str], covered: list[bool], seed_text: str) -> None:
    """Accept an uncovered run of several words that occurs as it stands on the article's seed pages: a
    piece shorter than a window printed between two interleaved elements, e.g. 06's "toegang tot arbeidsongeschiktheids-
    verzekering en pensioen" (seed 1043-1044, between the credits and the next paragraph)."""
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and not covered[j]:
            j += 1
        if j - i > 1 and f" {' '.join(words[i:j])} " in seed_text:
            covered[i:j] = [True] * (j - i)
        i = j + 1


def fidelity_findings(source: Path) -> list[str]:
    issue = load_issue(source)
    seed = seed_words(SEED.read_text(encoding="utf-8"))
    return count_findings(issue, seed) + order_findings(issue, seed)


# --- the real source ----------------------------------------------------------------------------------


def test_seed_fixture_is_the_raw_extraction() -> None:
    data = SEED.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SEED_SHA256, "the seed fixture must stay a byte copy"
    assert data.count(b"\n") == 2190  # the line numbers in this file refer to these lines


def test_source_carries_every_word_of_the_seed_once_in_order() -> None:
    findings = fidelity_findings(SOURCE)
    assert not findings, "source/ differs from the printed text:\n" + "\n".join(findings)


def test_removed_seed_ranges_are_copies_of_text_that_stays() -> None:
    raw = SEED.read_text(encoding="utf-8")
    lines = raw.split("\n")
    kept_lines = [text for _, text in clean_seed_lines(raw) if not is_rubric_line(text)]
    kept = f" {' '.join(normalise(join_hyphenation(chr(10).join(kept_lines))))} "
    for first, last, why in NOT_EDITORIAL_RANGES:
        removed = "\n".join(line for line in lines[first - 1:last] if not is_rubric_line(line))
        words = normalise(join_hyphenation(removed))
        assert len(words) > 40, why
        assert f" {' '.join(words)} " in kept, f"lines {first}-{last} are not a copy: {why}"


def test_seed_cleaning_drops_only_footers_and_repeated_rubrics() -> None:
    raw = SEED.read_text(encoding="utf-8")
    in_ranges = {n for first, last, _ in NOT_EDITORIAL_RANGES for n in range(first, last + 1)}
    kept = {n for n, _ in clean_seed_lines(raw)}
    dropped = {
        n: line.strip() for n, line in enumerate(raw.split("\n"), start=1)
        if line.strip() and n not in in_ranges and n not in kept
    }
    footers = {n for n, line in dropped.items() if FOOTER.match(line)}
    rubrics = {n: line for n, line in dropped.items() if n not in footers}
    assert footers == {670, 726, 1208}
    assert sorted(rubrics) == [144, 545, 742, 1209, 1376, 1649, 1881, 1926]
    kept_text = dict(clean_seed_lines(raw))
    assert all(line in {t.strip() for t in kept_text.values()} for line in rubrics.values())


def test_statement_names_come_from_their_heading() -> None:
    issue = load_issue(SOURCE)
    statements = [b for a in issue.articles for b in m.walk(a.blocks) if isinstance(b, m.Statement)]
    assert len(statements) == 6
    for statement in statements:
        heading = m.plain_text(statement.title)
        assert heading.startswith(f"{statement.name}, {statement.organisation}:"), heading


# --- tampered copies: each kind of mistake fails ------------------------------------------------------


def _copy_source(tmp_path: Path) -> Path:
    target = tmp_path / "source"
    shutil.copytree(SOURCE, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


COLUMN = "articles/02-column-ait-abderrahman.md"
ROBOT = "articles/10-looprobot.md"
OSB = "articles/11-gelijke-kansen-osb.md"
ROBOT_PARAGRAPH = (
    "Dat begint met het creëren van maximale gebruiksvriendelijkheid. Die kans kreeg Gable Systems in de "
    "Proeftuin Robotica, een ecosysteem dat bedrijven in staat stelt samen met cliënten en zorgprofessionals "
    "robotica-oplossingen te toetsen. “We zouden de robot in 2020 in een realistische omgeving testen, dus met "
    "fysiotherapeuten en patiënten. De pandemie gooide roet in het eten, heel jammer.”"
)


def _invent_sentence(src: Path) -> None:
    _edit(src / COLUMN, "Ook voor werkende jongeren.", "Ook voor werkende jongeren. Dit heeft de redactie nooit zo gedrukt.")


def _drop_sentence(src: Path) -> None:
    _edit(src / COLUMN, "Van de ene op de andere dag was ik mijn inkomen kwijt. ", "")


def _duplicate_paragraph(src: Path) -> None:
    _edit(src / ROBOT, ROBOT_PARAGRAPH, ROBOT_PARAGRAPH + "\n\n" + ROBOT_PARAGRAPH)


def _move_paragraph_to_another_article(src: Path) -> None:
    _edit(src / ROBOT, ROBOT_PARAGRAPH + "\n\n", "")
    _edit(src / OSB, "## Ruimte en tijd\n", ROBOT_PARAGRAPH + "\n\n## Ruimte en tijd\n")


def _shuffle_paragraph(src: Path) -> None:
    words = ROBOT_PARAGRAPH.split()
    random.Random(3).shuffle(words)
    _edit(src / ROBOT, ROBOT_PARAGRAPH, " ".join(words))


def _split_a_joined_word(src: Path) -> None:
    _edit(src / "articles/03-nieuwe-energie-voor-de-bouw.md", "scheut goodwill", "scheut good will")


def _drop_a_box(src: Path) -> None:
    path = src / "articles/05-interview-laagland.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("::: cv")], encoding="utf-8")


def _forget_a_correction(src: Path) -> None:
    path = src / "corrections.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("- file: articles/06-vast-en-flex.md")
    end = text.index("- file:", start + 1)
    path.write_text(text[:start] + text[end:], encoding="utf-8")


TAMPERING: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "invented sentence": (_invent_sentence, ["EXTRA 'redactie'", "EXTRA 'gedrukt'", f"ORDER {COLUMN}:"]),
    "dropped sentence": (_drop_sentence, ["MISSING 'inkomen'", "MISSING 'kwijt'", "MISSING 'andere'"]),
    "duplicated paragraph": (_duplicate_paragraph, ["EXTRA 'proeftuin'", "EXTRA 'ecosysteem'", "EXTRA 'pandemie'"]),
    "paragraph moved to another article": (_move_paragraph_to_another_article, [f"ORDER {OSB}:"]),
    "shuffled paragraph": (_shuffle_paragraph, [f"ORDER {ROBOT}:"]),
    "hyphenation split wrongly": (_split_a_joined_word, ["MISSING 'goodwill'", "EXTRA 'good'", "EXTRA 'will'"]),
    "box dropped": (_drop_a_box, ["MISSING 'cv'", "MISSING 'radboud'", "MISSING 'advocaat'"]),
    "correction not listed": (_forget_a_correction, ["MISSING 'ellly'", "EXTRA 'elly'"]),
}


def test_untampered_copy_passes(tmp_path: Path) -> None:
    assert fidelity_findings(_copy_source(tmp_path)) == []


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_tampered_copy_fails(tmp_path: Path, name: str) -> None:
    tamper, expected = TAMPERING[name]
    src = _copy_source(tmp_path)
    tamper(src)
    findings = fidelity_findings(src)
    report = "\n".join(findings)
    for marker in expected:
        assert any(f.startswith(marker) for f in findings), f"{name}: no finding {marker!r} in:\n{report}"
