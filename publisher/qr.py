"""QR codes for the print edition, as inline SVG markup.

Contract: ``qr_svg(url) -> Markup`` returns an ``<svg>`` element (no XML declaration, explicit end tags,
so it is safe inside HTML5 and XHTML) drawing segno's QR matrix for ``url``: one filled path with a
subpath per run of dark modules in a row (``M x y h n v1 h-n z``: one fill, so no hairline seams between
modules), a quiet zone of 4 modules, ``role="img"`` with an ``aria-label`` and a ``<title>`` naming the
URL (WeasyPrint tags inline SVG as a Figure and uses the title as its /Alt text).  The SVG has a viewBox
but no size: the stylesheet sets its printed width (at least 18 mm).  Deterministic: the same URL always
gives the same markup.
"""

from __future__ import annotations

import segno
from markupsafe import Markup, escape

QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks
ERROR_LEVEL = "m"  # 15 % recovery: survives a scuff on paper without making the code denser than needed


def qr_matrix(url: str) -> tuple[tuple[bool, ...], ...]:
    """segno's module matrix for ``url`` (True = dark), without the quiet zone."""
    code = segno.make(url, error=ERROR_LEVEL, boost_error=False, micro=False)
    return tuple(tuple(bool(module) for module in row) for row in code.matrix)


def qr_svg(url: str) -> Markup:
    """The QR code of ``url`` as inline SVG markup."""
    matrix = qr_matrix(url)
    size = len(matrix) + 2 * QUIET_ZONE
    label = f"QR-code: {url}"
    path = "".join(
        f"M{x + QUIET_ZONE} {y + QUIET_ZONE}h{length}v1h-{length}z"
        for y, row in enumerate(matrix) for x, length in _dark_runs(row)
    )
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="qr-code" role="img" aria-label="{label}" '
        'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        '<title>{label}</title>'
        '<rect x="0" y="0" width="{size}" height="{size}" fill="#ffffff"></rect>'
        '<path fill="#000000" d="{path}"></path></svg>'
    ).format(label=escape(label), size=size, path=path)


def _dark_runs(row: tuple[bool, ...]):
    """(start, length) of each run of dark modules in one row."""
    start = None
    for x, dark in enumerate((*row, False)):
        if dark and start is None:
            start = x
        elif not dark and start is not None:
            yield start, x - start
            start = None
