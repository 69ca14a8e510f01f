"""Timing and faults of an event stream (InvokeModelWithResponseStream, ConverseStream).

``first_byte_ms`` (a control setting) is the time from the request's start to
the first piece of content: the messages up to and including the first
content delta are written then, and the rest are spread evenly so that the
last one is written at ``latency_ms`` (the whole exchange).  With
``first_byte_ms`` 0 the older behaviour holds: ``latency_ms`` is slept before
anything is sent.

Faults that shape a stream (issue 17):

* ``stream_exception``: an exception event (``error_type``, default
  ``throttlingException``) after the first content delta, so a client has
  seen part of the answer when it fails;
* ``corrupt_frame``: one byte of the stream flipped at an offset chosen at
  random (``delay_ms`` > 0 fixes the offset instead), which breaks a prelude
  or message CRC, a length or a header: the client must fail cleanly.
"""

import base64
import json
import random
import time

import emu_eventstream as eventstream


def first_content_index(messages):
    """Index of the first message that carries content (a content delta), or 0."""
    for index, message in enumerate(messages):
        try:
            headers, payload, _ = eventstream.decode_message(message)
        except eventstream.EventStreamError:
            continue
        kind = next((h.value for h in headers if h.name == ":event-type"), None)
        if kind == "contentBlockDelta":
            return index
        if kind == "chunk":
            try:
                event = json.loads(base64.b64decode(json.loads(payload)["bytes"]))
            except (ValueError, KeyError, TypeError):
                continue
            if event.get("type") == "content_block_delta":
                return index
    return 0


def with_exception(messages, error_type, message):
    """Cut the stream after its first content delta with an exception event."""
    keep = first_content_index(messages) + 1
    return messages[:keep] + [eventstream.exception_message(
        error_type or "throttlingException", json.dumps({"message": message}).encode("utf-8"))]


def corrupt(messages, offset=None, seed=None):
    """The stream as one byte string with one byte flipped (at offset, or at random)."""
    data = bytearray(b"".join(messages))
    if not data:
        return [bytes(data)]
    rng = random.Random(seed)
    at = offset if offset is not None and offset < len(data) else rng.randrange(len(data))
    data[at] ^= 1 << rng.randrange(8)
    # keep the writes' boundaries, so timing applies as before
    out, pos = [], 0
    for message in messages:
        out.append(bytes(data[pos:pos + len(message)]))
        pos += len(message)
    return out


def schedule(messages, first_byte_ms, latency_ms, elapsed_ms):
    """(seconds to sleep before, message) pairs that honour the two delays."""
    first = first_content_index(messages)
    now = elapsed_ms
    out = []
    rest = messages[first + 1:]
    step = max(0.0, latency_ms - first_byte_ms) / len(rest) if rest else 0.0
    for index, message in enumerate(messages):
        if index <= first:
            due = first_byte_ms if index == first else now
        else:
            due = first_byte_ms + step * (index - first)
        out.append((max(0.0, due - now) / 1000.0, message))
        now = max(now, due)
    return out


def write(wfile, messages, first_byte_ms, latency_ms, started):
    """Write chunked-encoded messages on the schedule above (flushing each)."""
    elapsed = (time.time() - started) * 1000.0
    for pause, message in schedule(messages, first_byte_ms, latency_ms, elapsed):
        if pause:
            time.sleep(pause)
        wfile.write(b"%x\r\n%s\r\n" % (len(message), message))
        wfile.flush()
