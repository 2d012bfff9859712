"""The frozen model of one magazine issue: issue -> articles -> blocks -> inlines.

Everything here is immutable (frozen dataclasses holding tuples) and carries no markup: renderers decide
how each element looks.  Every block remembers the source line it came from, so later stages can still
point an editor at ``path:line``.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Literal, Union

# --- inline content -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Emphasis:
    children: tuple["Inline", ...]


@dataclass(frozen=True, slots=True)
class Strong:
    children: tuple["Inline", ...]


@dataclass(frozen=True, slots=True)
class Code:
    text: str


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    children: tuple["Inline", ...]


@dataclass(frozen=True, slots=True)
class LineBreak:
    pass


Inline = Union[Text, Emphasis, Strong, Code, Link, LineBreak]
Inlines = tuple[Inline, ...]


def plain_text(inlines: Inlines) -> str:
    """The words of inline content without any formatting (for titles, alt text, comparisons)."""
    parts: list[str] = []
    for node in inlines:
        if isinstance(node, (Text, Code)):
            parts.append(node.text)
        elif isinstance(node, LineBreak):
            parts.append(" ")
        else:
            parts.append(plain_text(node.children))
    return "".join(parts)


# --- blocks ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paragraph:
    inlines: Inlines
    line: int


@dataclass(frozen=True, slots=True)
class Heading:
    level: int  # 2 = subheading of the article (the article title is level 1)
    inlines: Inlines
    line: int


@dataclass(frozen=True, slots=True)
class ListBlock:
    ordered: bool
    start: int
    items: tuple[tuple["Block", ...], ...]
    line: int


@dataclass(frozen=True, slots=True)
class Quote:
    """A block quotation (Markdown ``>``)."""

    blocks: tuple["Block", ...]
    line: int


@dataclass(frozen=True, slots=True)
class Image:
    src: str  # path relative to the source folder, e.g. "images/foto.jpg"
    alt: str
    media_type: str
    width: int
    height: int
    line: int
    data: bytes = field(repr=False, default=b"")  # the checked file's bytes: packagers never reread the tree


@dataclass(frozen=True, slots=True)
class Question:
    """An interviewer's question; the answer is the ordinary text that follows it."""

    number: int | None
    blocks: tuple["Block", ...]
    line: int


@dataclass(frozen=True, slots=True)
class PullQuote:
    """A quotation pulled out of the text for display; its words are the editor's choice."""

    blocks: tuple["Block", ...]
    line: int


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    role: str | None
    blocks: tuple["Block", ...]  # their quote, possibly empty
    line: int


BoxKind = Literal["advies", "cv", "sidebar", "aan-het-woord", "facts"]


@dataclass(frozen=True, slots=True)
class Box:
    """A tinted box beside the text: Advies, CV, Aan het woord, a sidebar, a headed fact list."""

    kind: BoxKind
    label: str | None  # the small label on top ("Advies", "CV", "House of Skills"); None for facts
    title: Inlines | None  # the box's own heading, if any
    blocks: tuple["Block", ...]
    line: int


@dataclass(frozen=True, slots=True)
class Caption:
    """A photo caption; the seed holds no photographs, so it stands alone."""

    inlines: Inlines
    line: int


@dataclass(frozen=True, slots=True)
class Reference:
    """"Meer weten?" / "Verder lezen?": a QR code in print, a live link in the EPUB."""

    label: str
    url: str
    blocks: tuple["Block", ...]
    line: int


@dataclass(frozen=True, slots=True)
class EndNote:
    """"Dit verhaal verscheen …" at the end of an article."""

    url: str | None
    blocks: tuple["Block", ...]
    line: int


@dataclass(frozen=True, slots=True)
class Statement:
    """One person's contribution to a series article."""

    name: str
    organisation: str | None
    title: Inlines
    blocks: tuple["Block", ...]
    line: int


Block = Union[
    Paragraph, Heading, ListBlock, Quote, Image, Question, PullQuote, Person, Box, Caption, Reference,
    EndNote, Statement,
]


def walk(blocks: tuple[Block, ...]):
    """Every block in document order, containers before their contents."""
    for block in blocks:
        yield block
        if isinstance(block, ListBlock):
            for item in block.items:
                yield from walk(item)
        elif hasattr(block, "blocks"):
            yield from walk(block.blocks)


# --- articles and the issue -----------------------------------------------------------------------

ArticleKind = Literal["feature", "interview", "column", "factsheet", "series"]


@dataclass(frozen=True, slots=True)
class Credit:
    role: str  # "Tekst", "Foto’s", "Beeld" …
    names: str  # as printed


@dataclass(frozen=True, slots=True)
class Author:
    name: str
    role: str | None


@dataclass(frozen=True, slots=True)
class Article:
    slug: str
    kind: ArticleKind
    rubric: str
    topic: str | None
    title: str
    lead: Inlines | None
    credits: tuple[Credit, ...]
    author: Author | None
    blocks: tuple[Block, ...]
    path: str  # relative to the source folder, e.g. "articles/01-hamer.md"

    @property
    def kicker(self) -> str:
        """The full rubric line as printed above the title ("Zo doen wij dat · Robotica")."""
        return f"{self.rubric} · {self.topic}" if self.topic else self.rubric


@dataclass(frozen=True, slots=True)
class CoverLine:
    kicker: str | None
    text: str
    article: str  # slug


@dataclass(frozen=True, slots=True)
class CoverQuote:
    name: str
    role: str | None
    text: str


@dataclass(frozen=True, slots=True)
class CoverStory:
    question: str
    lead: str | None
    quotes: tuple[CoverQuote, ...]


@dataclass(frozen=True, slots=True)
class Cover:
    lines: tuple[CoverLine, ...]
    story: CoverStory | None


@dataclass(frozen=True, slots=True)
class Teaser:
    title: str
    text: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class Correction:
    file: str
    printed: str
    corrected: str | None  # None: the printed text was removed (an artefact, not editorial text)
    reason: str


@dataclass(frozen=True, slots=True)
class Issue:
    title: str
    subtitle: str
    tagline: str
    slug: str
    number: int
    volume: int
    date: _dt.date
    date_label: str
    publisher: str
    language: str
    url: str
    cover: Cover
    back_teasers: tuple[Teaser, ...]
    articles: tuple[Article, ...]
    corrections: tuple[Correction, ...] = field(default=())

    @property
    def issue_line(self) -> str:
        """"September 2021 #3 - jaargang 61", as printed on the cover."""
        return f"{self.date_label} #{self.number} - jaargang {self.volume}"

    @property
    def running_title(self) -> str:
        """The issue name in the folio line ("SER Magazine #3 2021")."""
        return f"{self.title} #{self.number} {self.date.year}"

    def article(self, slug: str) -> Article:
        return next(a for a in self.articles if a.slug == slug)
