"""Embedding the ComfyUI workflow and prompt where ComfyUI's frontend looks for them when a file
is dropped on the canvas: mp4/mov `mdta` keys and matroska tags (written by ffmpeg from an
ffmetadata file, so workflows larger than a command-line argument still fit), PNG tEXt chunks,
a WebP EXIF chunk of "key:json" strings, and a GIF comment (read by other tools, not the frontend).
Each value is the JSON text of one key of the metadata dict ({"prompt": ..., "workflow": ...})."""
from __future__ import annotations

import json
import re
import struct
import zlib


def metadata_texts(metadata: dict | None) -> dict[str, str]:
    return {key: json.dumps(value) for key, value in (metadata or {}).items()}


def _ffmetadata_escape(text: str) -> str:
    for special in ("\\", "=", ";", "#", "\n"):
        text = text.replace(special, "\\" + special)
    return text


def ffmetadata_file_text(metadata: dict | None) -> str:
    """An ffmetadata file (`-i file -map_metadata N`) holding each key as a global tag."""
    lines = [f"{_ffmetadata_escape(key)}={_ffmetadata_escape(text)}" for key, text in metadata_texts(metadata).items()]
    return ";FFMETADATA1\n" + "\n".join(lines) + "\n"


def parse_ffmetadata(text: str) -> dict[str, str]:
    """Global tags from `ffmpeg -i file -f ffmetadata -` (up to the first [STREAM]/[CHAPTER])."""
    tags = {}
    for entry in re.findall(r"(?:\\.|[^\\\n])+", text, flags=re.S):
        if entry.startswith("["):
            break
        pair = re.match(r"((?:\\.|[^\\=])*)=(.*)", entry, flags=re.S)
        if pair and not entry.startswith(";"):
            tags[_ffmetadata_unescape(pair.group(1))] = _ffmetadata_unescape(pair.group(2))
    return tags


def _ffmetadata_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


PNG_KEYWORD_BYTES = 79


def png_keyword(key: str) -> bytes:
    """A tEXt keyword is 1-79 Latin-1 bytes: other characters are kept as backslash escapes (an API
    client may send any key in extra_pnginfo; a frame is not worth failing over its label)."""
    return (key.encode("latin-1", "backslashreplace")[:PNG_KEYWORD_BYTES] or b"?").replace(b"\0", b"?")


def png_text_chunk(key: str, text: str) -> bytes:
    return png_chunk(b"tEXt", png_keyword(key) + b"\0" + text.encode("latin-1", "backslashreplace"))


def encode_png(rgb, metadata: dict | None = None) -> bytes:
    """An 8-bit RGB PNG (H, W, 3 uint8 array) with the workflow as tEXt, using only zlib: every row
    gets PNG's 'Up' filter, which compresses natural frames well and is one vectorised subtraction;
    zlib level 4, as ComfyUI's SaveImage."""
    height, width, _ = rgb.shape
    rows = rgb.reshape(height, width * 3)
    filtered = rows.copy()
    filtered[1:] -= rows[:-1]  # uint8 arithmetic wraps modulo 256, as the filter defines
    scanlines = b"".join(bytes([2 if y else 0]) + filtered[y].tobytes() for y in range(height))
    texts = b"".join(png_text_chunk(key, text) for key, text in metadata_texts(metadata).items())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b"IHDR", header) + texts + png_chunk(b"IDAT", zlib.compress(scanlines, 4))
            + png_chunk(b"IEND", b""))


def exif_ascii_block(strings: list[str]) -> bytes:
    """A little-endian TIFF block with one ASCII entry per string (tags 0x010F, 0x010E, ... as
    ComfyUI's own SaveAnimatedWEBP numbers them)."""
    values = [s.encode("utf-8") + b"\0" for s in strings]
    tags = sorted((0x010F - index, value) for index, value in enumerate(values))
    data_offset = 8 + 2 + 12 * len(tags) + 4
    entries, data = b"", b""
    for tag, value in tags:
        entries += struct.pack("<HHII", tag, 2, len(value), data_offset + len(data))
        data += value
    return b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(tags)) + entries + struct.pack("<I", 0) + data


def webp_canvas(kind: bytes, bitstream: bytes) -> tuple[int, int, bool]:
    """(width, height, has alpha) from the start of a VP8 (lossy) or VP8L (lossless) bitstream."""
    if kind == b"VP8 ":  # 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height
        width, height = struct.unpack("<HH", bitstream[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    if kind == b"VP8L":  # signature 0x2f, then 14 bits width-1, 14 bits height-1, 1 bit alpha
        bits = struct.unpack("<I", bitstream[1:5])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)
    raise ValueError(f"not a WebP image: its first chunk is {kind!r}")


def extended_webp(webp: bytes) -> bytes:
    """The WebP in the extended (VP8X) layout, the one that can carry EXIF. libwebp_anim writes a
    single frame as a simple VP8/VP8L file, which gets the VP8X header it lacks."""
    kind = webp[12:16]
    if kind == b"VP8X":
        return webp
    width, height, alpha = webp_canvas(kind, webp[20:30])
    vp8x = (b"VP8X" + struct.pack("<I", 10) + bytes([0x10 if alpha else 0, 0, 0, 0])
            + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))
    body = vp8x + webp[12:]
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def add_webp_exif(webp: bytes, metadata: dict | None) -> bytes:
    """Adds an EXIF chunk of "key:json" strings right after VP8X (whose EXIF flag it sets).
    It goes first because the frontend walks chunks without honouring RIFF's odd-size padding."""
    webp = extended_webp(webp)
    exif = exif_ascii_block([f"{key}:{text}" for key, text in metadata_texts(metadata).items()])
    chunk = b"EXIF" + struct.pack("<I", len(exif)) + exif + (b"\0" if len(exif) % 2 else b"")
    vp8x_end = 12 + 8 + struct.unpack("<I", webp[16:20])[0]
    flags = bytes([webp[20] | 0x08])
    body = webp[12:20] + flags + webp[21:vp8x_end] + chunk + webp[vp8x_end:]
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def read_webp_exif_strings(webp: bytes) -> dict[str, str]:
    """The "key:value" strings of a WebP's EXIF chunk, split at the first colon like the frontend does."""
    offset = 12
    while offset + 8 <= len(webp):
        kind, size = webp[offset:offset + 4], struct.unpack("<I", webp[offset + 4:offset + 8])[0]
        if kind == b"EXIF":
            block = webp[offset + 8:offset + 8 + size]
            count = struct.unpack("<H", block[8:10])[0]
            found = {}
            for index in range(count):
                _, _, length, at = struct.unpack("<HHII", block[10 + 12 * index:22 + 12 * index])
                key, _, value = block[at:at + length - 1].decode("utf-8").partition(":")
                found[key] = value
            return found
        offset += 8 + size + (size % 2)
    return {}


def gif_comment_blocks(text: str) -> bytes:
    data = text.encode("utf-8")
    blocks = b"".join(bytes([len(piece)]) + piece for piece in (data[i:i + 255] for i in range(0, len(data), 255)))
    return b"\x21\xfe" + blocks + b"\0"


def add_gif_comment(gif: bytes, metadata: dict | None) -> bytes:
    """Inserts one comment extension holding the JSON metadata right after the global colour table,
    where readers (e.g. PIL's info["comment"]) see it without decoding frames."""
    if not metadata:
        return gif
    packed = gif[10]
    table = 3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0
    at = 13 + table
    return gif[:at] + gif_comment_blocks(json.dumps(metadata)) + gif[at:]
