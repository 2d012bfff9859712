"""Load a source tree (``source/``) into the frozen model, or report every problem at once.

Contract: ``load_issue(path)`` returns a ``model.Issue`` or raises ``SourceErrors`` listing each problem
as ``path:line: message``.  It reads only files inside the tree, never renders, and never raises anything
else for a bad source.  The format is documented in docs/source-format.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from publisher import model as m
from publisher import yamlfields as y
from publisher.errors import Problems
from publisher.markdown import CONTROL_CHARACTER, Context, parse_body, parse_inline, valid_url

ISSUE_FILE = "issue.yaml"
CORRECTIONS_FILE = "corrections.yaml"
ARTICLE_FOLDER = "articles"
MAX_FILE_BYTES = 256 * 1024  # 25 times the longest article; also bounds the parse time of a hostile file
MAX_ARTICLES = 200
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Z]{2})?$")
_CONTROL = CONTROL_CHARACTER


def load_issue(source: Path | str) -> m.Issue:
    """Load and validate the whole tree at ``source``."""
    root = Path(source)
    problems = Problems(root)
    if not root.is_dir():
        problems.add(root, 0, "source folder does not exist")
        problems.raise_if_any()
    meta = _load_issue_meta(root, problems)
    articles, unreadable = _load_articles(root, problems)
    corrections = _load_corrections(root, problems)
    issue = _assemble(root, meta, articles, corrections, unreadable, problems)
    problems.raise_if_any()
    assert issue is not None
    return issue


# --- reading files --------------------------------------------------------------------------------


def read_source_text(path: Path, problems: Problems) -> str | None:
    """Read a source file as UTF-8 text, refusing what no editor means to write."""
    # Resolve every file, not only links: a linked folder (articles/ -> elsewhere) leads out just as well.
    if not _inside(path.resolve(), problems.root.resolve()):
        problems.add(path, 0, "file is a symbolic link that leads outside the source folder")
        return None
    if not path.is_file():  # a folder, device or named pipe: reading it could fail or block forever
        problems.add(path, 0, "not a regular file")
        return None
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # never more: a huge file is refused, not loaded
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        problems.add(path, 0, f"cannot read file: {exc.strerror}")
        return None
    if len(data) > MAX_FILE_BYTES:
        problems.add(path, 0, f"file is {max(size, len(data)) // 1024} KiB; the limit is {MAX_FILE_BYTES // 1024} KiB")
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a byte order mark is harmless noise some editors add
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.add(path, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8")
        return None
    if not text.strip():
        problems.add(path, 1, "file is empty")
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for number, line in enumerate(text.split("\n"), start=1):
        bad = _CONTROL.search(line)
        if bad:
            problems.add(path, number, f"invisible control character U+{ord(bad.group()):04X} in the text; delete it")
    return text


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _load_yaml(text: str, path: Path, problems: Problems, first_line: int = 1) -> Any:
    """YAML as ``yamlfields.load_yaml``, and no string in it may hide a control character: an escape such as
    "\u202e" in a quoted YAML string puts one in a value although the file's own text is clean."""
    value = y.load_yaml(text, path, problems, first_line)
    _check_strings(value, first_line, path, problems, set())
    return value


def _check_strings(value: Any, line: int, path: Path, problems: Problems, seen: set[int]) -> None:
    if isinstance(value, str):
        bad = _CONTROL.search(value)
        if bad:
            problems.add(path, line, f"invisible control character U+{ord(bad.group()):04X} in the text; delete it")
        return
    if id(value) in seen:  # an alias: the same object again
        return
    seen.add(id(value))
    if isinstance(value, y.Mapping):
        for key, child in value.items():
            _check_strings(key, value.key_lines.get(key, value.line), path, problems, seen)
            _check_strings(child, value.key_lines.get(key, value.line), path, problems, seen)
    elif isinstance(value, y.Sequence):
        for child, child_line in zip(value, value.item_lines):
            _check_strings(child, child_line, path, problems, seen)


# --- issue.yaml -----------------------------------------------------------------------------------

_COVER_LINE = [y.Field("kicker", y.text, False), y.Field("text", y.text), y.Field("article", y.text)]
_QUOTE = [y.Field("name", y.text), y.Field("role", y.text, False), y.Field("text", y.long_text)]
_STORY = [y.Field("question", y.text), y.Field("lead", y.long_text, False), y.Field("quotes", y.sequence, False)]
_COVER = [y.Field("lines", y.sequence), y.Field("story", y.mapping, False)]
_TEASER = [y.Field("title", y.text), y.Field("text", y.long_text, False), y.Field("url", y.text, False)]
_BACK = [y.Field("teasers", y.sequence)]
_ISSUE = [
    y.Field("title", y.text), y.Field("subtitle", y.text), y.Field("tagline", y.text), y.Field("slug", y.text),
    y.Field("number", y.positive_int), y.Field("volume", y.positive_int), y.Field("date", y.date),
    y.Field("date_label", y.text), y.Field("publisher", y.text), y.Field("language", y.text),
    y.Field("url", y.text), y.Field("cover", y.mapping), y.Field("back_cover", y.mapping),
    y.Field("order", y.sequence),
]


def _load_issue_meta(root: Path, problems: Problems) -> y.Mapping | None:
    path = root / ISSUE_FILE
    if not path.is_file():
        problems.add(path, 0, "missing: every issue needs an issue.yaml (see docs/source-format.md)")
        return None
    text = read_source_text(path, problems)
    if text is None:
        return None
    before = len(problems.items)
    data = _load_yaml(text, path, problems)
    if len(problems.items) > before:
        return None  # the YAML itself is broken: its keys cannot be checked
    meta = y.check_fields(data, _ISSUE, path, problems, "issue.yaml", 1)
    if meta is None:
        return None
    lines = meta.key_lines
    if "slug" in meta and not SLUG.match(meta["slug"]):
        problems.add(path, lines["slug"], "'slug' may hold only lower-case letters, digits and '-'")
        del meta["slug"]
    if "language" in meta and not LANGUAGE.match(meta["language"]):
        problems.add(path, lines["language"], f"'language' must be a language code such as nl; got {meta['language']!r}")
        del meta["language"]
    for key in ("url",):
        if key in meta and not meta[key].startswith("https://"):
            problems.add(path, lines[key], f"'{key}' must start with https://")
            del meta[key]
        elif key in meta and not valid_url(meta[key]):
            problems.add(path, lines[key], f"'{key}' is not a valid web address")
            del meta[key]
    return meta


def _cover(meta: y.Mapping, path: Path, problems: Problems) -> m.Cover | None:
    if "cover" not in meta:  # missing or not a mapping: check_fields has said so
        return None
    cover = y.check_fields(meta.get("cover"), _COVER, path, problems, "cover", meta.line)
    if cover is None or "lines" not in cover:
        return None
    lines = []
    for item in cover["lines"]:
        line = y.check_fields(item, _COVER_LINE, path, problems, "a cover line", cover.key_lines["lines"])
        if line and {"text", "article"} <= line.keys():
            lines.append(m.CoverLine(line.get("kicker"), line["text"], line["article"]))
    story = None
    if "story" in cover:
        raw = y.check_fields(cover["story"], _STORY, path, problems, "cover story", cover.key_lines["story"])
        if raw and "question" in raw:
            quotes = []
            for item in raw.get("quotes", []):
                q = y.check_fields(item, _QUOTE, path, problems, "a cover quote", raw.line)
                if q and {"name", "text"} <= q.keys():
                    quotes.append(m.CoverQuote(q["name"], q.get("role"), _flow(q["text"])))
            story = m.CoverStory(raw["question"], _flow(raw["lead"]) if "lead" in raw else None, tuple(quotes))
    return m.Cover(tuple(lines), story)


def _teasers(meta: y.Mapping, path: Path, problems: Problems) -> tuple[m.Teaser, ...]:
    if "back_cover" not in meta:  # missing or not a mapping: check_fields has said so
        return ()
    back = y.check_fields(meta.get("back_cover"), _BACK, path, problems, "back_cover", meta.line)
    teasers = []
    for item in (back or {}).get("teasers", []):
        t = y.check_fields(item, _TEASER, path, problems, "a back-cover teaser", back.line)
        if not t or "title" not in t:
            continue
        url = t.get("url")
        if url and not url.startswith("https://"):
            problems.add(path, t.key_lines["url"], "'url' must start with https://")
            url = None
        elif url and not valid_url(url):
            problems.add(path, t.key_lines["url"], "'url' is not a valid web address")
            url = None
        teasers.append(m.Teaser(t["title"], _flow(t["text"]) if "text" in t else None, url))
    return tuple(teasers)


def _flow(text: str) -> str:
    """Folded YAML text as one line: single spaces, no line ends."""
    return " ".join(text.split())


# --- articles -------------------------------------------------------------------------------------

_ARTICLE = [
    y.Field("slug", y.text), y.Field("kind", y.one_of("feature", "interview", "column", "factsheet", "series")),
    y.Field("rubric", y.text), y.Field("topic", y.text, False), y.Field("title", y.text),
    y.Field("lead", y.long_text, False), y.Field("credits", y.mapping, False), y.Field("author", y.mapping, False),
]
_AUTHOR = [y.Field("name", y.text), y.Field("role", y.text, False)]


def _load_articles(root: Path, problems: Problems) -> tuple[list[tuple[m.Article, int]], set[str]]:
    """The articles that loaded (with the line of their slug), and the slugs that broken files declare."""
    folder = root / ARTICLE_FOLDER
    if not folder.is_dir():
        problems.add(folder, 0, "missing: the articles go in this folder, one Markdown file each")
        return [], set()
    files = sorted(p for p in folder.iterdir() if p.suffix == ".md")
    for other in sorted(p for p in folder.iterdir() if p.suffix != ".md" and not p.name.startswith(".")):
        problems.add(other, 0, "not an article: only .md files belong in articles/")
    if len(files) > MAX_ARTICLES:
        problems.add(folder, 0, f"{len(files)} articles; the limit is {MAX_ARTICLES}")
        files = files[:MAX_ARTICLES]
    loaded, unreadable = [], set()
    for path in files:
        article = _load_article(path, root, problems)
        if article is not None:
            loaded.append(article)
        elif (slug := _declared_slug(path)) is not None:
            unreadable.add(slug)
    return loaded, unreadable


_SLUG_LINE = re.compile(r"^slug:[ \t]*[\"']?([a-z0-9-]+)", re.MULTILINE)


def _declared_slug(path: Path) -> str | None:
    """The slug an article that failed to load seems to declare: the issue then does not report it missing
    from the reading order or the cover as well (its own problems already say what is wrong)."""
    if path.is_symlink() or not path.is_file():  # never follow a link or open a pipe just to guess
        return None
    try:
        with path.open("rb") as handle:
            head = handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    match = _SLUG_LINE.search(head)
    return match.group(1) if match else None


def _load_article(path: Path, root: Path, problems: Problems) -> tuple[m.Article, int] | None:
    """An article and the line of its slug (for duplicate and order messages)."""
    text = read_source_text(path, problems)
    if text is None:
        return None
    head, body_line, body = _split_front_matter(text, path, problems)
    if head is None:
        return None
    before = len(problems.items)
    data = _load_yaml(head, path, problems, first_line=2)
    if len(problems.items) > before:
        return None
    meta = y.check_fields(data, _ARTICLE, path, problems, "the front matter", 1)
    if meta is None:
        return None
    ctx = Context(path, body_line, root, problems)
    reported = len(problems.items)
    blocks = parse_body(body, ctx)
    if not blocks and len(problems.items) == reported:  # else the body's own problems say why it is empty
        problems.add(path, body_line, "the article has no text")
    if "slug" in meta and not SLUG.match(meta["slug"]):
        problems.add(path, meta.key_lines["slug"], "'slug' may hold only lower-case letters, digits and '-'")
        return None
    lead = parse_inline(_flow(meta["lead"]), ctx, meta.key_lines["lead"]) if "lead" in meta else None
    credits = _credits(meta, path, problems)
    author = _author(meta, path, problems)
    if meta.get("kind") == "column" and author is None and "author" not in meta:
        problems.add(path, meta.line, "a column needs an 'author' with name and role")
    if not {"slug", "kind", "rubric", "title"} <= meta.keys():
        return None
    article = m.Article(
        slug=meta["slug"], kind=meta["kind"], rubric=meta["rubric"], topic=meta.get("topic"),
        title=meta["title"], lead=lead, credits=credits, author=author, blocks=blocks,
        path=path.relative_to(root).as_posix(),
    )
    return article, meta.key_lines["slug"]


def _split_front_matter(text: str, path: Path, problems: Problems) -> tuple[str | None, int, str]:
    """(front matter, line where the body starts, body)."""
    lines = text.split("\n")
    if lines[0].strip() != "---":
        problems.add(path, 1, "an article starts with front matter: a line '---', the YAML keys, and '---'")
        return None, 0, ""
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "\n".join(lines[1:index]), index + 2, "\n".join(lines[index + 1:])
    problems.add(path, 1, "the front matter is never closed: add a line '---' after the YAML keys")
    return None, 0, ""


def _credits(meta: y.Mapping, path: Path, problems: Problems) -> tuple[m.Credit, ...]:
    credits = []
    for role, names in meta.get("credits", {}).items():
        message = y.text(names)
        if message:
            problems.add(path, meta["credits"].key_lines[role], f"credit '{role}' {message}")
        else:
            credits.append(m.Credit(role, names))
    return tuple(credits)


def _author(meta: y.Mapping, path: Path, problems: Problems) -> m.Author | None:
    if "author" not in meta:
        return None
    author = y.check_fields(meta["author"], _AUTHOR, path, problems, "author", meta.key_lines["author"])
    if not author or "name" not in author:
        return None
    return m.Author(author["name"], author.get("role"))


# --- corrections.yaml -----------------------------------------------------------------------------

_CORRECTION = [
    y.Field("file", y.text), y.Field("printed", y.text), y.Field("corrected", y.text, False),
    y.Field("reason", y.long_text),
]


def _load_corrections(root: Path, problems: Problems) -> tuple[m.Correction, ...]:
    path = root / CORRECTIONS_FILE
    if not path.exists():
        return ()
    text = read_source_text(path, problems)
    data = _load_yaml(text, path, problems) if text is not None else None
    if data is None:
        return ()
    if not isinstance(data, y.Sequence):
        problems.add(path, 1, "corrections.yaml must be a list of corrections")
        return ()
    corrections = []
    for item, line in zip(data, data.item_lines):
        c = y.check_fields(item, _CORRECTION, path, problems, "a correction", line)
        if c is None or not {"file", "printed", "reason"} <= c.keys():
            continue
        target = root / c["file"]
        # inside the tree only: an absolute path or a link leading out must not make this a probe of the
        # computer's other files
        if ".." in Path(c["file"]).parts or not _inside(target.resolve(), root.resolve()) or not target.is_file():
            problems.add(path, c.key_lines["file"], f"'file' names no file of the source: {c['file']!r}")
            continue
        corrected = c.get("corrected")
        if corrected is not None and corrected not in _flow(_head(target)):
            problems.add(path, c.key_lines["corrected"], f"the corrected text does not occur in {c['file']}")
        corrections.append(m.Correction(c["file"], c["printed"], corrected, _flow(c["reason"])))
    return tuple(corrections)


def _head(path: Path) -> str:
    """A file's text, at most MAX_FILE_BYTES of it (a larger file is reported where it is read as a source)."""
    with path.open("rb") as handle:
        return handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")


# --- the whole issue ------------------------------------------------------------------------------


def _assemble(
    root: Path, meta: y.Mapping | None, articles: list[tuple[m.Article, int]],
    corrections: tuple[m.Correction, ...], unreadable: set[str], problems: Problems,
) -> m.Issue | None:
    by_slug: dict[str, m.Article] = {}
    for article, line in articles:
        if article.slug in by_slug:
            first = by_slug[article.slug]
            problems.add(root / article.path, line, f"duplicate slug '{article.slug}' (also used by {first.path})")
        else:
            by_slug[article.slug] = article
    _check_slugs_against_block_ids(root, articles, by_slug, problems)
    if meta is None:
        return None
    issue_path = root / ISSUE_FILE
    ordered = _reading_order(meta, by_slug, issue_path, problems, dict(articles), unreadable)
    cover = _cover(meta, issue_path, problems)
    teasers = _teasers(meta, issue_path, problems)
    if cover is not None:
        cover_lines = meta["cover"]["lines"]
        for line, item_line in zip(cover.lines, cover_lines.item_lines):
            if line.article not in by_slug and line.article not in unreadable:
                problems.add(issue_path, item_line, f"cover line points at article '{line.article}', which does not exist")
    required = {"title", "subtitle", "tagline", "slug", "number", "volume", "date", "date_label", "publisher", "language", "url"}
    if cover is None or not required <= meta.keys():
        return None
    return m.Issue(
        title=meta["title"], subtitle=meta["subtitle"], tagline=meta["tagline"], slug=meta["slug"],
        number=meta["number"], volume=meta["volume"], date=meta["date"], date_label=meta["date_label"],
        publisher=meta["publisher"], language=meta["language"], url=meta["url"], cover=cover,
        back_teasers=teasers, articles=tuple(ordered), corrections=corrections,
    )


def _check_slugs_against_block_ids(
    root: Path, articles: list[tuple[m.Article, int]], by_slug: dict[str, m.Article], problems: Problems
) -> None:
    """Blocks are addressed as ``<slug>-<n>`` in both editions: ``hamer-2`` beside ``hamer`` would clash."""
    for article, line in articles:
        stem, _, number = article.slug.rpartition("-")
        if number.isdigit() and stem in by_slug:
            problems.add(
                root / article.path, line,
                f"slug '{article.slug}' clashes with the ids of the blocks of article '{stem}'; choose another",
            )


def _reading_order(
    meta: y.Mapping, by_slug: dict[str, m.Article], path: Path, problems: Problems, slug_lines: dict[m.Article, int],
    unreadable: set[str],
) -> list[m.Article]:
    order = meta.get("order", y.Sequence())
    seen: set[str] = set()
    ordered = []
    for slug, line in zip(order, getattr(order, "item_lines", [])):
        if not isinstance(slug, str):
            problems.add(path, line, "each entry of 'order' is an article slug")
        elif slug in seen:
            problems.add(path, line, f"'{slug}' appears twice in the reading order")
        elif slug in unreadable:
            seen.add(slug)  # the article's file has problems of its own
        elif slug not in by_slug:
            problems.add(path, line, f"order lists '{slug}', but no article has that slug")
        else:
            seen.add(slug)
            ordered.append(by_slug[slug])
    if "order" in meta and not ordered and not order:
        problems.add(path, meta.key_lines["order"], "the reading order is empty")
    for slug, article in by_slug.items():
        if slug not in seen:
            problems.add(Path(path).parent / article.path, slug_lines.get(article, 1), f"article '{slug}' is not in the reading order ('order' in issue.yaml)")
    return ordered
