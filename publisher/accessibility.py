"""EPUB Accessibility 1.1 metadata, derived from what an edition actually contains.

Contract:

* ``inspect(documents)`` reads the finished XHTML content documents (bytes, spine order, the navigation
  document included) and returns ``ContentFacts``: what is really there (headings, images and their alt
  text, page-break markers, a page list, ARIA roles, media, scripts).
* ``metadata(facts, certifier=..., page_source=...)`` turns the facts into the package ``<meta>``
  properties (``schema:accessMode`` … ``a11y:certifiedBy``) as ``(property, value)`` pairs, and
  ``summary(facts)`` into the Dutch ``schema:accessibilitySummary``.
* ``cover_alt(issue)`` is the alt text of the cover image, written from the issue's metadata.

Nothing is claimed that the documents do not show: ``alternativeText`` only when images carry alt text,
page navigation only with page-break markers *and* a page list, the conformance statement only when every
image has a text alternative.  The module is pure: no files, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from lxml import etree

from publisher import model as m

CONFORMANCE = "EPUB Accessibility 1.1 - WCAG 2.1 Level AA"

_XHTML = "{http://www.w3.org/1999/xhtml}"
_EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"
_HEADINGS = {f"{_XHTML}h{level}" for level in range(1, 7)}
_MEDIA = {f"{_XHTML}{name}" for name in ("audio", "video")}


@dataclass(frozen=True)
class ContentFacts:
    """What the content documents of an edition contain (counts over all documents)."""

    documents: int = 0
    headings: int = 0
    skipped_heading_levels: int = 0  # e.g. an h3 right after an h1: structure a reader cannot trust
    has_toc: bool = False
    has_landmarks: bool = False
    page_breaks: int = 0
    page_list_entries: int = 0
    images: int = 0
    images_with_alt: int = 0  # non-empty alt text
    decorative_images: int = 0  # alt="": deliberately silent
    cover_with_alt: bool = False  # an <img role="doc-cover"> with alt text
    cover_as_text: bool = False  # a cover document (body epub:type="cover") that also carries headed text
    hidden_pull_quotes: int = 0  # pull quotes kept from screen readers (their words are in the text)
    aria_roles: int = 0
    media: int = 0  # <audio>/<video>
    scripts: int = 0

    @property
    def images_without_alt(self) -> int:
        return self.images - self.images_with_alt - self.decorative_images


def inspect(documents: Iterable[bytes]) -> ContentFacts:
    """Count what the XHTML ``documents`` contain."""
    counts: dict[str, int] = {name: 0 for name in ContentFacts.__dataclass_fields__}
    flags = {"has_toc": False, "has_landmarks": False, "cover_with_alt": False, "cover_as_text": False}
    for data in documents:
        counts["documents"] += 1
        root = etree.fromstring(data)
        headings_before = counts["headings"]
        previous_level = 0
        for element in root.iter(etree.Element):
            _count_element(element, counts, flags)
            if element.tag in _HEADINGS:
                level = int(element.tag[-1])
                counts["skipped_heading_levels"] += level > previous_level + 1
                previous_level = level
        body = root.find(f"{_XHTML}body")
        if body is not None and "cover" in (body.get(_EPUB_TYPE) or "").split():
            flags["cover_as_text"] |= counts["headings"] > headings_before
    counts.update(flags)
    return ContentFacts(**counts)  # type: ignore[arg-type]


def _count_element(element: etree._Element, counts: dict, flags: dict) -> None:
    tag = element.tag
    types = set((element.get(_EPUB_TYPE) or "").split())
    roles = set((element.get("role") or "").split())
    if tag in _HEADINGS:
        counts["headings"] += 1
    elif tag == f"{_XHTML}img":
        _count_image(element, roles, counts, flags)
    elif tag in _MEDIA:
        counts["media"] += 1
    elif tag == f"{_XHTML}script":
        counts["scripts"] += 1
    elif tag == f"{_XHTML}nav":
        flags["has_toc"] |= "toc" in types
        flags["has_landmarks"] |= "landmarks" in types
        if "page-list" in types:
            counts["page_list_entries"] += sum(1 for _ in element.iter(f"{_XHTML}a"))
    if "pagebreak" in types or "doc-pagebreak" in roles:
        counts["page_breaks"] += 1
    if "doc-pullquote" in roles and element.get("aria-hidden") == "true":
        counts["hidden_pull_quotes"] += 1
    if roles:
        counts["aria_roles"] += 1


def _count_image(element: etree._Element, roles: set[str], counts: dict, flags: dict) -> None:
    counts["images"] += 1
    alt = element.get("alt")
    if alt is None:
        return
    if alt.strip():
        counts["images_with_alt"] += 1
        flags["cover_with_alt"] |= "doc-cover" in roles
    else:
        counts["decorative_images"] += 1


# --- the schema.org / EPUB Accessibility properties -----------------------------------------------


def access_modes(facts: ContentFacts) -> list[str]:
    modes = ["textual"]
    if facts.images - facts.decorative_images > 0:
        modes.append("visual")
    return modes


def access_modes_sufficient(facts: ContentFacts) -> list[str]:
    """Every set of modes that conveys all the content: text alone only if every image has alt text."""
    if "visual" not in access_modes(facts):
        return ["textual"]
    sufficient = ["textual,visual"]
    if facts.images_without_alt == 0:
        sufficient.append("textual")
    return sufficient


def features(facts: ContentFacts) -> list[str]:
    found: list[str] = []
    if facts.headings:
        found.append("structuralNavigation")
    if facts.has_toc:
        found.append("tableOfContents")
    if facts.documents:
        found.append("readingOrder")  # one linear spine; boxes and pull quotes are marked up as asides
    if facts.images_with_alt:
        found.append("alternativeText")
    if facts.page_breaks and facts.page_list_entries:
        found.extend(("pageNavigation", "printPageNumbers", "pageBreakMarkers"))
    found.append("displayTransformability")  # reflowable text, relative units, no text in images
    if facts.aria_roles:
        found.append("ARIA")
    return found


def hazards(facts: ContentFacts) -> list[str]:
    if facts.media or facts.scripts:
        return ["unknownFlashingHazard", "unknownMotionSimulationHazard", "unknownSoundHazard"]
    return ["noFlashingHazard", "noMotionSimulationHazard", "noSoundHazard"]


def conforms(facts: ContentFacts) -> bool:
    """Whether the edition may claim EPUB Accessibility 1.1 / WCAG 2.1 AA (checked by EPUBCheck and Ace)."""
    return (facts.images_without_alt == 0 and facts.has_toc and facts.headings > 0
            and facts.skipped_heading_levels == 0)


def summary(facts: ContentFacts) -> str:
    """The accessibility summary in Dutch, sentence by sentence from the facts."""
    sentences: list[str] = []
    if conforms(facts):
        sentences.append("Deze uitgave voldoet aan EPUB Accessibility 1.1 en WCAG 2.1 niveau AA.")
    sentences.append(
        "De tekst is echte tekst: lettertype, lettergrootte, regelafstand en kleuren zijn door de lezer aan "
        "te passen."
    )
    navigation = []
    if facts.has_toc:
        navigation.append("een inhoudsopgave")
    if facts.headings:
        navigation.append("koppen in een logische volgorde" if not facts.skipped_heading_levels else "koppen")
    if facts.has_landmarks:
        navigation.append("oriëntatiepunten")
    if navigation:
        sentences.append(f"Navigeren kan via {_enumerate(navigation)}.")
    if facts.cover_with_alt:
        cover = "Het omslag is een afbeelding met een tekstalternatief"
        sentences.append(f"{cover}; de tekst van het omslag staat er ook als tekst achter." if facts.cover_as_text else f"{cover}.")
    others = facts.images_with_alt - (1 if facts.cover_with_alt else 0)
    if others:
        sentences.append("De afbeelding in de artikelen heeft een tekstalternatief." if others == 1
                         else f"Alle {others} afbeeldingen in de artikelen hebben een tekstalternatief.")
    if facts.images_without_alt:
        sentences.append("Niet alle afbeeldingen hebben een tekstalternatief.")
    if facts.hidden_pull_quotes:
        sentences.append(
            "Streamers (uitgelichte citaten) worden door schermlezers overgeslagen, omdat hun woorden ook in "
            "de lopende tekst staan."
        )
    if facts.page_breaks and facts.page_list_entries:
        sentences.append("De paginanummers van de gedrukte uitgave zijn opgenomen en via een paginalijst te bereiken.")
    if hazards(facts)[0] == "noFlashingHazard":
        sentences.append("De uitgave bevat geen flitsende beelden, bewegingssimulatie of geluid.")
    return " ".join(sentences)


def metadata(facts: ContentFacts, *, certifier: str, page_source: str | None = None) -> list[tuple[str, str]]:
    """The package metadata as ``(property, value)`` pairs, in a stable order."""
    pairs: list[tuple[str, str]] = []
    pairs += [("schema:accessMode", mode) for mode in access_modes(facts)]
    pairs += [("schema:accessModeSufficient", modes) for modes in access_modes_sufficient(facts)]
    pairs += [("schema:accessibilityFeature", feature) for feature in features(facts)]
    pairs += [("schema:accessibilityHazard", hazard) for hazard in hazards(facts)]
    pairs.append(("schema:accessibilitySummary", summary(facts)))
    if facts.page_breaks and page_source:
        pairs.append(("pageBreakSource", page_source))
    if conforms(facts):
        pairs.append(("dcterms:conformsTo", CONFORMANCE))
        pairs.append(("a11y:certifiedBy", certifier))
    return pairs


# --- alt text -------------------------------------------------------------------------------------


def cover_alt(issue: m.Issue, *, text_follows: bool = True) -> str:
    """What the cover shows, in words: masthead, issue line, the cover story and what the cover lines announce.

    The long texts (lead, quotes) are left to the text version of the cover that follows the image
    (``text_follows``), so a screen reader does not read them twice.
    """
    parts = [f"Omslag van {issue.title}, {issue.issue_line}."]
    story = issue.cover.story
    if story:
        parts.append(f"Coververhaal: {story.question}")
        if story.quotes:
            parts.append(f"Met citaten van {_enumerate([quote.name for quote in story.quotes])}.")
    if issue.cover.lines:
        parts.append(f"Verder: {_enumerate([line.kicker or line.text for line in issue.cover.lines])}.")
    if text_follows:
        parts.append("De tekst van het omslag staat hieronder.")
    return " ".join(parts)


def _enumerate(items: list[str]) -> str:
    """Dutch enumeration: "a", "a en b", "a, b en c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} en {items[-1]}"
