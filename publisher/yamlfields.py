"""YAML reading with line numbers, and checks of mappings against a list of expected fields.

PyYAML forgets where a value came from; editors need ``path:line``.  ``load_yaml`` returns plain Python
values, but every mapping is a ``Mapping`` that remembers the line of each key, and every list a
``Sequence`` that remembers the line of each item.  Duplicate keys, which PyYAML silently overwrites, are
problems here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from publisher.errors import Problems


class Mapping(dict):
    """A dict that knows the (1-based) line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class Sequence(list):
    """A list that knows the (1-based) line of itself and of each item."""

    line: int = 0
    item_lines: list[int]


class _TooLarge(Exception):
    """More nodes than _MAX_YAML_NODES: stop composing at once instead of after the whole file."""


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that builds ``Mapping``/``Sequence`` and reports duplicate keys."""

    duplicates: list[tuple[int, str]]
    composed: int = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # PyYAML needs seconds for a megabyte of tiny values; refuse while reading, not afterwards
        self.composed += 1
        if self.composed > _MAX_YAML_NODES:
            raise _TooLarge
        return super().compose_node(parent, index)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Mapping:
    loader.flatten_mapping(node)
    result = Mapping()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in result:
            loader.duplicates.append((key_node.start_mark.line + 1, key))
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> Sequence:
    result = Sequence(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _construct_timestamp(loader: _LineLoader, node: yaml.ScalarNode) -> Any:
    """A date that looks like one but does not exist (2021-02-30) is a located problem, not a crash."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a valid date ({exc})", node.start_mark)


def _construct_int(loader: _LineLoader, node: yaml.ScalarNode) -> Any:
    """A number of thousands of digits is a located problem, not a crash (Python refuses to convert it)."""
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"a number of {len(node.value)} digits is too long", node.start_mark) from None


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_LineLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)

_MAX_YAML_NODES = 5000  # an issue file has ~100; aliases ("billion laughs") must not explode


def load_yaml(text: str, path: Path, problems: Problems, first_line: int = 1) -> Any:
    """Parse YAML ``text`` (which starts at ``first_line`` of ``path``); None after reporting a problem."""
    try:
        loader = _LineLoader(text)  # PyYAML refuses control characters here, before reading anything
    except yaml.reader.ReaderError as exc:
        line = first_line + text[: exc.position].count("\n")
        problems.add(path, line, f"invisible control character U+{exc.character:04X} in the text; delete it")
        return None
    loader.duplicates = []
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _count_nodes(node) > _MAX_YAML_NODES:
            raise _TooLarge
        value = loader.construct_document(node)
    except _TooLarge:
        problems.add(path, first_line, f"YAML is too large or too deeply aliased (over {_MAX_YAML_NODES} values)")
        return None
    except yaml.MarkedYAMLError as exc:
        problems.add(path, *_syntax_error(exc, first_line))
        return None
    except yaml.YAMLError as exc:
        problems.add(path, first_line, f"YAML error: {exc}")
        return None
    except RecursionError:  # PyYAML composes nested lists and mappings recursively
        problems.add(path, first_line, "YAML is nested too deeply")
        return None
    finally:
        loader.dispose()
    for line, key in loader.duplicates:
        problems.add(path, first_line - 1 + line, f"duplicate key '{key}'")
    _shift_lines(value, first_line - 1)
    return value


def _syntax_error(exc: yaml.MarkedYAMLError, first_line: int) -> tuple[int, str]:
    """(line, message) of a YAML syntax error, pointing where the editor has to look."""
    problem, context = exc.problem or exc.context or "unreadable YAML", exc.context
    mark, where = exc.problem_mark or exc.context_mark, exc.context_mark
    if "end of stream" in problem and where is not None:
        # an unclosed quote or bracket runs to the end of the file: the mistake is where it opens
        return first_line + where.line, f"YAML syntax error: a quote or bracket that opens on this line is never closed ({context})"
    message = f"YAML syntax error: {problem}"
    if context and where is not None and mark is not None and where.line != mark.line:
        message += f" ({context} that starts on line {first_line + where.line})"
    return first_line + (mark.line if mark else 0), message


def _count_nodes(root: yaml.Node) -> int:
    """Count nodes as they would be constructed (aliases count every time they are used)."""
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        count += 1
        if count > _MAX_YAML_NODES:
            break
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return count


def _shift_lines(value: Any, offset: int, seen: set[int] | None = None) -> None:
    seen = set() if seen is None else seen
    if id(value) in seen:  # an alias: the same object, already shifted
        return
    seen.add(id(value))
    if isinstance(value, Mapping):
        value.line += offset
        value.key_lines = {k: v + offset for k, v in value.key_lines.items()}
        for child in value.values():
            _shift_lines(child, offset, seen)
    elif isinstance(value, Sequence):
        value.line += offset
        value.item_lines = [v + offset for v in value.item_lines]
        for child in value:
            _shift_lines(child, offset, seen)


# --- field checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One expected key of a mapping: its name, the check of its value, and whether it must be there."""

    name: str
    check: Callable[[Any], str | None]  # returns an error message, or None when the value is fine
    required: bool = True


def text(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be text, not {_kind(value)}"
    if not value.strip():
        return "must not be empty"
    if "\n" in value.strip():
        return "must be a single line of text"
    return None


def long_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be text, not {_kind(value)}"
    return "must not be empty" if not value.strip() else None


def positive_int(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a whole number, not {_kind(value)}"
    return None if value > 0 else "must be a positive number"


def date(value: Any) -> str | None:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        return f"must be a date written as YYYY-MM-DD, not {_kind(value)}"
    return None


def mapping(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else f"must be a mapping of keys to values, not {_kind(value)}"


def sequence(value: Any) -> str | None:
    return None if isinstance(value, Sequence) else f"must be a list, not {_kind(value)}"


def one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return f"must be one of {', '.join(choices)}; got {value!r}"

    return check


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        bool: "true/false", int: "a number", float: "a number", str: "text", Mapping: "a mapping",
        Sequence: "a list", dt.date: "a date", dt.datetime: "a date and time",
    }.get(type(value), type(value).__name__)


def check_fields(
    value: Any, fields: list[Field], path: Path, problems: Problems, where: str, line: int
) -> Mapping | None:
    """Check a mapping against ``fields``: unknown keys, missing keys, wrong types -- all reported.

    Returns the mapping with only the keys whose values passed, or None if ``value`` is no mapping.
    """
    if not isinstance(value, Mapping):
        problems.add(path, getattr(value, "line", 0) or line, f"{where} must be a mapping of keys to values, not {_kind(value)}")
        return None
    known = {f.name for f in fields}
    good = Mapping()
    good.line, good.key_lines = value.line, dict(value.key_lines)
    for key in value:
        if key not in known:
            problems.add(path, value.key_lines[key], f"unknown key '{key}' in {where} (expected one of: {', '.join(sorted(known))})")
    for f in fields:
        if f.name not in value:
            if f.required:
                problems.add(path, value.line, f"missing key '{f.name}' in {where}")
            continue
        message = f.check(value[f.name])
        if message:
            problems.add(path, value.key_lines[f.name], f"'{f.name}' {message}")
        else:
            good[f.name] = value[f.name]
    return good
