"""Typed errors of the publisher library.

Library code raises these and never prints; the CLI turns them into ``path:line: message`` lines and an
exit code.  ``SourceErrors`` carries *every* problem found in a source tree at once, so an editor can fix
them all in one pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class PublisherError(Exception):
    """Base class of every error the CLI reports without a traceback."""


@dataclass(frozen=True, order=True)
class SourceProblem:
    """One problem in the source tree, located at ``path:line``."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


class SourceErrors(PublisherError):
    """The source tree is wrong; ``problems`` lists every problem, sorted by file and line."""

    def __init__(self, problems: list[SourceProblem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class BuildError(PublisherError):
    """An edition could not be built or written (the source itself was valid)."""


class Problems:
    """Collects source problems while a tree is loaded; ``raise_if_any`` ends the load."""

    def __init__(self, root: Path):
        self.root = root
        self.items: list[SourceProblem] = []

    def add(self, path: Path | str, line: int, message: str) -> None:
        self.items.append(SourceProblem(self.display(path), line, message))

    def display(self, path: Path | str) -> str:
        """A path as the editor knows it: relative to the folder the source tree sits in."""
        path = Path(path)
        try:
            # abspath, not resolve: a symbolic link is named as the editor sees it in the tree, not by its target
            return str(Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(self.root)).parent))
        except ValueError:
            return str(path)

    def raise_if_any(self) -> None:
        if self.items:
            raise SourceErrors(self.items)
