"""Tiny valid PNG and PDF files built in code, for the document tests (no
binary fixtures): a PNG of any size (one colour, compressed) and a one-page
PDF whose text is the lines given."""

import struct
import zlib


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, pad=0):
    """A valid RGB PNG of width x height; pad: bytes of a private chunk, to make it large."""
    rows = (b"\x00" + b"\x80\x40\x20" * width) * height
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if pad:
        out += _chunk(b"pgCl", b"\x00" * pad)
    return out + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b"")


def pdf(lines, pages=1):
    """A PDF of pages pages, the first showing lines (Helvetica, one per line)."""
    shown = b" ".join(b"(%s) Tj 0 -14 Td" % line.replace("(", "\\(").replace(")", "\\)").encode("latin-1")
                      for line in lines)
    content = b"BT /F1 12 Tf 72 720 Td " + shown + b" ET"
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i in range(pages):
        contents = b" /Contents 3 0 R" if i == 0 else b""
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]" + contents +
                    b" /Resources << /Font << /F1 4 0 R >> >> >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def sql_bytea(data):
    """A bytea literal of data."""
    return "'\\x%s'::bytea" % data.hex()
