"""A bounded Drain-style template learner: a position that varies among otherwise equal messages is a parameter.

Messages are grouped by length and their first words (a fixed-depth prefix tree); inside a group a message
joins the most similar template when enough of its words agree, and the positions that disagree become
`<*>`. A template's id is fixed when it is created and never changes as the template generalises, so every
occurrence of one kind of message keeps one identity.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.identity.facets import facet_shape, facets_agree, is_facet_token
from bot.identity.mask import PARAM, PROTOCOL, distinct_words

MAX_TEMPLATES = 20_000
SIMILARITY = 0.5
PREFIX_WORDS = 2
MAX_PER_GROUP = 1000
# In a message of this few words one different word is a third of it: a different event, not a parameter.
SHORT_TEMPLATE = 3
_EXACT_ENTRIES = 50_000


def template_id(tokens: Sequence[str]) -> str:
    """The id of a template created from these masked tokens: the same in every process."""
    data = "text\x00" + " ".join(tokens)
    return hashlib.blake2b(data.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


_SLOT_CHARS = frozenset("<*>[](){},;:.\"'`=")


def is_slot(token: str) -> bool:
    """A parameter or punctuation alone (`<*>]`, `(<*>)`, `()`): no word in it, so no say in similarity."""
    return token == PARAM or all(c in _SLOT_CHARS for c in token)


@dataclass(eq=False)
class Template:
    id: str
    tokens: list[str]
    count: int = 0
    last_seen: float = 0.0
    # literal (non-parameter) positions; a template with none only matches exactly
    literals: int = field(default=0)
    # positions that have no say in similarity (parameters, punctuation)
    slots: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        self.slots = [is_slot(token) for token in self.tokens]
        self.literals = self.slots.count(False)

    @property
    def pattern(self) -> str:
        return " ".join(self.tokens)


def _prefix_word(token: str) -> str:
    if is_facet_token(token):
        return facet_shape(token)  # a resolved notice looks among its firing's templates
    return PARAM if PARAM in token else token


def group_key(tokens: Sequence[str], depth: int = PREFIX_WORDS) -> tuple[str, ...]:
    words = [_prefix_word(t) for t in tokens[:depth]]
    if len(words) > 1 and _opens_with_name(tokens[0]):
        words[1] = PARAM  # `User alice from …` / `User bob from …`: the value a message opens with is no key
    return (str(len(tokens)), *words)


def _opens_with_name(token: str) -> bool:
    low = token.lower()
    return low in _NAMING and low not in _PREPOSITIONS


# Words after which a plain word is a value (a user, a host), not part of what the message says.
_NAMING = frozenset(
    ["user", "users", "username", "account", "login", "logname", "owner", "host", "hostname", "node", "name",
     "named", "domain", "group", "client", "peer", "server", "service", "queue", "topic", "table", "database",
     "db", "bucket", "file", "package", "device", "interface", "port", "process", "program", "job", "task",
     "for", "from", "by", "on", "at", "via", "instance", "container", "pod", "cluster", "region", "zone", "comm",
     "command", "cmd", "app", "application", "unit", "module", "image", "namespace", "realm", "tenant", "project"]
)
_PREPOSITIONS = frozenset(["for", "from", "by", "on", "at", "via"])


def _emptied(mine: str, theirs: str) -> bool:
    """A field with a value against the same field left empty (`rhost=<*>` / `rhost=`): another message."""
    return mine.endswith("=") != theirs.endswith("=") and mine.split("=", 1)[0] == theirs.split("=", 1)[0]


def _field(token: str) -> str:
    """The field a `key=value` token fills (`uid` of `(uid=<*>)`), '' for any other token."""
    at = token.find("=")
    if at <= 0:
        return ""
    key = token[:at].lstrip("([{\"'`")
    return key if key.replace("_", "").replace(".", "").replace("-", "").isalpha() else ""


def _other_enum(mine: str, theirs: str) -> bool:
    """One field with two values spelled in letters (`user=root` / `user=guest`): two messages."""
    return bool(_field(mine)) and PARAM not in mine and PARAM not in theirs


def _wordlike(token: str) -> bool:
    """Letters, or words of letters joined by `-` or `_` (`file-read-data`, `mach-lookup`), or a protocol
    named in capitals with its digit (`SOCKS5`)."""
    return token.isalpha() or (
        token[:1].isalpha() and token[-1:].isalpha() and token.replace("-", "").replace("_", "").isalpha()
    ) or bool(PROTOCOL.match(token))


# A constant's name (`CONTAINER_REMOTE_LAUNCH`, `CBS_E_INVALID_PACKAGE`): an event or an error, never a value.
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def _constants(mine: str, theirs: str) -> bool:
    return bool(_CONSTANT.match(mine.strip(_WORD_END))) and bool(_CONSTANT.match(theirs.strip(_WORD_END)))


def _bracketed(token: str) -> bool:
    """A parameter in brackets (`(<*>)`, `[<*>]`): a value the message adds, never a word of it."""
    return PARAM in token and token[:1] in "([{" and token != PARAM


_WORD_END = ":,;.)]}\"'"


def _different_words(mine: str, theirs: str) -> bool:
    """Two tokens that say different words, not values: `disk` / `vcpu`, `spawn` / `destroy`, `memory:` /
    `disk:` (a word with the punctuation that ends a phrase), states (`from AUTO to SUSPENDED`, `LOOKING` /
    `FOLLOWING`: a transition to FAILED is not one to SUCCEEDED)."""
    # `(sshd)` / `(rsyslog)` are not: values in brackets; a word closing a bracket is (`- E_FAIL]`)
    return _wordlike(mine.rstrip(_WORD_END)) and _wordlike(theirs.rstrip(_WORD_END))


def _names_a_value(previous: str, following: str = "") -> bool:
    if previous.endswith((":", "=")) and len(previous) > 1 and not following.endswith(":"):
        return True  # `browser: Chrome`: the value of a field (but `keepalive: Remote IP:` names a field)
    word = previous.strip("\"'`:=,;()[]{}").lower()
    if word == "from" and following == "to":
        return False  # `from idle to running`: a transition between states, not a source
    return word in _NAMING


def group_name(tokens: Sequence[str], depth: int = PREFIX_WORDS) -> str:
    """The group key as one string: how the store files a template for other replicas to find."""
    return "\x1f".join(group_key(tokens, depth))


def similarity(template: Sequence[str], tokens: Sequence[str], slots: Sequence[bool] | None = None) -> float:
    """Share of the template's literal words the message repeats at the same positions.

    Two different plain words at one position make two messages (`disk limit` / `vcpu limit`, `spawn` /
    `destroy`): log and alert parameters are numbers, ids, names and paths, which masking finds, or the
    value after a word that names one (`user alice` / `user bob`).
    """
    literals = same = 0
    previous = ""
    skip = slots if slots is not None else [is_slot(token) for token in template]
    for index, (mine, theirs, slot) in enumerate(zip(template, tokens, skip, strict=True)):
        before, previous = previous, mine
        if slot:
            if mine[:1] in "([{" and _bracketed(mine) and _wordlike(theirs.rstrip(_WORD_END)):
                return 0.0  # `bytes (<*>) sent` / `bytes sent, …`: a value where the other says a word
            continue
        literals += 1
        if mine == theirs:
            same += 1
        elif (_bracketed(theirs) and _wordlike(mine.rstrip(_WORD_END))) or _constants(mine, theirs):
            return 0.0
        elif is_facet_token(mine) or is_facet_token(theirs):
            if not (is_facet_token(mine) and facets_agree(mine, theirs)):
                return 0.0  # another severity, environment, status or size of impact: another alert
            same += 1
        elif _emptied(mine, theirs) or _field(mine) != _field(theirs) or _other_enum(mine, theirs) or (
            _different_words(mine, theirs)
            and not _names_a_value(before, template[index + 1] if index + 1 < len(template) else "")
        ):
            return 0.0
        elif distinct_words(mine, theirs):
            return 0.0  # two alert names, two events, or opposites: two problems, however alike the rest
        elif PARAM in mine and PARAM in theirs and _names_a_value(before):
            same += 1  # `on orion:<*>` / `on <*>`: part of it was a value already, all of it is one
    return same / literals if literals else 0.0


def merge(template: list[str], tokens: Sequence[str]) -> bool:
    """Generalise `template` in place to cover `tokens`; True when it changed."""
    changed = False
    for index, (mine, theirs) in enumerate(zip(template, tokens, strict=True)):
        if mine != theirs and mine != PARAM and not is_facet_token(mine):
            template[index] = PARAM
            changed = True
    return changed


class TemplateLearner:
    """Templates learned from a stream, at most `max_templates` of them (least recently seen go first)."""

    def __init__(
        self,
        *,
        max_templates: int = MAX_TEMPLATES,
        similarity_threshold: float = SIMILARITY,
        depth: int = PREFIX_WORDS,
    ) -> None:
        self.max_templates = max_templates
        self.threshold = similarity_threshold
        self.depth = depth
        self._templates: OrderedDict[str, Template] = OrderedDict()
        self._groups: dict[tuple[str, ...], list[Template]] = {}
        # Masked messages seen before → their template: repeats skip the similarity search.
        self._exact: OrderedDict[tuple[str, ...], Template] = OrderedDict()
        self.dirty: set[str] = set()
        self.evicted = 0
        # Templates of live or judged incidents: never evicted by a flood of new messages (at most half the cap).
        self._pinned: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._templates)

    def templates(self) -> Iterable[Template]:
        return self._templates.values()

    def get(self, template_id_: str) -> Template | None:
        return self._templates.get(template_id_)

    def learn(self, tokens: Sequence[str], now: float = 0.0) -> Template:
        """The template of a masked message, learning from it."""
        found = self.match(tokens, now)
        if found is not None:
            return found
        group = self._groups.setdefault(group_key(tokens, self.depth), [])
        template = self._create(list(tokens), group)
        self._remember(tuple(tokens), template)
        self._touch(template, now)
        return template

    def match(self, tokens: Sequence[str], now: float = 0.0) -> Template | None:
        """The known template a masked message joins (generalising it), or None when it would need a new one."""
        key = tuple(tokens)
        found = self._exact.get(key)
        if found is not None and found.id in self._templates:
            self._exact.move_to_end(key)
            self._touch(found, now)
            return found
        group = self._groups.get(group_key(tokens, self.depth))
        if not group:
            return None
        best, best_score = None, -1.0
        for candidate in group:
            score = similarity(candidate.tokens, tokens, candidate.slots)
            if score > best_score:
                best, best_score = candidate, score
        if best is None or not self._joins(best, best_score):
            return None
        if merge(best.tokens, tokens):
            best.refresh()
            self.dirty.add(best.id)
        self._remember(key, best)
        self._touch(best, now)
        return best

    def pin(self, template_id_: str) -> bool:
        """Keep a template through any flood (a live or judged incident's); True when it is known here."""
        if template_id_ not in self._templates:
            return False
        self._pinned[template_id_] = None
        self._pinned.move_to_end(template_id_)
        while len(self._pinned) > self.max_templates // 2:
            self._pinned.popitem(last=False)
        return True

    def peek(self, tokens: Sequence[str]) -> Template | None:
        """The template a masked message would join, without learning anything."""
        found = self._exact.get(tuple(tokens))
        if found is not None and found.id in self._templates:
            return found
        best, best_score = None, -1.0
        for candidate in self._groups.get(group_key(tokens, self.depth), ()):
            score = similarity(candidate.tokens, tokens, candidate.slots)
            if score > best_score:
                best, best_score = candidate, score
        if best is not None and self._joins(best, best_score):
            return best
        return None

    def _joins(self, template: Template, score: float) -> bool:
        if not template.literals or score < self.threshold:
            return False
        return template.literals > SHORT_TEMPLATE or score == 1.0

    def load(self, rows: Iterable[tuple[str, str, int, float]]) -> int:
        """Adopt stored templates (id, pattern, count, last seen), oldest first; returns how many."""
        loaded = 0
        for id_, pattern, count, last_seen in sorted(rows, key=lambda row: row[3]):
            if id_ in self._templates:
                continue
            tokens = pattern.split(" ") if pattern else []
            template = Template(id_, tokens, int(count), float(last_seen))
            self._insert(template, self._groups.setdefault(group_key(tokens, self.depth), []))
            loaded += 1
        self.dirty.difference_update(t.id for t in self._templates.values())
        return loaded

    def take_dirty(self) -> list[Template]:
        """Templates created or changed since the last call (to be saved)."""
        out = [self._templates[i] for i in self.dirty if i in self._templates]
        self.dirty.clear()
        return out

    def _create(self, tokens: list[str], group: list[Template]) -> Template:
        id_ = template_id(tokens)
        existing = self._templates.get(id_)
        if existing is not None:  # the same start in another group: keep one template per id
            return existing
        template = Template(id_, tokens)
        self._insert(template, group)
        self.dirty.add(id_)
        return template

    def _insert(self, template: Template, group: list[Template]) -> None:
        if len(group) >= MAX_PER_GROUP:
            unpinned = [t for t in group if t.id not in self._pinned]
            if unpinned:
                self._evict(min(unpinned, key=lambda t: t.last_seen))
        while len(self._templates) >= self.max_templates:
            oldest = next(iter(self._templates.values()))
            if oldest.id in self._pinned:
                self._templates.move_to_end(oldest.id)  # pinned: the next oldest goes instead
                continue
            self._evict(oldest)
        self._templates[template.id] = template
        group.append(template)

    def _evict(self, template: Template) -> None:
        self._templates.pop(template.id, None)
        group = self._groups.get(group_key(template.tokens, self.depth))
        if group is not None and template in group:
            group.remove(template)
            if not group:
                self._groups.pop(group_key(template.tokens, self.depth), None)
        self.dirty.discard(template.id)
        self._pinned.pop(template.id, None)
        self.evicted += 1

    def _remember(self, key: tuple[str, ...], template: Template) -> None:
        self._exact[key] = template
        if len(self._exact) > _EXACT_ENTRIES:
            self._exact.popitem(last=False)

    def _touch(self, template: Template, now: float) -> None:
        template.count += 1
        if now > template.last_seen:
            template.last_seen = now
        self._templates.move_to_end(template.id)
