"""Baking a credential into the badge image (Open Badges 3.0 §5.3.1, PNG).

An `iTXt` chunk with keyword `openbadgecredential`, compression flag 0, empty language tag and
translated keyword, and the compact VC-JWT as text, placed right after `IHDR`; any such chunk
already there is dropped (one credential per image). PNG chunk layout:
https://www.w3.org/TR/png-3/#5Chunk-layout (length, type, data, CRC-32 over type and data).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEYWORD = b"openbadgecredential"
IMAGE = Path(__file__).resolve().parents[2] / "static" / "img" / "badges" / "architecte.png"


def _chunks(png: bytes) -> Iterator[tuple[bytes, bytes]]:
    if not png.startswith(SIGNATURE):
        raise ValueError("not a PNG image")
    pos = len(SIGNATURE)
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        yield kind, png[pos + 8:pos + 8 + length]
        pos += 12 + length


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bake(png: bytes, credential: str) -> bytes:
    itxt = KEYWORD + b"\x00" + b"\x00\x00" + b"\x00" + b"\x00" + credential.encode("utf-8")
    out = [SIGNATURE]
    for kind, data in _chunks(png):
        if kind == b"iTXt" and data.split(b"\x00", 1)[0] == KEYWORD:
            continue
        out.append(_chunk(kind, data))
        if kind == b"IHDR":
            out.append(_chunk(b"iTXt", itxt))
    return b"".join(out)


@cache
def badge_image() -> bytes:
    return IMAGE.read_bytes()


def baked_badge(credential: str) -> bytes:
    return bake(badge_image(), credential)
