"""The front stage once per distinct input: repeats of a text reuse its normalised, redacted, pre-screened form.

Normalising, redacting and pre-screening are pure functions of the raw text, so a repeat (a batch of
recurring alerts, a retried request, a storm) needs none of them again. Identity is not cached: templates
are learned from every input, in the order the inputs arrive.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable

from bot.triage.front import Prepared, prepare, prepare_unidentified

# Entries kept, and the longest raw text kept (bounds the memory: about FRONT_CACHE_SIZE * MAX_CACHED_CHARS).
FRONT_CACHE_SIZE = 2048
MAX_CACHED_CHARS = 4000


class FrontCache:
    """LRU of prepared inputs by raw text and size limit; the fingerprint is asked of `identify` every time."""

    def __init__(self, size: int = FRONT_CACHE_SIZE, max_chars: int = MAX_CACHED_CHARS) -> None:
        self.size = size
        self.max_chars = max_chars
        self._entries: OrderedDict[tuple[str | bytes, int], Prepared] = OrderedDict()

    def prepare(self, raw: str | bytes, max_chars: int, identify: Callable[[str], str]) -> Prepared:
        """`prepare(raw, max_chars, identify)`, the pure part taken from the cache when `raw` was seen."""
        if len(raw) > self.max_chars or self.size <= 0:
            return prepare(raw, max_chars, identify)
        hit = self.unidentified(raw, max_chars)
        return dataclasses.replace(hit, fingerprint=identify(hit.text))

    def unidentified(self, raw: str | bytes, max_chars: int) -> Prepared:
        """`prepare_unidentified(raw, max_chars)`, from the cache when `raw` was seen (do not change it)."""
        hit = self.peek(raw, max_chars)
        if hit is None:
            hit = prepare_unidentified(raw, max_chars)  # raises InputError for unusable input: nothing kept
            self.keep(raw, max_chars, hit)
        return hit

    def peek(self, raw: str | bytes, max_chars: int) -> Prepared | None:
        """The front stage of `raw` when it was seen (do not change it), else None (nothing worked out). Its
        fingerprint, if any, is not this input's: identities are learned from every input."""
        if len(raw) > self.max_chars or self.size <= 0:
            return None
        hit = self._entries.get((raw, max_chars))
        if hit is not None:
            self._entries.move_to_end((raw, max_chars))
        return hit

    def keep(self, raw: str | bytes, max_chars: int, prepared: Prepared) -> None:
        """Remember the front stage of `raw` worked out elsewhere (not when `raw` is too long to keep)."""
        if len(raw) > self.max_chars or self.size <= 0:
            return
        self._entries[(raw, max_chars)] = prepared
        self._entries.move_to_end((raw, max_chars))
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
