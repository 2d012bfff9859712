"""Render the model to XHTML through Jinja2 templates (autoescaped, StrictUndefined).

Contract: functions here take a ``model.Issue`` and return XHTML text that is also valid HTML5 (explicit
end tags everywhere), for either edition: ``edition="epub"`` (reflowable, live links, one document per
article) or ``edition="print"`` (one document for WeasyPrint, QR codes).  Nothing here reads the source
tree or writes files.  Every block gets a stable id (``<slug>-<n>``) so the print layout can report on
which page each element lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Literal

import jinja2
from markupsafe import Markup, escape

from publisher import model as m

Edition = Literal["epub", "print"]

XHTML_NS = "http://www.w3.org/1999/xhtml"
EPUB_NS = "http://www.idpf.org/2007/ops"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("publisher", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["inline"] = inline_html
    env.filters["kind"] = lambda block: type(block).__name__
    env.filters["plain"] = m.plain_text
    env.filters["linkify_printed"] = linkify_printed
    return env


def inline_html(inlines: m.Inlines | None) -> Markup:
    """Inline content as escaped XHTML."""
    if not inlines:
        return Markup("")
    return Markup("").join(_inline(node) for node in inlines)


def _inline(node: m.Inline) -> Markup:
    if isinstance(node, m.Text):
        return escape(node.text)
    if isinstance(node, m.Code):
        return Markup("<code>%s</code>") % node.text
    if isinstance(node, m.LineBreak):
        return Markup("<br />")
    if isinstance(node, m.Emphasis):
        return Markup("<em>%s</em>") % inline_html(node.children)
    if isinstance(node, m.Strong):
        return Markup("<strong>%s</strong>") % inline_html(node.children)
    if isinstance(node, m.Link):
        return Markup('<a href="%s">%s</a>') % (node.href, inline_html(node.children))
    raise TypeError(f"unknown inline {node!r}")


def linkify_printed(inlines: m.Inlines, url: str | None) -> m.Inlines:
    """Make the printed form of ``url`` (e.g. "www.ser.nl/sermagazine") inside ``inlines`` a live link."""
    if not url:
        return inlines
    printed = url.split("://", 1)[-1].rstrip("/")
    out: list[m.Inline] = []
    for node in inlines:
        if isinstance(node, m.Text):
            index = node.text.lower().find(printed.lower())
            if index >= 0:
                end = index + len(printed)
                out.extend(n for n in (
                    m.Text(node.text[:index]),
                    m.Link(url, (m.Text(node.text[index:end]),)),
                    m.Text(node.text[end:]),
                ) if not (isinstance(n, m.Text) and not n.text))
                continue
        out.append(node)
    return tuple(out)


@dataclass
class Anchors:
    """Stable ids for the blocks of one article: ``<slug>-<n>`` in document order."""

    slug: str
    ids: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, article: m.Article) -> "Anchors":
        anchors = cls(article.slug)
        for number, block in enumerate(m.walk(article.blocks), start=1):
            anchors.ids[id(block)] = f"{article.slug}-{number}"
        return anchors

    def __call__(self, block: m.Block) -> str:
        return self.ids[id(block)]


def article_context(issue: m.Issue, article: m.Article, edition: Edition, **extra) -> dict:
    """What every article template needs."""
    return {
        "issue": issue, "article": article, "edition": edition, "anchor": Anchors.of(article),
        "position": issue.articles.index(article) + 1, **extra,
    }


def render_template(name: str, **context) -> str:
    return environment().get_template(name).render(**context)


def article_words(article: m.Article) -> Iterable[str]:
    """The article's words in reading order (title, lead, body): the text both editions must carry."""
    yield from article.title.split()
    if article.lead:
        yield from m.plain_text(article.lead).split()
    for block in m.walk(article.blocks):
        for part in _block_texts(block):
            yield from part.split()


def _block_texts(block: m.Block) -> Iterable[str]:
    if isinstance(block, (m.Paragraph, m.Heading, m.Caption)):
        yield m.plain_text(block.inlines)
    elif isinstance(block, m.Box):
        if block.label:
            yield block.label
        if block.title:
            yield m.plain_text(block.title)
    elif isinstance(block, m.Statement):
        yield m.plain_text(block.title)
    elif isinstance(block, m.Person):
        yield block.name
        if block.role:
            yield block.role
    elif isinstance(block, m.Reference):
        yield block.label
