"""A jailed URL fetcher for WeasyPrint, and strict WeasyPrint runs.

Contract: ``jailed_fetcher(allowed_roots)`` returns a WeasyPrint ``URLFetcher`` that serves

* ``file://`` URLs whose *resolved* real path (symlinks followed) lies inside one of ``allowed_roots``
  (the project's ``styles/`` folder: stylesheets and vendored fonts);
* ``data:`` URLs of the image types we generate ourselves (PNG, JPEG, SVG).

Everything else (http, https, ftp, other schemes, ``../`` escapes, symlinks leading out, other data
types) is refused.  A refusal stops the rendering: the fetcher is built with ``fail_on_errors`` so
WeasyPrint raises ``FatalURLFetchingError``, and ``strict_weasyprint()`` turns that, and every WARNING
or ERROR WeasyPrint logs, into an ``errors.BuildError``.  A print edition must never silently drop a
stylesheet, a font or an image.

``render_strictly(text, what)`` puts the two together: it lays out an XHTML document whose stylesheet links
are relative to the project root (``styles/print.css``), exactly as WeasyPrint's CLI would if the file
were written next to ``styles/``.
"""

from __future__ import annotations

import logging
import mimetypes
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

from weasyprint import HTML, Document
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from publisher.errors import BuildError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STYLES_DIR = PROJECT_ROOT / "styles"
ALLOWED_DATA_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


class RefusedURL(ValueError):
    """A URL the jail does not serve."""


class JailedFetcher(URLFetcher):
    """Serves files inside ``roots`` and our own image data URLs, nothing else."""

    def __init__(self, roots: list[Path]):
        super().__init__(allowed_protocols=("file", "data"), allow_redirects=False, fail_on_errors=True)
        self.roots = tuple(Path(root).resolve(strict=True) for root in roots)

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return self._data(url)
        if scheme == "file":
            return self._file(url)
        raise RefusedURL(f"refused {url!r}: only files under {', '.join(map(str, self.roots))} are served")

    def _file(self, url: str) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise RefusedURL(f"refused {url!r}: remote file URL")
        # resolve() follows every symlink and collapses "..": the jail is checked on the real path.
        path = Path(unquote(parts.path)).resolve()
        if not any(path.is_relative_to(root) for root in self.roots):
            raise RefusedURL(f"refused {url!r}: {path} lies outside the allowed folders")
        if not path.is_file():
            raise RefusedURL(f"refused {url!r}: no such file")
        media_type = mimetypes.guess_type(path.name)[0] or _font_type(path) or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": media_type})

    def _data(self, url: str) -> URLFetcherResponse:
        media_type = url[5:].split(",", 1)[0].split(";", 1)[0].strip().lower()
        if media_type not in ALLOWED_DATA_TYPES:
            raise RefusedURL(f"refused data URL of type {media_type or 'text/plain'!r}")
        return super().fetch(url)  # urllib's DataHandler decodes it; nothing leaves the process


def _font_type(path: Path) -> str | None:
    return {".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".otf": "font/otf"}.get(path.suffix)


def jailed_fetcher(allowed_roots: list[Path]) -> JailedFetcher:
    """A WeasyPrint url_fetcher serving only files inside ``allowed_roots`` (and our image data URLs)."""
    return JailedFetcher(allowed_roots)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


@contextmanager
def strict_weasyprint(what: str) -> Iterator[None]:
    """Run WeasyPrint so that any WARNING/ERROR it logs, or any refused fetch, raises BuildError.

    ``weasyprint.progress`` only logs INFO and is ignored by the level filter.
    """
    logger = logging.getLogger("weasyprint")
    collect = _Collect()
    level = logger.level
    if logger.getEffectiveLevel() > logging.WARNING:  # someone silenced WeasyPrint: we still want to hear
        logger.setLevel(logging.WARNING)
    logger.addHandler(collect)
    try:
        yield
    except FatalURLFetchingError as error:  # a BaseException: never let it escape as such
        cause = error.__cause__ or error
        raise BuildError(f"{what}: {error}: {cause}") from None
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    if collect.messages:
        raise BuildError(f"{what}: WeasyPrint reported problems:\n" + "\n".join(collect.messages))


def render_strictly(text: str, what: str, **options) -> Document:
    """Lay out ``text`` (XHTML with links like ``styles/print.css``) with the jail and strict logging."""
    with strict_weasyprint(what):
        html = HTML(string=text, base_url=PROJECT_ROOT.as_uri() + "/", url_fetcher=jailed_fetcher([STYLES_DIR]))
        return html.render(**options)
