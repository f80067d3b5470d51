"""The parts of trafilatura 2.3.1 that extraction uses below its documented API.

``bare_extraction`` and ``extract`` are trafilatura's public API. Extraction also calls the
steps they are made of, to skip work newsrelay throws away (the metadata fields it does not
keep, the plain-text rendering it redoes): the metadata readers, ``load_html``,
``convert_to_html`` and ``xmltotxt``, and the ``Document`` type. None of these is documented
as stable; ``tests/test_upstream.py`` calls each the way ``crawler.extract`` does.

``crawler.body_choice`` also wraps ``trafilatura.core.compare_extraction`` (the choice
between trafilatura's own body and readability's) for extractions made with its own
``Extractor`` options; ``tests/test_upstream.py`` checks that the name is still called from
``trafilatura.core`` with the same arguments.
"""

from __future__ import annotations

from trafilatura import core as trafilatura_core
from trafilatura.external import compare_extraction
from trafilatura.htmlprocessing import convert_to_html
from trafilatura.metadata import (
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document, Extractor
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

__all__ = [
    "Document",
    "Extractor",
    "compare_extraction",
    "convert_to_html",
    "examine_meta",
    "extract_author",
    "extract_meta_json",
    "extract_title",
    "extract_url",
    "load_html",
    "trafilatura_core",
    "xmltotxt",
]
