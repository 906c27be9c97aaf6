"""The text encoding of a fetched body, and whether it is text at all.

:func:`detect_encoding` takes the encoding from a byte-order mark, then the HTTP header's
charset, then ``<meta charset>`` (in the first 4 KiB), then UTF-8, then ``charset_normalizer``'s
best guess (ties go to Windows-1252), then Windows-1252; a declared charset is used only when
the bytes decode with it. :func:`decode` gives the text (undecodable bytes replaced) and
:func:`looks_binary` flags a body with NUL bytes or mostly non-text bytes in its first KiB
(UTF-16/32 with a byte-order mark judged as text). Pure functions: read and write nothing.
"""

from __future__ import annotations

import codecs
import re

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _bom_encoding(body: bytes) -> str | None:
    return next((enc for bom, enc in _BOMS if body.startswith(bom)), None)


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return False
    return True


def _guess_encoding(body: bytes) -> str | None:
    """charset_normalizer's best guess; among equally good guesses Windows-1252 wins (the web's default)."""
    from charset_normalizer import from_bytes

    matches = from_bytes(body)
    best = matches.best()
    if best is None:
        return None
    tied = [m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
    if any("cp1252" in m.could_be_from_charset for m in tied):
        return "cp1252"
    return best.encoding


def detect_encoding(body: bytes, header_charset: str | None) -> str:
    """BOM, then the HTTP header's charset, then ``<meta charset>``, then UTF-8, then charset_normalizer,
    then Windows-1252; a declared charset is used only when the bytes decode with it."""
    bom = _bom_encoding(body)
    if bom:
        return bom
    for candidate in (header_charset, _meta_charset(body), "utf-8"):
        if candidate and _decodes(body, candidate):
            return candidate
    return _guess_encoding(body) or "cp1252"


def decode(body: bytes, header_charset: str | None) -> str:
    """Text of a response in the encoding ``detect_encoding`` finds (undecodable bytes replaced)."""
    return body.decode(detect_encoding(body, header_charset), errors="replace")


def _meta_charset(body: bytes) -> str | None:
    m = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", body[:4096], re.IGNORECASE)
    return m.group(1).decode("ascii") if m else None


def looks_binary(body: bytes) -> bool:
    """NUL bytes or mostly non-text bytes in the first KiB (UTF-16/32 with a byte-order mark judged as text)."""
    bom = _bom_encoding(body)
    if bom in ("utf-16", "utf-32"):
        head = body[:2048].decode(bom, errors="replace")
        return sum(c.isprintable() or c in "\t\n\r" for c in head) / max(len(head), 1) < 0.85
    head = body[:1024]
    if b"\x00" in head:
        return True
    if not head:
        return False
    text = sum(32 <= b < 127 or b in (9, 10, 13) or b >= 128 for b in head)
    return text / len(head) < 0.85
