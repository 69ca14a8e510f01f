"""Documents and images in a Messages body: validated as Anthropic does on
Bedrock, and described deterministically so an answer proves the bytes
arrived.

An ``image`` or ``document`` content block must have a base64 source whose
data decodes, whose media_type is one Claude reads and agrees with the
bytes' signature, and whose size is within the limits (an image's base64
at most 5 MB and 8000 px a side; the whole body at most 20 MB).  Anything
else is a ValidationException, as Bedrock answers.

What Claude "sees" is a line the answer rules work on (see emu_claude's
content_text, which puts it after the message's text):

    [image image/png, width: 3, height: 2]
    [document application/pdf, pages: 1, text: customer: Acme; total: 12.5]

so an extraction schema with width/height, or with the fields a PDF's text
labels, is filled from the bytes themselves.
"""

import base64
import binascii
import json
import re
import struct

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
DOCUMENT_TYPES = ("application/pdf",)
MAX_IMAGE_BASE64 = 5 * 1024 * 1024
MAX_IMAGE_SIDE = 8000
MAX_BODY = 20 * 1024 * 1024

_PDF_PAGE = re.compile(rb"/Type\s*/Page(?!s)")
_PDF_TEXT = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*Tj")


class DocumentError(Exception):
    """A ValidationException about an image or document block."""


def is_attachment(block):
    return isinstance(block, dict) and block.get("type") in ("image", "document")


def sniff(data):
    """The media type the bytes' signature says, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def image_size(data, media_type):
    """(width, height) from the image's header, or (0, 0)."""
    if media_type == "image/png" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if media_type == "image/gif" and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if media_type == "image/jpeg":
        i = 2
        while i + 9 < len(data) and data[i] == 0xFF:
            marker = data[i + 1]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    if media_type == "image/webp" and data[12:16] == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    return 0, 0


def pdf_facts(data):
    """(pages, text) of a simple PDF: its page objects and its Tj strings."""
    pages = len(_PDF_PAGE.findall(data))
    text = "; ".join(m.group(1).decode("latin-1").replace("\\(", "(").replace("\\)", ")")
                     for m in _PDF_TEXT.finditer(data))
    return pages, text


def decode(block, where):
    """The block's bytes and media type; DocumentError when Anthropic refuses it."""
    kind = block["type"]
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        raise DocumentError("%s.source: only base64 sources are supported on Bedrock" % where)
    media_type = source.get("media_type")
    allowed = IMAGE_TYPES if kind == "image" else DOCUMENT_TYPES
    if media_type not in allowed:
        raise DocumentError("%s.source.media_type: Input should be %s"
                            % (where, " or ".join("'%s'" % t for t in allowed)))
    data64 = source.get("data")
    if not isinstance(data64, str) or not data64:
        raise DocumentError("%s.source.data: must be a non-empty base64 string" % where)
    if kind == "image" and len(data64) > MAX_IMAGE_BASE64:
        raise DocumentError("%s.source.base64: image exceeds 5 MB maximum: %d bytes > %d bytes"
                            % (where, len(data64), MAX_IMAGE_BASE64))
    try:
        data = base64.b64decode(data64, validate=True)
    except (binascii.Error, ValueError):
        raise DocumentError("%s.source.base64: invalid base64 data" % where)
    found = sniff(data)
    if found != media_type:
        raise DocumentError("%s.source.base64: the %s data does not match the media type %s"
                            % (where, found or "unrecognised", media_type))
    if kind == "image":
        w, h = image_size(data, media_type)
        if max(w, h) > MAX_IMAGE_SIDE:
            raise DocumentError("%s.source.base64: image dimensions exceed max allowed size: "
                                "%d pixels" % (where, MAX_IMAGE_SIDE))
    return data, media_type


def check_body(raw_len, body):
    """Every attachment of body, validated; raises DocumentError."""
    any_attachment = False
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        for j, block in enumerate(content if isinstance(content, list) else ()):
            if is_attachment(block):
                decode(block, "messages.%d.content.%d.%s" % (i, j, block["type"]))
                any_attachment = True
    # a request with media: 20 MB in all (a text-only body has the emulator's own limit)
    if any_attachment and raw_len > MAX_BODY:
        raise DocumentError("request with images or documents exceeds 20 MB maximum: "
                            "%d bytes > %d bytes" % (raw_len, MAX_BODY))


def describe(block):
    """What Claude reads of a (valid) attachment, as one line."""
    try:
        data, media_type = decode(block, "block")
    except DocumentError:
        return ""
    if block["type"] == "image":
        w, h = image_size(data, media_type)
        return "[image %s, width: %d, height: %d]" % (media_type, w, h)
    pages, text = pdf_facts(data)
    return "[document %s, pages: %d, text: %s]" % (media_type, pages, text)


def stats(body):
    """(images, documents, bytes) the body carries: for the emulator's log."""
    images = documents = size = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if is_attachment(block):
                images += block["type"] == "image"
                documents += block["type"] == "document"
                try:
                    size += len(base64.b64decode(block["source"]["data"]))
                except (KeyError, TypeError, binascii.Error, ValueError):
                    pass
    return images, documents, size


def stats_raw(raw):
    """stats() of a request body that may not be JSON: {} then."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    images, docs, size = stats(body)
    return {"images": images, "documents": docs, "bytes": size} if images or docs else {}
