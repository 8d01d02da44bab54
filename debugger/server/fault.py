"""The server's side of ``--fault`` (docs/faults.md): the rules' counters and seeded draws, and which requests are candidates.

The rules and the choice are pure (:mod:`debugger.core.fault`); this object only holds the state the
choice needs across requests, one per application, touched only on the server's loop.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from debugger.core.fault import Rule, Target, pick
from debugger.core.http.model import Outcome
from debugger.store.matcher import EventMatcher


class Injector:
    """Picks the rule (if any) that faults each request; ``seed`` makes the percentages repeatable."""

    def __init__(self, rules: Sequence[Rule], seed: int | None) -> None:
        self.rules = tuple(rules)
        self.seed = seed if seed is not None else random.SystemRandom().randrange(1, 1_000_000)
        self._random = random.Random(self.seed)
        self._seen = [0] * len(self.rules)
        #: Set at shutdown: connections a ``timeout`` rule holds are let go at once.
        self.released = asyncio.Event()
        #: Judges ``where`` queries (made only when a rule has one).
        self._matcher = EventMatcher() if any(rule.where for rule in self.rules) else None

    def choose(self, path: str, outcome: Outcome) -> Rule | None:
        """The rule that faults this request; only a request that would be accepted with events is a candidate."""
        record = outcome.record
        if not self.rules or record is None or record.code is not None or outcome.reply.status != 200:
            return None
        if not outcome.events:
            return None
        libraries = tuple(sorted({e.library_name for e in outcome.events if e.library_name}))
        matcher = self._matcher
        holds = (lambda query: matcher.any_matches(query, record, outcome.events)) if matcher is not None else None
        return pick(self.rules, Target(path, record.write_key, libraries, holds), self._seen, self._random.random)
