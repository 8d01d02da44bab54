"""Pure accounting and reporting of a replay: counts, percentiles, the summary, JUnit XML.

Counts are per event (a batch of 100 that failed is 100 events not delivered); latencies are
per HTTP request (the time of the attempt that decided it), because that is what the
target's speed means for a batch.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from debugger.core.pretty.render import inert

DELIVERED = "delivered"


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile with linear interpolation (numpy's default); ``None`` if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(slots=True)
class Tally:
    """Running totals of a replay, fed as requests finish and events are skipped."""

    planned: int | None = None
    delivered: int = 0
    already: int = 0  # delivered by an earlier part of a resumed run (counted in, not in the rate)
    failed: int = 0
    not_sent: int = 0
    retried: int = 0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    drifts: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> int:
        """Events with a final outcome so far."""
        return self.delivered + self.failed + self.not_sent

    @property
    def not_delivered(self) -> int:
        """Events that did not reach the target: failed or never sent."""
        return self.failed + self.not_sent

    @property
    def attempted(self) -> int:
        """Events this invocation sent in a request, whatever the answer (delivered or failed)."""
        return self.delivered - self.already + self.failed

    @property
    def left(self) -> int:
        """Planned events with no outcome yet: an interrupted run did not get to them (``--resume`` sends them)."""
        return max(0, self.planned - self.done) if self.planned is not None else 0

    def add_request(
        self,
        outcome: str,
        events: int,
        attempts: int,
        latency_ms: float | None,
        drift_ms: float | None,
        reason: str | None,
    ) -> None:
        """Count one finished request carrying ``events`` events."""
        if attempts:
            self.requests += 1
        if latency_ms is not None:
            self.latencies.append(latency_ms)
        if drift_ms is not None:
            self.drifts.append(drift_ms)
        if attempts > 1:
            self.retried += events
        if outcome == DELIVERED:
            self.delivered += events
        elif attempts:
            self.failed += events
            self.errors[reason or "unknown"] += events
        else:
            self.not_sent += events
            self.errors[reason or "not sent"] += events

    def add_skipped(self, reason: str) -> None:
        """Count one event the plan left out."""
        self.not_sent += 1
        self.errors[reason] += 1

    def summary(self, seconds: float) -> dict[str, Any]:
        """The numbers a run is judged by (stored in ``runs`` and printed)."""
        return {
            "total": self.done,
            "planned": self.planned if self.planned is not None else self.done,
            "already": self.already,
            "attempted": self.attempted,
            "left": self.left,
            "delivered": self.delivered,
            "not_delivered": self.not_delivered,
            "failed": self.failed,
            "not_sent": self.not_sent,
            "retried": self.retried,
            "requests": self.requests,
            "duration_s": round(seconds, 3),
            # Over every event sent, not only those delivered: a failing target answers fast too.
            "events_per_s": round(self.attempted / seconds, 1) if seconds > 0 else None,
            "p50_ms": _round(percentile(self.latencies, 0.50)),
            "p95_ms": _round(percentile(self.latencies, 0.95)),
            "p99_ms": _round(percentile(self.latencies, 0.99)),
            "drift_p50_ms": _round(percentile([abs(d) for d in self.drifts], 0.50)),
            "drift_p99_ms": _round(percentile([abs(d) for d in self.drifts], 0.99)),
            "errors": dict(self.errors.most_common()),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def summary_lines(summary: Mapping[str, Any], target: str) -> list[str]:
    """The summary printed after a run, one fact per line.

    The rate is over the events sent (delivered or failed) in the time taken. A run that did not
    deliver everything says how many of the planned events it sent, and how many are left.
    """
    planned = summary.get("planned", summary["total"]) - summary.get("already", 0)
    attempted = summary.get("attempted", summary["delivered"])
    left = summary.get("left", 0)
    rate = summary.get("events_per_s")
    complete = not summary["not_delivered"] and not left
    head = (
        f"Replayed {attempted:,} events to {target} in"
        if complete
        else f"Replay to {target}: {attempted:,} of {planned:,} events attempted in"
    )
    lines = [
        f"{head} {summary['duration_s']:.2f} s"
        + (f" ({rate:,.0f} events/s)" if rate else "")
        + (f"; {summary['already']:,} delivered before it was resumed" if summary.get("already") else ""),
        f"  delivered      {summary['delivered']:,}",
        f"  not delivered  {summary['not_delivered']:,}"
        + (f"  ({summary['failed']:,} failed, {summary['not_sent']:,} not sent)" if summary["not_delivered"] else ""),
    ]
    if left:
        lines.append(f"  left           {left:,}  (not sent yet: --resume sends them)")
    lines.append(f"  retried        {summary['retried']:,}")
    if summary.get("p50_ms") is not None:
        lines.append(
            f"  latency        p50 {summary['p50_ms']:.1f} ms · p95 {summary['p95_ms']:.1f} ms · "
            f"p99 {summary['p99_ms']:.1f} ms  (per request, {summary['requests']:,} sent)"
        )
    if summary.get("drift_p99_ms") is not None:
        lines.append(f"  pacing drift   p50 {summary['drift_p50_ms']:.1f} ms · p99 {summary['drift_p99_ms']:.1f} ms")
    errors = summary.get("errors") or {}
    if errors:
        lines.append("  errors:")
        lines += [f"    {count:>7,}  {inert(reason, 100)}" for reason, count in errors.items()]
    return lines


def junit_xml(run: Mapping[str, Any], deliveries: Iterable[Mapping[str, Any]]) -> bytes:
    """JUnit XML with one test case per event: passed when delivered, else failure or skipped.

    Args:
        run: the ``runs`` row (target, id, duration).
        deliveries: ``deliveries`` rows in order.
    """
    suite = ET.Element("testsuite", name=f"segdbg replay #{run['id']} → {_xml_text(run['target'])}")
    tests = failures = skipped = 0
    for delivery in deliveries:
        tests += 1
        label = " ".join(str(x) for x in (delivery.get("type") or "event", delivery.get("name")) if x)
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"replay.{_xml_text(delivery.get('type') or 'event')}",
            name=_xml_text(f"{label} #{delivery.get('event_id')} {delivery.get('message_id') or ''}".strip()),
            time=f"{(delivery.get('latency_ms') or 0) / 1000:.3f}",
        )
        status = delivery.get("status")
        if status == DELIVERED:
            continue
        text = _xml_text(delivery.get("error") or delivery.get("reason") or status or "", 2000)
        if delivery.get("attempts"):
            failures += 1
            failure = ET.SubElement(
                case, "failure", message=_xml_text(delivery.get("reason") or str(status)), type=str(status)
            )
            failure.text = text
        else:
            skipped += 1
            ET.SubElement(case, "skipped", message=text)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    suite.set("time", f"{run.get('duration_s') or 0:.3f}")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def _xml_text(value: object, limit: int = 300) -> str:
    """Text safe in XML 1.0: controls made visible (they are not allowed in XML at all)."""
    return inert(value, limit)
