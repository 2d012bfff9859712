"""Article bodies: CommonMark with magazine containers -> model blocks, with every problem located.

The parser is markdown-it-py (CommonMark) with mdit-py-plugins' fenced containers (``::: name``).  Raw
HTML is never allowed (see docs/source-format.md, "the safety policy"): every magazine element has a
container, so HTML could only add risk.  Links must be http(s) or mailto; images must be PNG or JPEG
files inside the source tree.
"""

from __future__ import annotations

import re
import shlex
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.container import container_plugin

from publisher import model as m
from publisher.errors import Problems
from publisher.images import check_image

MAX_BLOCKS = 3000  # a long magazine article has a few hundred; more is a pasted-in mistake
MAX_WORD = 80  # characters without a space; the longest Dutch compounds stay far below
MAX_NESTING = 6  # lists inside lists inside containers
MAX_LINES = 20_000  # ten times a long article; markdown-it's time grows with lines of some shapes
SAFE_SCHEMES = ("https://", "http://", "mailto:")
# Characters no editor types on purpose: C0/C1 controls (C1 ones are what Windows-1252 quotes become when
# text is mis-decoded), bidi overrides/isolates (they can make text read differently than it is stored),
# and Unicode noncharacters (U+FFFE, U+FFFF are not even allowed in XML).
CONTROL_CHARACTER = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)
_NUMERIC_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));")

_CONTAINER = "any"


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    # markdown-it quietly prints a link it distrusts (javascript:, vbscript:, data:) as literal text; the
    # editor must hear about it instead, so every link and image reaches _safe_link / check_image.
    md.validateLink = lambda url: True
    container_plugin(md, _CONTAINER, validate=lambda params, *args: True)
    # Deep enough for MAX_NESTING elements (a list counts twice); deeper nesting is reported by _blocks
    # anyway, and markdown-it's time on lazy lines inside deep quotes grows with this number.
    md.options["maxNesting"] = 20
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
    longest = _check_words(text, ctx)
    for number, line in enumerate(text.split("\n"), start=ctx.first_line):
        _check_references(line, ctx, number)
    if longest > 20 * MAX_WORD or not _fit_to_parse(text, ctx):  # a "word" of pages is no text: don't parse
        return ()
    tokens = _MD.parse(text)
    blocks, _ = _blocks(tokens, 0, ctx, closing=None, depth=0)
    count = sum(1 for _ in m.walk(blocks))
    if count > MAX_BLOCKS:
        ctx.problem(ctx.first_line, f"article has {count} blocks; the limit is {MAX_BLOCKS} (split it into several articles)")
    return blocks


def parse_inline(text: str, ctx: Context, line: int) -> m.Inlines:
    """Parse a one-paragraph value (a lead) into inlines."""
    _check_references(text, ctx, line)
    tokens = _MD.parseInline(text)
    return _inlines(tokens[0].children or [], ctx, line) if tokens else ()


def _check_words(text: str, ctx: Context) -> int:
    """Report overlong words; return the length of the longest."""
    longest_of_all = 0
    for number, line in enumerate(text.split("\n"), start=ctx.first_line):
        longest = max((len(w) for w in line.split()), default=0)
        if longest > MAX_WORD:
            ctx.problem(number, f"a word of {longest} characters; the limit is {MAX_WORD} (missing spaces?)")
        longest_of_all = max(longest_of_all, longest)
    return longest_of_all


_DEEP_QUOTE = re.compile(r"^(?:[ \t]*>){%d}" % (MAX_NESTING + 1))
_BLOCK_MARK = re.compile(r"^[ \t]*(?:(?:[-*+]|[0-9]{1,9}[.)]|#{1,6}|>)(?:[ \t]|$)|:{3,}[ \t]*[a-z])")


def _fit_to_parse(text: str, ctx: Context) -> bool:
    """Cheap checks before markdown-it, whose time on some shapes of text (a paragraph of lazy lines inside
    deeply nested quotes, tens of thousands of blocks) grows fast: such a body is refused unparsed."""
    lines = text.split("\n")
    starts, after_blank = 0, True
    for number, line in enumerate(lines, start=ctx.first_line):
        if _DEEP_QUOTE.match(line):
            ctx.problem(number, f"elements nested more than {MAX_NESTING} deep")
            return False
        blank = not line.strip()
        starts += not blank and (after_blank or bool(_BLOCK_MARK.match(line)))
        after_blank = blank
    if starts > 2 * MAX_BLOCKS:  # a rough count of blocks (a closing ::: is not one): twice the limit is sure
        ctx.problem(ctx.first_line, f"article has about {starts} blocks; the limit is {MAX_BLOCKS} (split it into several articles)")
        return False
    if len(lines) > MAX_LINES:
        ctx.problem(ctx.first_line, f"article has {len(lines)} lines; the limit is {MAX_LINES} (split it into several articles)")
        return False
    return True


def _check_references(text: str, ctx: Context, line: int) -> None:
    """A numeric character reference (&#x202E;) that stands for a control character: the file's text is
    clean, but the edition would carry the character (or U+FFFD, which markdown-it puts instead of some)."""
    for match in _NUMERIC_REFERENCE.finditer(text):
        hex_digits, digits = match.groups()
        code = int(hex_digits, 16) if hex_digits else int(digits)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or CONTROL_CHARACTER.match(chr(code)):
            ctx.problem(line, f"{match.group()} stands for an invisible control character U+{code:04X}; delete it")


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
    if not valid_url(value):
        ctx.problem(line, f"url is not a valid web address: {value!r}")
        return None
    return value


def _build_question(attrs, blocks, line, ctx):
    number = attrs.get("number")
    if number is not None and not re.fullmatch(r"[0-9]{1,9}", number):  # not isdigit(): '²' and '٣' pass it
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
    if not href.lower().startswith(SAFE_SCHEMES) or any(c.isspace() for c in href):
        ctx.problem(line, f"link target must start with https://, http:// or mailto:; got {href[:60]!r}")
        return False
    if not valid_url(href):
        ctx.problem(line, f"link target is not a valid web address: {href[:60]!r}")
        return False
    return True


_URL_TEXT = re.compile(r"^(?:[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*$")  # RFC 3986 characters
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$")


def valid_url(url: str) -> bool:
    """An http(s) URL with a host, or a mailto: with an address, written as RFC 3986 allows (no spaces, no
    raw accents, one '#' at most): reading systems and EPUBCheck refuse anything else in an href."""
    if not _URL_TEXT.match(url) or url.count("#") > 1:
        return False
    parts = urlsplit(url)
    if parts.scheme.lower() == "mailto":
        return bool(parts.path)
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is no number
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(_HOST.match(parts.hostname or ""))


def _merge_text(nodes: list[m.Inline]) -> m.Inlines:
    merged: list[m.Inline] = []
    for node in nodes:
        if isinstance(node, m.Text) and merged and isinstance(merged[-1], m.Text):
            merged[-1] = m.Text(merged[-1].text + node.text)
        else:
            merged.append(node)
    return tuple(merged)


# The checks of each image, per load (keyed by the load's Problems): an image used a thousand times is read
# and decoded once, and the model holds one copy of its bytes, so memory and time stay bounded.
_IMAGE_CHECKS: "weakref.WeakKeyDictionary[Problems, dict]" = weakref.WeakKeyDictionary()


def _checked_image(src: str, ctx: Context, line: int) -> tuple[str, int, int, bytes] | None:
    checks = _IMAGE_CHECKS.setdefault(ctx.problems, {})
    if src not in checks:
        messages: list[str] = []
        checks[src] = (check_image(src, ctx.root, messages.append), messages)
    checked, messages = checks[src]
    for message in messages:
        ctx.problem(line, message)
    return checked


def _image(tok: Token, ctx: Context, line: int) -> m.Image | None:
    alt = "".join(child.content for child in tok.children or []).strip()
    src = str(tok.attrs.get("src", ""))
    if not alt:
        ctx.problem(line, "an image needs alt text: ![what the photo shows](images/file.jpg)")
    checked = _checked_image(src, ctx, line)
    if checked is None or not alt:
        return None
    media_type, width, height, data = checked
    return m.Image(src, alt, media_type, width, height, line, data)
