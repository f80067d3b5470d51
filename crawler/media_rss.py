"""What a feed says of the images it gives: Media RSS ``media:credit`` and
``media:description`` (else ``media:text``), found beside each image's URL.

feedparser cannot tell these apart: it folds ``media:description`` into the entry's summary
or content, and gathers every ``media:credit`` of an item into one list that no longer says
which picture each belongs to. So the feed's bytes are read once more here, with lxml
(recovering, entities not resolved, no network), when they name the Media RSS namespace.

Media RSS scoping: an element of a ``media:content`` or ``media:thumbnail`` is about that
picture; one of a ``media:group`` about the group's pictures; one of the item about all of
the item's media, its RSS ``<enclosure>`` (or Atom ``rel="enclosure"`` link) included. The
nearest one wins. A scope that holds a video or a sound (a YouTube group, a podcast item)
says nothing of its pictures: its description is the video's, not its thumbnail's caption.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

from lxml import etree
from lxml import html as lxml_html

_MRSS = "search.yahoo.com/mrss"
_ATOM = "{http://www.w3.org/2005/Atom}"
_NOTE_CHARS = 1000  # as a page's caption (crawler.images)


@dataclass(frozen=True)
class ImageNote:
    """What the feed says of one picture."""

    caption: str | None = None
    credit: str | None = None


def image_notes(body: bytes, base: str) -> dict[str, ImageNote]:
    """Absolute image URL -> its note, for every picture of the feed that has one (the
    first note of a URL that two items show). Relative URLs resolve against ``base``."""
    if _MRSS.encode() not in body:
        return {}
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body.removeprefix(b"\xef\xbb\xbf").lstrip(), parser)
    except etree.XMLSyntaxError:
        return {}
    found: dict[str, ImageNote] = {}
    for item in root.iter("item", f"{_ATOM}entry") if root is not None else ():
        _walk(item, ImageNote(), base, found)
    return {url: note for url, note in found.items() if note.caption or note.credit}


def _walk(
    element: etree._Element, inherited: ImageNote, base: str, found: dict[str, ImageNote]
) -> None:
    media = list(_media(element))
    other = _not_a_picture(element) or any(_not_a_picture(m) for m, _ in media)
    note = ImageNote() if other else _own_note(element, inherited)
    for child, href in media:
        if href and href.strip():
            found.setdefault(urljoin(base, href.strip()), _own_note(child, note))
    for child in element:
        if _mrss_name(child) in ("content", "group"):
            _walk(child, note, base, found)


def _media(element: etree._Element) -> Iterator[tuple[etree._Element, str | None]]:
    """The media objects right under ``element``, with their URLs."""
    for child in element:
        if _mrss_name(child) in ("content", "thumbnail") or child.tag == "enclosure":
            yield child, child.get("url")
        elif child.tag == f"{_ATOM}link" and child.get("rel") == "enclosure":
            yield child, child.get("href")


def _not_a_picture(element: etree._Element) -> bool:
    """A media object whose type or medium says video, audio, a document: not a picture."""
    media_type, medium = element.get("type") or "", element.get("medium") or ""
    return bool(media_type and not media_type.startswith("image/")) or medium not in ("", "image")


def _own_note(element: etree._Element, inherited: ImageNote) -> ImageNote:
    """``element``'s own credit and caption, else those it inherits."""
    caption = text = credit = None
    for child in element:
        name = _mrss_name(child)
        if name == "description" and caption is None:
            caption = _text(child)
        elif name == "text" and text is None:
            text = _text(child)
        elif name == "credit" and credit is None:
            credit = _text(child)
    return ImageNote(caption or text or inherited.caption, credit or inherited.credit)


def _text(element: etree._Element) -> str | None:
    value = element.text or ""
    if element.get("type") == "html" and value.strip():
        value = lxml_html.fragment_fromstring(value, create_parent="div").text_content()
    return " ".join(value.split())[:_NOTE_CHARS] or None


def _mrss_name(element: etree._Element) -> str | None:
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith("{"):
        return None
    namespace, _, name = tag[1:].partition("}")
    return name if _MRSS in namespace else None
