"""Identity lint across events: who is who, as the ids in a capture link them (docs/identities.md).

Pure: :class:`IdentityLint` is fed stored ``events`` rows in arrival (id) order, like
:class:`~debugger.core.lint.sequence.SequenceLint` beside it, and returns for each the findings the
rows before it reveal. `segdbg check` runs both after the per-event linter; the per-event views do
not (a row alone cannot say). Placeholder ids (``placeholder_id``, a per-event rule) are left out of
the graph: they would link everyone.

Rules (category ``strict``, severity ``warning``):

- ``user_id_changed_mid_session`` — within one session of an anonymousId (a session ends after
  ``session_gap_ms``, 30 min, without its events), a message carries a userId other than the one
  before it, and no alias links the two: two people on one device without ``reset()``.
- ``anonymous_id_many_users`` — an anonymousId identified as a userId it was not seen with before,
  when it already had another (not linked by an alias), in a later session: the same, across
  sessions. A change mid-session is reported as the rule above instead, never as both.
- ``alias_loop`` — an alias whose previousId the new userId already leads back to through earlier
  aliases (A→B, then B→A; or A→B, B→C, C→A), or an alias of an id to itself.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from debugger.core.lint.finding import STRICT, Finding, short
from debugger.core.lint.linter import placeholder
from debugger.core.lint.sequence import SESSION_GAP_MS, Seen
from debugger.core.protocol import ANONYMOUS_ID, DUPLICATE, PREVIOUS_ID, REJECTED, TYPE, USER_ID, WARNING

#: The identity rules, for `check --ignore` and the docs.
CODES = ("user_id_changed_mid_session", "anonymous_id_many_users", "alias_loop")
#: Other userIds named in an ``anonymous_id_many_users`` message (the rest are counted).
SHOWN_USERS = 3
#: How far an alias chain is followed looking for a loop (a bound on the work one alias can cost).
MAX_CHAIN = 1000


@dataclass(slots=True)
class _Session:
    last_ms: int
    user: tuple[str, Seen] | None = None  # the newest userId in the session, and where it was seen


@dataclass(slots=True)
class IdentityLint:
    """The identity rules across events, fed rows in id order (see the module docs).

    Args:
        ignore: rule codes or categories to leave out (as ``LintConfig.ignore``).
        session_gap_ms: the quiet time that ends an anonymousId's session.
    """

    ignore: Collection[str] = ()
    session_gap_ms: int = SESSION_GAP_MS
    _users: dict[str, dict[str, Seen]] = field(default_factory=dict)  # anonymousId → userId → first seen
    _sessions: dict[str, _Session] = field(default_factory=dict)  # anonymousId → its current session
    _aliases: dict[str, dict[str, Seen]] = field(default_factory=dict)  # previousId → userId → the alias
    _root: dict[str, str] = field(default_factory=dict)  # union-find: ids an alias made one person

    def __post_init__(self) -> None:
        if self.session_gap_ms <= 0:
            raise ValueError("session_gap_ms must be > 0")
        if STRICT in self.ignore:
            self.ignore = {*self.ignore, *CODES}

    def event(self, row: Mapping[str, Any]) -> list[Finding]:
        """The findings for ``row`` given the rows fed before it; then remember it."""
        stored = row.get("stored")
        if row.get("status") in (REJECTED, DUPLICATE) or not isinstance(stored, dict):
            return []
        seen = Seen.of(row, stored)
        if seen is None:
            return []
        found: list[Finding] = []
        user, anonymous = _id(stored.get(USER_ID)), _id(stored.get(ANONYMOUS_ID))
        if stored.get(TYPE) == "alias" and user is not None:
            previous = _id(stored.get(PREVIOUS_ID))
            if previous is not None:
                self._alias(previous, user, seen, found)
        if anonymous is not None:
            self._anonymous(anonymous, user, seen, found)
        return [f for f in found if f.code not in self.ignore]

    def _alias(self, previous: str, user: str, seen: Seen, found: list[Finding]) -> None:
        chain = [previous] if previous == user else self._path(user, previous)
        self._aliases.setdefault(previous, {}).setdefault(user, seen)
        self._union(previous, user)
        if chain is None:
            return
        if previous == user:
            message = f"An alias of {short(user)} to itself: previousId and userId are the same id."
            expected = "previousId ≠ userId"
        else:
            links = " → ".join(short(i) for i in chain)
            first = self._aliases[chain[0]][chain[1]]
            message = (
                f"Alias {short(previous)} → {short(user)} closes a loop: earlier aliases already lead {links} "
                f"(the first at #{first.id}, {first.timestamp}), so no id is the canonical one; destinations that "
                "merge on alias refuse the call or merge in the wrong direction."
            )
            expected = f"no alias back to {short(user)}"
        found.append(Finding("alias_loop", PREVIOUS_ID, message, WARNING, STRICT, expected, short(previous)))

    def _anonymous(self, anonymous: str, user: str | None, seen: Seen, found: list[Finding]) -> None:
        session = self._sessions.get(anonymous)
        if session is None or abs(seen.at_ms - session.last_ms) > self.session_gap_ms:
            session = self._sessions[anonymous] = _Session(seen.at_ms)
        session.last_ms = max(session.last_ms, seen.at_ms)
        if user is None:
            return
        known = self._users.setdefault(anonymous, {})
        before = session.user
        session.user = (user, seen)
        if before is not None and not self._same(before[0], user):
            old, at = before
            found.append(
                Finding(
                    "user_id_changed_mid_session",
                    USER_ID,
                    f"anonymousId {short(anonymous)} was {short(old)} (#{at.id} at {at.timestamp}) and is now "
                    f"{short(user)} in the same session, with no alias between: two people on one device "
                    "without reset() on sign-out, whose events identity graphs merge.",
                    WARNING,
                    STRICT,
                    short(old),
                    short(user),
                )
            )
        elif known and not any(self._same(u, user) for u in known):
            others = list(known.items())
            if others:
                named = ", ".join(f"{short(u)} (#{s.id})" for u, s in others[:SHOWN_USERS])
                more = f" and {len(others) - SHOWN_USERS} more" if len(others) > SHOWN_USERS else ""
                found.append(
                    Finding(
                        "anonymous_id_many_users",
                        ANONYMOUS_ID,
                        f"anonymousId {short(anonymous)} is now identified as {short(user)}, and was before as "
                        f"{named}{more}: identity graphs merge these people into one profile (reset() the "
                        "anonymous identity on sign-out).",
                        WARNING,
                        STRICT,
                        "one userId",
                        f"{len(others) + 1} userIds",
                    )
                )
        known.setdefault(user, seen)

    def _path(self, start: str, goal: str) -> list[str] | None:
        """The alias chain from ``start`` to ``goal`` (breadth first, bounded), ids in order, or ``None``."""
        parents: dict[str, str | None] = {start: None}
        frontier = [start]
        while frontier and len(parents) <= MAX_CHAIN:
            following: list[str] = []
            for node in frontier:
                for target in self._aliases.get(node, {}):
                    if target in parents:
                        continue
                    parents[target] = node
                    if target == goal:
                        chain = [target]
                        while (back := parents[chain[-1]]) is not None:
                            chain.append(back)
                        return chain[::-1]
                    following.append(target)
            frontier = following
        return None

    def _find(self, node: str) -> str:
        root = node
        while (parent := self._root.get(root, root)) != root:
            root = parent
        while node != root:  # path compression
            parent = self._root.get(node, node)
            self._root[node] = root
            node = parent
        return root

    def _union(self, a: str, b: str) -> None:
        self._root[self._find(a)] = self._find(b)

    def _same(self, a: str, b: str) -> bool:
        """Whether two userIds are one person: equal, or joined by aliases."""
        return a == b or self._find(a) == self._find(b)


def _id(value: object) -> str | None:
    """An id the graph may use: a string that is not a placeholder."""
    return value if isinstance(value, str) and value and not placeholder(value) else None
