"""Prompt caching as Anthropic models on Bedrock do it (dict + lock).

A request marks cacheable prefixes with ``cache_control`` (emu_claude's
:func:`cache_breakpoints` turns them into (tokens, hash, ttl) breakpoints).
For one request, per (region, base model id):

* breakpoints below the model's minimum cacheable length are ignored (the
  request still succeeds, nothing is cached), as AWS documents;
* ``read`` = tokens of the longest breakpoint prefix still in the cache;
* ``write`` = tokens of the longest eligible prefix minus ``read`` (0 when
  that prefix was itself a hit);
* every eligible prefix is (re)stored; an entry lives ``ttl_s`` seconds
  (300, or 3600 for ``"ttl": "1h"``) from its last write or hit;
* the written tokens are split by TTL as Anthropic reports them
  (``usage.cache_creation``): the tokens between one eligible breakpoint and
  the one before it are written with that breakpoint's TTL.

So with one breakpoint the first request writes the prefix and identical
prefixes within 5 minutes read it.  Time is a parameter (``clock``) so the
unit tests need not wait.
"""

import threading
import time


class PromptCache:
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.lock = threading.Lock()
        self.entries = {}               # (region, model, prefix hash) -> (tokens, expires)

    def use(self, region, model, breakpoints, minimum):
        """Look up and store the breakpoints of one request; return (read, write)."""
        read, write, _ = self.use_split(region, model, breakpoints, minimum)
        return read, write

    def use_split(self, region, model, breakpoints, minimum):
        """As use(); return (read, write, the part of write with a 1-hour TTL)."""
        eligible = [point for point in breakpoints if point.tokens >= minimum]
        if not eligible:
            return 0, 0, 0
        now = self.clock()
        with self.lock:
            hits = [point for point in eligible if self._live((region, model, point.key), now)]
            read = max((point.tokens for point in hits), default=0)
            write = eligible[-1].tokens - read
            for point in eligible:
                self.entries[(region, model, point.key)] = (point.tokens, now + point.ttl_s)
        write_1h, below = 0, read
        for point in eligible:
            if point.tokens > below:
                if point.ttl_s >= 3600:
                    write_1h += point.tokens - below
                below = point.tokens
        return read, write, write_1h

    def _live(self, key, now):
        entry = self.entries.get(key)
        if entry is None:
            return False
        if entry[1] <= now:
            del self.entries[key]
            return False
        return True

    def clear(self):
        with self.lock:
            count = len(self.entries)
            self.entries.clear()
            return count

    def describe(self):
        """The live entries: region, model, tokens, seconds left (no hashes)."""
        now = self.clock()
        with self.lock:
            return [{"region": region, "model": model, "tokens": tokens,
                     "expires_in_s": round(expires - now, 1)}
                    for (region, model, _), (tokens, expires) in sorted(self.entries.items())
                    if expires > now]
