"""Lead image files kept on disk, named by the SHA-256 of their bytes: the same picture
linked by two articles (or two outlets) is one file, and a name never changes its content.

The type is read from the file's first bytes, never from the server's Content-Type: a page,
a script or an .svg served as ``image/jpeg`` is not kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

# (offset, magic bytes, extension); AVIF is an ISO-BMFF "ftyp" box of brand avif/avis.
_SIGNATURES = (
    (0, b"\xff\xd8\xff", "jpg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
)


class ImageRefused(Exception):
    """The downloaded bytes are not kept; the message says why, in a few words."""


def image_extension(data: bytes) -> str | None:
    """``jpg``, ``png``, ``gif``, ``webp`` or ``avif`` from the file's magic bytes, else None."""
    for offset, magic, extension in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "avif"
    return None


def store_image(data: bytes, directory: Path, max_bytes: int) -> str:
    """Keep ``data`` under ``directory`` as ``ab/cd/<sha256>.<ext>`` and return that relative
    path (written once: an existing file is the same bytes). Raises :class:`ImageRefused`
    for bytes over ``max_bytes`` or that are no JPEG, PNG, GIF, WebP or AVIF image."""
    if len(data) > max_bytes:
        raise ImageRefused(f"image larger than [images] max_bytes ({max_bytes} bytes): {len(data)}")
    extension = image_extension(data)
    if extension is None:
        raise ImageRefused("not a JPEG, PNG, GIF, WebP or AVIF image")
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{digest[:2]}/{digest[2:4]}/{digest}.{extension}"
    target = directory / relative
    if target.exists():
        # Touched: retention (storage.retention) leaves a recently used file alone while the
        # article that reuses it is on its way to the database.
        with contextlib.suppress(OSError):
            os.utime(target)
        return relative
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target, then renamed: a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".image-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return relative
