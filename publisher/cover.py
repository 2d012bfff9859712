"""The typographic front cover as a PNG image (the EPUB cover; the same markup is page 1 of the PDF).

Contract: ``cover_png(issue, width_px=1600) -> bytes`` renders ``templates/cover.xhtml.j2`` styled by
``styles/base.css`` + ``styles/cover.css`` as one A4 page with WeasyPrint (jailed fetcher, strict: any
WeasyPrint warning raises ``errors.BuildError``), rasterises it with pypdfium2 and returns PNG bytes
exactly ``width_px`` wide.  The bytes are deterministic: Pillow re-saves the pixels with no metadata, no
time chunk and no gamma/ICC chunk.
"""

from __future__ import annotations

import io

import pypdfium2 as pdfium
from PIL import Image

from publisher import model as m
from publisher.errors import BuildError
from publisher.fetch import render_strictly
from publisher.render import render_template


def cover_document(issue: m.Issue) -> str:
    """The standalone XHTML of the cover page (stylesheets relative to the project root)."""
    return render_template("print/cover-page.xhtml.j2", issue=issue)


def cover_pdf(issue: m.Issue) -> bytes:
    """The cover as a one-page PDF (trim size, no bleed)."""
    document = render_strictly(cover_document(issue), "cover")
    if len(document.pages) != 1:
        raise BuildError(f"cover: the cover must fit on one page, it takes {len(document.pages)}")
    return document.write_pdf()


def cover_png(issue: m.Issue, width_px: int = 1600) -> bytes:
    """The front cover as a PNG of ``width_px`` pixels wide (height in A4 proportion)."""
    if width_px < 16:
        raise ValueError(f"cover width must be at least 16 px, not {width_px}")
    pixels = _rasterise_first_page(cover_pdf(issue), width_px)
    out = io.BytesIO()
    # A fresh image carries no info dict: no tEXt/tIME/pHYs chunks, so the bytes depend on pixels only.
    Image.frombytes(pixels.mode, pixels.size, pixels.tobytes()).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _rasterise_first_page(pdf: bytes, width_px: int) -> Image.Image:
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        width_pt, height_pt = page.get_size()
        scale = width_px / width_pt
        bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
        image = bitmap.to_pil().convert("RGB")
        page.close()
    finally:
        document.close()
    height_px = round(height_pt * scale)
    if image.size != (width_px, height_px):  # pdfium rounds the bitmap size; pin it to what was asked
        image = image.resize((width_px, height_px), Image.Resampling.LANCZOS)
    return image
