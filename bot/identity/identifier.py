"""Incident identity: one fingerprint per kind of alert or log message, learned from the stream."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from bot.identity.drain import MAX_TEMPLATES, TemplateLearner, group_name, template_id
from bot.identity.facets import is_facet_token, resolved_token
from bot.identity.mask import identity_tokens, status_prefix
from bot.identity.places import places
from bot.identity.status import is_resolved

log = structlog.get_logger("bot.identity")
# What another replica may know: (id, pattern, count, last seen) rows of one group; and how to tell them.
Fetch = Callable[[str], list[tuple[str, str, int, float]]]
Publish = Callable[[list[tuple[str, str, int, float, str]]], None]
# Very long inputs (stack traces, log excerpts) are identified by their beginning.
_IDENTITY_CHARS = 2000


@dataclass(frozen=True)
class Identity:
    """What the gateway knows a message by.

    `fingerprint` is `meta.fingerprint`; `incident_key` is what repeats coalesce by (a resolved notice has
    its own fingerprint but the key of the incident it closes); `places` are where this one fired, when the
    source says so structurally (the alert intake reads the text's own with `places()`).
    """

    fingerprint: str
    incident_key: str
    resolved: bool
    template: str
    places: tuple[str, ...] = ()


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x00".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def resolved_fingerprint(key: str) -> str:
    return _digest(key, "resolved")


def structured_identity(key: str, text: str, resolved: bool, labels: dict[str, str] | None = None) -> Identity:
    """Identity of an alert known by its structure (for example Alertmanager labels), not its text."""
    base = _digest("structured", key)
    return Identity(
        fingerprint=resolved_fingerprint(base) if resolved else base,
        incident_key=base,
        resolved=resolved,
        template=key,
        places=places(text, labels),
    )


def fingerprint(text: str) -> str:
    """A fingerprint from masking alone (no learned templates): stable for a given text in any process."""
    _, body = status_prefix(text)
    base = template_id(identity_tokens(body[:_IDENTITY_CHARS]))
    return resolved_fingerprint(base) if is_resolved(text) else base


IdentityKey = tuple[bool, tuple[str, ...]]


def identity_key(text: str) -> IdentityKey:
    """What an identity is learned from, a pure function of the text: (resolved, masked tokens)."""
    resolved = is_resolved(text)
    _, body = status_prefix(text)
    tokens = identity_tokens(body[:_IDENTITY_CHARS])
    if resolved and tokens and is_facet_token(tokens[0]):
        tokens[0] = resolved_token(tokens[0])
    return resolved, tuple(tokens)


class Identifier:
    """Masks, learns and remembers templates; thread-safe; its state is saved to and loaded from the store."""

    def __init__(
        self,
        *,
        max_templates: int = MAX_TEMPLATES,
        clock: Callable[[], float] = time.time,
        fetch: Fetch | None = None,
        publish: Publish | None = None,
    ) -> None:
        """`fetch` reads the stored templates of a group and `publish` stores new or changed ones at once:
        with both, replicas sharing a store agree on an identity as soon as one of them has learned it."""
        self.learner = TemplateLearner(max_templates=max_templates)
        self._clock = clock
        self._lock = threading.Lock()
        self.fetch = fetch
        self.publish = publish

    def identify(self, text: str, key: IdentityKey | None = None) -> Identity:
        """The text's identity, learning from it; `key` is `identity_key(text)` when the caller has it."""
        resolved, tokens = key if key is not None else identity_key(text)
        now = self._clock()
        template = None
        if self.fetch is not None:
            with self._lock:
                template = self.learner.match(tokens, now)
        if template is None and self.fetch is not None:
            # Nothing here fits: another replica (or this one, before a flood) may have learned it.
            rows = self._stored(group_name(tokens))
            if rows:
                with self._lock:
                    self.learner.load(rows)
        with self._lock:
            if template is None:
                template = self.learner.learn(tokens, now)
            base, pattern = template.id, template.pattern
        if self.publish is not None and self.learner.dirty:
            self._publish()
        return Identity(
            fingerprint=resolved_fingerprint(base) if resolved else base,
            incident_key=base,
            resolved=resolved,
            template=pattern,
        )

    def _stored(self, group: str) -> list[tuple[str, str, int, float]]:
        assert self.fetch is not None
        try:
            return self.fetch(group)
        except Exception:  # the store is away: this replica's own templates still give an identity
            log.warning("identity_fetch_failed", exc_info=True)
            return []

    def _publish(self) -> None:
        assert self.publish is not None
        rows = self.take_dirty()
        if not rows:
            return
        try:
            self.publish(rows)
        except Exception:  # kept for the next save
            log.warning("identity_publish_failed", exc_info=True)
            self.put_back(rows)

    def pin(self, template_id_: str) -> bool:
        """Keep the template of a live or judged incident through any flood of new messages."""
        with self._lock:
            return self.learner.pin(template_id_)

    def load(self, rows: Iterable[tuple[str, str, int, float]]) -> int:
        with self._lock:
            return self.learner.load(rows)

    def take_dirty(self) -> list[tuple[str, str, int, float, str]]:
        """Templates learned or generalised since the last call, as rows for the store (with their group)."""
        with self._lock:
            return [(t.id, t.pattern, t.count, t.last_seen, group_name(t.tokens)) for t in self.learner.take_dirty()]

    def put_back(self, rows: Iterable[tuple[str, str, int, float, str]]) -> None:
        """Rows `take_dirty` gave that did not reach the store: unsaved again (unless evicted meanwhile)."""
        with self._lock:
            self.learner.dirty.update(row[0] for row in rows)

    @property
    def has_dirty(self) -> bool:
        return bool(self.learner.dirty)
