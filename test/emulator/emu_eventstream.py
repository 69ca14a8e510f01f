"""application/vnd.amazon.eventstream: encode (and decode, for tests) messages.

Wire format of one message (all integers big-endian):

    total_length u32 | headers_length u32 | prelude_crc u32   (the prelude)
    headers ... | payload ... | message_crc u32

``prelude_crc`` is CRC32 (zlib/IEEE) of the first 8 bytes; ``message_crc`` is
CRC32 of everything before it.  A header is ``name_len u8, name, type u8,
value``; the value layout depends on the type (table below).  Bedrock only uses
string headers (type 7) but the codec covers every type so that it can be
checked against the published test data (shared/data/eventstream-testdata).
"""

import struct
import uuid
import zlib
from dataclasses import dataclass

PRELUDE_LENGTH = 12
CRC_LENGTH = 4

# type id -> (name, struct format for fixed-size values or None)
HEADER_TYPES = {
    0: ("bool_true", None),
    1: ("bool_false", None),
    2: ("byte", ">b"),
    3: ("short", ">h"),
    4: ("integer", ">i"),
    5: ("long", ">q"),
    6: ("byte_array", None),
    7: ("string", None),
    8: ("timestamp", ">q"),     # milliseconds since the epoch
    9: ("uuid", None),
}
STRING = 7
BYTE_ARRAY = 6
UUID = 9


class EventStreamError(ValueError):
    pass


@dataclass
class Header:
    name: str
    type: int
    value: object


def crc32(data, start=0):
    return zlib.crc32(data, start) & 0xFFFFFFFF


def encode_header(header):
    name = header.name.encode("utf-8")
    out = bytearray([len(name)]) + name + bytes([header.type])
    kind, fmt = HEADER_TYPES[header.type]
    if kind in ("bool_true", "bool_false"):
        pass
    elif fmt is not None:
        out += struct.pack(fmt, header.value)
    elif header.type in (STRING, BYTE_ARRAY):
        raw = header.value.encode("utf-8") if isinstance(header.value, str) else bytes(header.value)
        out += struct.pack(">H", len(raw)) + raw
    elif header.type == UUID:
        raw = header.value.bytes if isinstance(header.value, uuid.UUID) else bytes(header.value)
        out += raw
    return bytes(out)


def encode_message(headers, payload):
    """One framed message; ``headers`` is a list of Header or a dict of strings."""
    if isinstance(headers, dict):
        headers = [Header(name, STRING, value) for name, value in headers.items()]
    header_bytes = b"".join(encode_header(h) for h in headers)
    total = PRELUDE_LENGTH + len(header_bytes) + len(payload) + CRC_LENGTH
    prelude = struct.pack(">II", total, len(header_bytes))
    prelude += struct.pack(">I", crc32(prelude))
    body = prelude + header_bytes + payload
    return body + struct.pack(">I", crc32(body))


def event_message(event_type, payload, content_type="application/json"):
    """A Bedrock event: ':event-type', ':content-type', ':message-type event'."""
    return encode_message({":event-type": event_type, ":content-type": content_type,
                           ":message-type": "event"}, payload)


def exception_message(exception_type, payload):
    """A modelled exception inside the stream (e.g. 'throttlingException')."""
    return encode_message({":exception-type": exception_type,
                           ":content-type": "application/json",
                           ":message-type": "exception"}, payload)


# --------------------------------------------------------------------------
# Decoding (used by the tests; strict about lengths and CRCs)
# --------------------------------------------------------------------------

def decode_headers(data):
    headers = []
    i = 0
    while i < len(data):
        name_len = data[i]
        name = data[i + 1:i + 1 + name_len].decode("utf-8")
        i += 1 + name_len
        if i >= len(data):
            raise EventStreamError("truncated header")
        htype = data[i]
        i += 1
        if htype not in HEADER_TYPES:
            raise EventStreamError("unknown header type %d" % htype)
        kind, fmt = HEADER_TYPES[htype]
        if kind == "bool_true":
            value = True
        elif kind == "bool_false":
            value = False
        elif fmt is not None:
            size = struct.calcsize(fmt)
            value = struct.unpack(fmt, data[i:i + size])[0]
            i += size
        elif htype in (STRING, BYTE_ARRAY):
            (length,) = struct.unpack(">H", data[i:i + 2])
            raw = data[i + 2:i + 2 + length]
            if len(raw) != length:
                raise EventStreamError("truncated header value")
            value = raw.decode("utf-8") if htype == STRING else raw
            i += 2 + length
        else:
            value = uuid.UUID(bytes=bytes(data[i:i + 16]))
            i += 16
        headers.append(Header(name, htype, value))
    return headers


def decode_message(data):
    """Decode one message at the start of ``data``; return (headers, payload, used)."""
    if len(data) < PRELUDE_LENGTH + CRC_LENGTH:
        raise EventStreamError("message shorter than prelude")
    total, headers_length, prelude_crc = struct.unpack(">III", data[:PRELUDE_LENGTH])
    if crc32(data[:8]) != prelude_crc:
        raise EventStreamError("prelude CRC mismatch")
    if total > len(data) or total < PRELUDE_LENGTH + headers_length + CRC_LENGTH:
        raise EventStreamError("bad total length")
    (message_crc,) = struct.unpack(">I", data[total - CRC_LENGTH:total])
    if crc32(data[:total - CRC_LENGTH]) != message_crc:
        raise EventStreamError("message CRC mismatch")
    headers = decode_headers(data[PRELUDE_LENGTH:PRELUDE_LENGTH + headers_length])
    payload = data[PRELUDE_LENGTH + headers_length:total - CRC_LENGTH]
    return headers, payload, total


def decode_all(data):
    """Every message in a buffer, as a list of (headers dict, payload)."""
    out = []
    offset = 0
    while offset < len(data):
        headers, payload, used = decode_message(data[offset:])
        out.append(({h.name: h.value for h in headers}, payload))
        offset += used
    return out
