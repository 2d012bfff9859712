"""Article bodies: CommonMark with magazine containers -> model blocks, with every problem located.

The parser is markdown-it-py (CommonMark) with mdit-py-plugins' fenced containers (``::: name``).  Raw
HTML is never allowed (see docs/source-format.md, "the safety policy"): every magazine element has a
container, so HTML could only add risk.  Links must be http(s) or mailto; images must be PNG or JPEG
files inside the source tree.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.container import container_plugin

from publisher import model as m
from publisher.errors import Problems
from publisher.images import check_image

MAX_BLOCKS = 3000  # a long magazine article has a few hundred; more is a pasted-in mistake
MAX_WORD = 80  # characters without a space; the longest Dutch compounds stay far below
MAX_NESTING = 6  # lists inside lists inside containers
SAFE_SCHEMES = ("https://", "http://", "mailto:")

_CONTAINER = "any"


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    container_plugin(md, _CONTAINER, validate=lambda params, *args: True)
    md.options["maxNesting"] = 40
    return md


_MD = _parser()


@dataclass
class Context:
    """Where a body sits: the file, the line its first line has in the file, the source root."""

    path: Path
    first_line: int
    root: Path
    problems: Problems

    def problem(self, token_or_line: Token | int | None, message: str) -> None:
        self.problems.add(self.path, self.line(token_or_line), message)

    def line(self, token_or_line: Token | int | None) -> int:
        if isinstance(token_or_line, int):
            return token_or_line
        if token_or_line is not None and token_or_line.map:
            return self.first_line + token_or_line.map[0]
        return self.first_line


def parse_body(text: str, ctx: Context) -> tuple[m.Block, ...]:
    """Parse an article body into blocks; problems go to ``ctx.problems``."""
    _check_words(text, ctx)
    tokens = _MD.parse(text)
    blocks, _ = _blocks(tokens, 0, ctx, closing=None, depth=0)
    count = sum(1 for _ in m.walk(blocks))
    if count > MAX_BLOCKS:
        ctx.problem(ctx.first_line, f"article has {count} blocks; the limit is {MAX_BLOCKS} (split it into several articles)")
    return blocks


def parse_inline(text: str, ctx: Context, line: int) -> m.Inlines:
    """Parse a one-paragraph value (a lead) into inlines."""
    tokens = _MD.parseInline(text)
    return _inlines(tokens[0].children or [], ctx, line) if tokens else ()


def _check_words(text: str, ctx: Context) -> None:
    for number, line in enumerate(text.split("\n"), start=ctx.first_line):
        longest = max((len(w) for w in line.split()), default=0)
        if longest > MAX_WORD:
            ctx.problem(number, f"a word of {longest} characters; the limit is {MAX_WORD} (missing spaces?)")


# --- blocks ---------------------------------------------------------------------------------------


def _blocks(tokens: list[Token], i: int, ctx: Context, closing: str | None, depth: int) -> tuple[tuple[m.Block, ...], int]:
    """Convert tokens from ``i`` up to the token of type ``closing``; return blocks and the index after it."""
    if depth > MAX_NESTING:
        ctx.problem(tokens[i] if i < len(tokens) else None, f"elements nested more than {MAX_NESTING} deep")
        return (), _skip_to(tokens, i, closing)
    out: list[m.Block] = []
    while i < len(tokens):
        tok = tokens[i]
        if closing and tok.type == closing:
            return tuple(out), i + 1
        handler = _HANDLERS.get(tok.type)
        if handler is None:
            ctx.problem(_token_with_map(tokens, i), _UNSUPPORTED.get(tok.type, f"unsupported Markdown element ({tok.type})"))
            i = _skip_block(tokens, i)
            continue
        block, i = handler(tokens, i, ctx, depth)
        if block is not None:
            out.append(block)
    return tuple(out), i


_UNSUPPORTED = {
    "html_block": "raw HTML is not allowed; use a container (see docs/source-format.md)",
    "fence": "code blocks are not part of the magazine format",
    "code_block": "indented code block: remove the leading spaces (four or more spaces start code)",
    "hr": "horizontal rules are not part of the magazine format",
}


def _token_with_map(tokens: list[Token], i: int) -> Token | None:
    for tok in tokens[i:]:
        if tok.map:
            return tok
    return None


def _skip_block(tokens: list[Token], i: int) -> int:
    """Index after the block starting at ``i`` (balanced by nesting)."""
    level = 0
    while i < len(tokens):
        level += tokens[i].nesting
        i += 1
        if level <= 0:
            return i
    return i


def _skip_to(tokens: list[Token], i: int, closing: str | None) -> int:
    level = 0
    while i < len(tokens):
        tok = tokens[i]
        if closing and tok.type == closing and level == 0:
            return i + 1
        level += tok.nesting
        i += 1
    return i


def _paragraph(tokens, i, ctx, depth):
    inline = tokens[i + 1]
    line = ctx.line(tokens[i])
    children = inline.children or []
    if len(children) == 1 and children[0].type == "image":
        return _image(children[0], ctx, line), i + 3
    if inline.content.lstrip().startswith(":::"):
        ctx.problem(line, "a container marker (:::) that does not open or close a container: check its colons and blank lines")
    return m.Paragraph(_inlines(children, ctx, line), line), i + 3


def _heading(tokens, i, ctx, depth):
    tok = tokens[i]
    level = int(tok.tag[1])
    line = ctx.line(tok)
    if level == 1:
        ctx.problem(line, "a level-1 heading (#): the article title comes from the front matter; use ## for subheadings")
    elif level > 3:
        ctx.problem(line, "headings go two levels deep in an article: use ## or ###")
    return m.Heading(level, _inlines(tokens[i + 1].children or [], ctx, line), line), i + 3


def _list(tokens, i, ctx, depth):
    tok = tokens[i]
    ordered = tok.type == "ordered_list_open"
    closing = "ordered_list_close" if ordered else "bullet_list_close"
    start = int(tok.attrs.get("start", 1)) if ordered else 1
    items: list[tuple[m.Block, ...]] = []
    i += 1
    while tokens[i].type != closing:
        blocks, i = _blocks(tokens, i + 1, ctx, "list_item_close", depth + 1)
        items.append(blocks)
    return m.ListBlock(ordered, start, tuple(items), ctx.line(tok)), i + 1


def _blockquote(tokens, i, ctx, depth):
    blocks, j = _blocks(tokens, i + 1, ctx, "blockquote_close", depth + 1)
    return m.Quote(blocks, ctx.line(tokens[i])), j


# --- containers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerSpec:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    build: Callable[[dict[str, str], tuple[m.Block, ...], int, Context], m.Block | None]


def _container(tokens, i, ctx, depth):
    tok = tokens[i]
    line = ctx.line(tok)
    blocks, j = _blocks(tokens, i + 1, ctx, f"container_{_CONTAINER}_close", depth + 1)
    close = tokens[j - 1] if j - 1 < len(tokens) and tokens[j - 1].type == f"container_{_CONTAINER}_close" else None
    if close is None or not close.markup:
        ctx.problem(line, "container is never closed: add a line with the same number of colons (:::) after its content")
    name, attrs = _container_head(tok.info, line, ctx)
    if name is None:
        return None, j
    spec = _CONTAINERS.get(name)
    if spec is None:
        ctx.problem(line, f"unknown container '{name}' (known: {', '.join(sorted(_CONTAINERS))})")
        return None, j
    for key in attrs:
        if key not in spec.required + spec.optional:
            allowed = ", ".join(spec.required + spec.optional) or "none"
            ctx.problem(line, f"unknown attribute '{key}' on container '{name}' (allowed: {allowed})")
    missing = [k for k in spec.required if not attrs.get(k, "").strip()]
    for key in missing:
        ctx.problem(line, f"container '{name}' needs the attribute {key}=\"…\"")
    if missing:
        return None, j
    return spec.build(attrs, blocks, line, ctx), j


_ATTR = re.compile(r'^[a-z][a-z-]*$')


def _container_head(info: str, line: int, ctx: Context) -> tuple[str | None, dict[str, str]]:
    try:
        words = shlex.split(info.strip())
    except ValueError as exc:
        ctx.problem(line, f"cannot read the container line: {exc} (attributes are key=\"value\")")
        return None, {}
    if not words:
        ctx.problem(line, "container without a name: write '::: name'")
        return None, {}
    name, attrs = words[0], {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not _ATTR.match(key):
            ctx.problem(line, f"cannot read attribute '{word}' on container '{name}' (write key=\"value\")")
            continue
        if key in attrs:
            ctx.problem(line, f"attribute '{key}' given twice")
        attrs[key] = value
    return name, attrs


def _split_title(blocks: tuple[m.Block, ...]) -> tuple[m.Inlines | None, tuple[m.Block, ...]]:
    if blocks and isinstance(blocks[0], m.Heading):
        return blocks[0].inlines, blocks[1:]
    return None, blocks


def _url(value: str, ctx: Context, line: int) -> str | None:
    if not value.startswith(("https://", "http://")):
        ctx.problem(line, f"url must start with https:// or http://; got {value!r}")
        return None
    if any(c.isspace() for c in value) or any(c in value for c in "<>\"'`\\"):
        ctx.problem(line, f"url contains spaces or quote characters: {value!r}")
        return None
    return value


def _build_question(attrs, blocks, line, ctx):
    number = attrs.get("number")
    if number is not None and not number.isdigit():
        ctx.problem(line, f"question number must be a whole number; got {number!r}")
        number = None
    if not blocks:
        ctx.problem(line, "empty question")
    return m.Question(int(number) if number else None, blocks, line)


def _build_pullquote(attrs, blocks, line, ctx):
    if not blocks:
        ctx.problem(line, "empty pull quote")
    return m.PullQuote(blocks, line)


def _box(kind: str, default_label: str | None) -> Callable:
    def build(attrs, blocks, line, ctx):
        title, rest = _split_title(blocks)
        if kind in ("advies", "cv", "facts") and title is None:
            ctx.problem(line, f"a '{kind}' box starts with its title as a ## heading")
        if kind == "aan-het-woord":
            if not rest or any(not isinstance(b, m.Person) for b in rest):
                ctx.problem(line, "an 'aan-het-woord' box holds only 'person' containers (use :::: outside, ::: inside)")
        if not rest and kind != "aan-het-woord":
            ctx.problem(line, f"empty '{kind}' box")
        return m.Box(kind, attrs.get("label", default_label), title, rest, line)

    return build


def _build_person(attrs, blocks, line, ctx):
    return m.Person(attrs["name"], attrs.get("role") or None, blocks, line)


def _build_caption(attrs, blocks, line, ctx):
    if len(blocks) != 1 or not isinstance(blocks[0], m.Paragraph):
        ctx.problem(line, "a caption is one paragraph of text")
        return None
    return m.Caption(blocks[0].inlines, line)


def _build_reference(attrs, blocks, line, ctx):
    url = _url(attrs["url"], ctx, line)
    return m.Reference(attrs.get("label", "Meer weten?"), url, blocks, line) if url else None


def _build_endnote(attrs, blocks, line, ctx):
    url = _url(attrs["url"], ctx, line) if "url" in attrs else None
    if not blocks:
        ctx.problem(line, "empty end note")
    return m.EndNote(url, blocks, line)


def _build_statement(attrs, blocks, line, ctx):
    title, rest = _split_title(blocks)
    if title is None:
        ctx.problem(line, "a statement starts with its heading as a ## heading")
        return None
    return m.Statement(attrs["name"], attrs.get("organisation") or None, title, rest, line)


_CONTAINERS: dict[str, ContainerSpec] = {
    "question": ContainerSpec((), ("number",), _build_question),
    "pullquote": ContainerSpec((), (), _build_pullquote),
    "advies": ContainerSpec((), ("label",), _box("advies", "Advies")),
    "cv": ContainerSpec((), ("label",), _box("cv", "CV")),
    "sidebar": ContainerSpec(("label",), (), _box("sidebar", None)),
    "aan-het-woord": ContainerSpec((), ("label",), _box("aan-het-woord", "Aan het woord")),
    "facts": ContainerSpec((), (), _box("facts", None)),
    "person": ContainerSpec(("name",), ("role",), _build_person),
    "caption": ContainerSpec((), (), _build_caption),
    "reference": ContainerSpec(("url",), ("label",), _build_reference),
    "endnote": ContainerSpec((), ("url",), _build_endnote),
    "statement": ContainerSpec(("name",), ("organisation",), _build_statement),
}

CONTAINER_NAMES = tuple(sorted(_CONTAINERS))

_HANDLERS = {
    "paragraph_open": _paragraph,
    "heading_open": _heading,
    "bullet_list_open": _list,
    "ordered_list_open": _list,
    "blockquote_open": _blockquote,
    f"container_{_CONTAINER}_open": _container,
}


# --- inlines --------------------------------------------------------------------------------------


def _inlines(tokens: list[Token], ctx: Context, line: int) -> m.Inlines:
    out, _ = _inline_run(tokens, 0, ctx, line, closing=None)
    return _merge_text(out)


def _inline_run(tokens, i, ctx, line, closing):
    out: list[m.Inline] = []
    while i < len(tokens):
        tok = tokens[i]
        if closing and tok.type == closing:
            return out, i + 1
        if tok.type == "text":
            out.append(m.Text(tok.content))
        elif tok.type == "softbreak":
            out.append(m.Text(" "))
        elif tok.type == "hardbreak":
            out.append(m.LineBreak())
        elif tok.type == "code_inline":
            out.append(m.Code(tok.content))
        elif tok.type in ("em_open", "strong_open"):
            children, i = _inline_run(tokens, i + 1, ctx, line, tok.type.replace("_open", "_close"))
            node = m.Emphasis if tok.type == "em_open" else m.Strong
            out.append(node(_merge_text(children)))
            continue
        elif tok.type == "link_open":
            href = tok.attrs.get("href", "")
            children, i = _inline_run(tokens, i + 1, ctx, line, "link_close")
            if _safe_link(str(href), ctx, line):
                out.append(m.Link(str(href), _merge_text(children)))
            else:
                out.extend(children)
            continue
        elif tok.type == "html_inline":
            ctx.problem(line, f"raw HTML is not allowed: {tok.content[:40]!r}")
        elif tok.type == "image":
            ctx.problem(line, "an image must stand alone in its own paragraph")
        else:
            ctx.problem(line, f"unsupported inline element ({tok.type})")
        i += 1
    return out, i


def _safe_link(href: str, ctx: Context, line: int) -> bool:
    if href.lower().startswith(SAFE_SCHEMES) and not any(c.isspace() for c in href):
        return True
    ctx.problem(line, f"link target must start with https://, http:// or mailto:; got {href[:60]!r}")
    return False


def _merge_text(nodes: list[m.Inline]) -> m.Inlines:
    merged: list[m.Inline] = []
    for node in nodes:
        if isinstance(node, m.Text) and merged and isinstance(merged[-1], m.Text):
            merged[-1] = m.Text(merged[-1].text + node.text)
        else:
            merged.append(node)
    return tuple(merged)


def _image(tok: Token, ctx: Context, line: int) -> m.Image | None:
    alt = "".join(child.content for child in tok.children or []).strip()
    src = str(tok.attrs.get("src", ""))
    if not alt:
        ctx.problem(line, "an image needs alt text: ![what the photo shows](images/file.jpg)")
    checked = check_image(src, ctx.root, lambda message: ctx.problem(line, message))
    if checked is None or not alt:
        return None
    media_type, width, height, data = checked
    return m.Image(src, alt, media_type, width, height, line, data)
