"""`segdbg diff A B`: compare two captures (databases, NDJSON/JSON files, folders) or two replay runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.cli.commands.send import collect_files
from debugger.cli.options import db_option, include_problems_option, parse_query, resolve_db
from debugger.core.diff import NOISE, CaptureDiff, RunDiff, Shape, compare_runs, compare_shapes
from debugger.core.exitcode import ExitCode
from debugger.core.pretty.render import inert
from debugger.core.query.plan import view_statuses
from debugger.core.schemadiff import SAMPLE_PER_EVENT, SchemaDiff, SchemaProfile, compare_profiles, mix_text

SQLITE_HEADER = b"SQLite format 3\x00"
SHOWN = 50


def is_run(spec: str) -> bool:
    """``run:3``, ``run:last`` or ``run:prev`` name a replay run in --db."""
    return spec.startswith("run:")


def messages_in(path: Path, *, all_statuses: bool, problems: list[str]) -> Iterator[dict[str, Any]]:
    """The messages of a capture: a segdbg database, a JSON/NDJSON file, or a folder of them.

    NDJSON lines may be `segdbg events --format jsonl` records (their ``stored`` form is used,
    and only ``ok`` events unless ``all_statuses``), batch envelopes, or plain messages.
    """
    if path.is_dir():
        for file in collect_files((path,)):
            yield from messages_in(file, all_statuses=all_statuses, problems=problems)
        return
    with path.open("rb") as handle:
        is_sqlite = handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    if is_sqlite:
        # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
        from debugger.store.capture import reader
        from debugger.store.reads import iter_events

        with reader(path) as conn:
            for event in iter_events(conn, statuses=None if all_statuses else ("ok",)):
                if isinstance(event["stored"], dict) and event["stored"]:
                    yield event["stored"]
        return
    data = path.read_bytes()
    if path.suffix.lower() == ".json":
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            problems.append(f"{path}: not JSON ({exc})")
            return
        for record in document if isinstance(document, list) else [document]:
            yield from _record(record, f"{path}", all_statuses, problems)
        return
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            problems.append(f"{path}:{number}: not JSON; skipped")
            continue
        yield from _record(record, f"{path}:{number}", all_statuses, problems)


def _record(record: object, origin: str, all_statuses: bool, problems: list[str]) -> Iterator[dict[str, Any]]:
    if isinstance(record, dict) and "status" in record and ("stored" in record or "raw" in record):
        if not all_statuses and record["status"] != "ok":
            return
        message = record.get("stored") if isinstance(record.get("stored"), dict) else record.get("raw")
        if isinstance(message, dict):
            yield message
        return
    if isinstance(record, dict) and isinstance(record.get("batch"), list):
        yield from (item for item in record["batch"] if isinstance(item, dict))
        return
    if isinstance(record, dict):
        yield record
        return
    problems.append(f"{origin}: not a JSON object; skipped")


@click.command("diff")
@click.argument("a")
@click.argument("b")
@db_option
@click.option(
    "--ignore", multiple=True, metavar="PATH", help="Another field to ignore, e.g. context.userAgent (repeatable)."
)
@include_problems_option("Compare")
@click.option(
    "--schema",
    is_flag=True,
    help="Compare schemas in numbers (release gate): A and B are captures or slices of one "
    "(FILE, FILE#QUERY, or a QUERY over --db). See below.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PP",
    help="With --schema: presence or type-share moves up to this many percentage points pass. [default: 5]",
)
@click.option(
    "--volume-tolerance",
    type=click.FloatRange(0),
    default=None,
    metavar="PCT",
    help="With --schema: events per identity may move this many percent. [default: 50]",
)
@click.option(
    "--sample",
    type=click.IntRange(0),
    default=None,
    metavar="N",
    help="With --schema: walk at most N events per kind of event of a database, evenly spread; 0: every "
    "event (slower). [default: 2000]",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(
    a: str,
    b: str,
    db: Path | None,
    ignore: tuple[str, ...],
    show_all: bool,
    schema: bool,
    tolerance: float | None,
    volume_tolerance: float | None,
    sample: int | None,
    fmt: str,
) -> None:
    """Compare two captures, or two replay runs; exit 3 when they differ.

    A capture is a segdbg database, a JSON or NDJSON file (`segdbg events --format jsonl`
    output, batches or plain messages) or a folder of them. For each kind of event it
    reports events only on one side, count changes, and properties (any JSON path) added,
    removed or changing type. Ids, times and IP (messageId, timestamp, originalTimestamp,
    sentAt, receivedAt, context.ip) are ignored. Two runs (run:ID, run:last, run:prev of
    --db) are compared delivery by delivery: which outcomes changed.

    \b
    Examples:
      segdbg diff before.db after.db
      segdbg diff yesterday.jsonl segdbg.db --ignore context.userAgent
      segdbg replay --to http://127.0.0.1:9000 && segdbg diff segdbg.db target.db
      segdbg diff run:prev run:last

    With --schema, each side is a capture (FILE), a slice of one (FILE#QUERY) or, with
    --db, a QUERY over it. Per kind of event it reports events new and gone, every JSON
    path whose presence % or type mix % (string/number/boolean/object/array/null) moved,
    and the events per identity (userId, else anonymousId). Exit 3 when an event is new
    or gone, a share moved more than --tolerance points (and more than chance: three
    standard errors), or the volume per identity more than --volume-tolerance percent;
    smaller moves are listed, not failed. In a database, shares are measured on an
    even sample of 2,000 events per kind (--sample; about ±2 points); counts and
    identities are exact.

    \b
      segdbg diff --schema v1.2.db v1.3.db
      segdbg diff --schema --db c.db context.app.version:1.2 context.app.version:1.3
      segdbg diff --schema --db c.db lib:analytics.js lib:analytics-ios --tolerance 10
      segdbg diff --schema 'c.db#lib:analytics-ios' 'new.db#lib:analytics-ios'
    """
    if schema:
        _schema(a, b, db, ignore, show_all, tolerance, volume_tolerance, sample, fmt)
        return
    if tolerance is not None or volume_tolerance is not None or sample is not None:
        raise click.UsageError("--tolerance, --volume-tolerance and --sample apply to --schema only.")
    if is_run(a) != is_run(b):
        raise click.UsageError("compare two captures, or two runs (run:ID, run:last, run:prev) — not one of each.")
    if is_run(a):
        result: CaptureDiff | RunDiff = _runs(resolve_db(db), a, b)
    else:
        problems: list[str] = []
        shapes = []
        for spec in (a, b):
            path = Path(spec)
            if not path.exists():
                raise click.BadParameter(f"{spec}: no such file or folder")
            shape = Shape(ignore=NOISE | frozenset(ignore))
            try:
                for message in messages_in(path, all_statuses=show_all, problems=problems):
                    shape.add(message)
            except OSError as exc:
                raise click.ClickException(f"cannot read {spec}: {exc}") from exc
            shapes.append(shape)
        for problem in problems[:SHOWN]:
            click.echo(f"warning: {inert(problem)}", err=True)
        result = compare_shapes(shapes[0], shapes[1])
    if fmt == "json":
        click.echo(
            orjson.dumps({"differences": result.differences, **dataclasses.asdict(result)}, option=orjson.OPT_INDENT_2)
        )
    elif isinstance(result, RunDiff):
        _print_runs(result, a, b)
    else:
        _print_captures(result, a, b, sorted(NOISE | frozenset(ignore)))
    if result.differences:
        raise SystemExit(ExitCode.FAILED)


def _runs(db: Path, a: str, b: str) -> RunDiff:
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.runs import has_runs_table, iter_deliveries, resolve_run

    try:
        with reader(db) as conn:
            if not has_runs_table(conn):
                raise click.ClickException(f"{db} has no replay runs yet.")
            ids = []
            for spec in (a, b):
                run_id = resolve_run(conn, spec[len("run:") :])
                if run_id is None:
                    raise click.BadParameter(f"{spec}: no such run in {db} (see the runs with `segdbg replay`).")
                ids.append(run_id)
            return compare_runs(iter_deliveries(conn, ids[0]), iter_deliveries(conn, ids[1]))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


def _print_captures(result: CaptureDiff, a: str, b: str, ignored: list[str]) -> None:
    click.echo(f"A: {inert(a)} ({result.total_a:,} events)   B: {inert(b)} ({result.total_b:,} events)")
    click.echo(f"ignoring {', '.join(ignored)}")
    if result.only_a:
        click.echo("\nEvents only in A:")
        for key, count in result.only_a:
            click.echo(f"  - {inert(key)}  ({count:,})")
    if result.only_b:
        click.echo("\nEvents only in B:")
        for key, count in result.only_b:
            click.echo(f"  + {inert(key)}  ({count:,})")
    for change in result.changed:
        counts = (
            f"{change.count_a:,} → {change.count_b:,}" if change.count_a != change.count_b else f"{change.count_a:,}"
        )
        click.echo(f"\n{inert(change.key)}  ({counts})")
        for path, kinds in change.added[:SHOWN]:
            click.echo(f"  + {inert(path):<40} {kinds}")
        for path, kinds in change.removed[:SHOWN]:
            click.echo(f"  - {inert(path):<40} {kinds}")
        for path, before, after in change.retyped[:SHOWN]:
            click.echo(f"  ~ {inert(path):<40} {before} → {after}")
    click.echo("\n" + (f"{result.differences:,} differences." if result.differences else "No differences."))


def _print_runs(result: RunDiff, a: str, b: str) -> None:
    click.echo(f"A: {a}   B: {b}   ({result.matched:,} deliveries in both)")
    for change in result.changed[:SHOWN]:
        reason = f"  ({inert(change.reason, 80)})" if change.reason else ""
        click.echo(
            f"  ~ {inert(change.label, 60):<50} {change.before or 'not in A'} → {change.after or 'not in B'}{reason}"
        )
    if len(result.changed) > SHOWN:
        click.echo(f"  … and {len(result.changed) - SHOWN:,} more (use --format json for all)")
    click.echo(
        f"{len(result.changed):,} deliveries changed outcome." if result.changed else "No delivery changed outcome."
    )


def _schema(
    a: str,
    b: str,
    db: Path | None,
    ignore: tuple[str, ...],
    show_all: bool,
    tolerance: float | None,
    volume_tolerance: float | None,
    sample: int | None,
    fmt: str,
) -> None:
    """`diff --schema`: two captures or slices compared in numbers (docs/replay.md, "Schema diff")."""
    problems: list[str] = []
    walked = SAMPLE_PER_EVENT if sample is None else sample
    sides = _schema_sides((a, b), db, frozenset(ignore), show_all, walked, problems)
    for problem in problems[:SHOWN]:
        click.echo(f"warning: {inert(problem)}", err=True)
    result = compare_profiles(
        sides[0][0],
        sides[1][0],
        tolerance=5.0 if tolerance is None else tolerance,
        volume_tolerance=50.0 if volume_tolerance is None else volume_tolerance,
    )
    if fmt == "json":
        document = {"a": sides[0][1], "b": sides[1][1], "beyond": result.beyond, "within": result.within}
        click.echo(orjson.dumps({**document, **dataclasses.asdict(result)}, option=orjson.OPT_INDENT_2))
    else:
        _print_schema(result, sides[0][1], sides[1][1], sorted(NOISE | frozenset(ignore)))
    if result.beyond:
        raise SystemExit(ExitCode.FAILED)


def _schema_sides(
    specs: tuple[str, str], db: Path | None, ignore: frozenset[str], show_all: bool, sample: int, problems: list[str]
) -> list[tuple[SchemaProfile, str]]:
    """Both sides of a schema diff: each one's profile and how it is named (``c.db#lib:analytics-ios``).
    Slices of one capture are read together, in one scan of it."""
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.schemadiff import Side, schema_profiles

    where = [_schema_source(spec, db) for spec in specs]
    ignored = NOISE | ignore
    out: dict[int, tuple[SchemaProfile, str]] = {}
    for n, (path, _, label, is_db) in enumerate(where):
        if is_db:
            continue
        profile = SchemaProfile(ignore=ignored)
        try:
            for message in messages_in(path, all_statuses=show_all, problems=problems):
                profile.add(message)
        except OSError as exc:
            raise click.ClickException(f"cannot read {inert(str(path))}: {exc}") from exc
        out[n] = (profile, label)
    captures: dict[Path, list[int]] = {}
    for n, (path, _, _, is_db) in enumerate(where):
        if is_db:
            captures.setdefault(path.resolve(), []).append(n)
    for path, members in captures.items():
        sides = []
        for n in members:
            query_text = where[n][1]
            query = parse_query(query_text) if query_text else None
            statuses = view_statuses(query, show_all)
            sides.append(Side(query, tuple(statuses) if statuses is not None else None))
        try:
            with reader(path) as conn:
                profiles = schema_profiles(conn, sides, ignore=ignored, sample=sample)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
        for n, profile in zip(members, profiles, strict=True):
            out[n] = (profile, where[n][2])
    return [out[n] for n in range(len(specs))]


def _schema_source(spec: str, db: Path | None) -> tuple[Path, str, str, bool]:
    """Where one side of a schema diff is read: path, query, label, and whether it is a segdbg database."""
    if is_run(spec):
        raise click.UsageError(f"{spec}: --schema compares captures or slices of them, not replay runs.")
    path_text, sep, query_text = spec.partition("#")
    if Path(spec).exists():
        path, query_text = Path(spec), ""
    elif sep:
        path = Path(path_text) if path_text else resolve_db(db)
    elif db is not None:
        path, query_text = resolve_db(db), spec
    else:
        raise click.BadParameter(
            f"{inert(spec)}: no such file or folder (to slice a capture, write FILE#QUERY or give --db and a QUERY)."
        )
    if not path.exists():
        raise click.BadParameter(f"{inert(str(path))}: no such file or folder")
    label = f"{path}#{query_text}" if query_text else str(path)
    is_db = False
    if path.is_file():
        with path.open("rb") as handle:
            is_db = handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    if not is_db and query_text:
        raise click.UsageError(
            f"{inert(label)}: a QUERY slices a segdbg database; {inert(str(path))} is not one "
            "(send it into one with `segdbg send`, or compare the whole file)."
        )
    return path, query_text, label, is_db


def _percent(value: float) -> str:
    return f"{value:g}%"


def _print_schema(result: SchemaDiff, a: str, b: str, ignored: list[str]) -> None:
    click.echo(f"A: {inert(a)} ({result.total_a:,} events)   B: {inert(b)} ({result.total_b:,} events)")
    click.echo(
        f"tolerance: {result.tolerance:g} points (presence, type mix), {result.volume_tolerance:g}% (events per "
        f"identity); ignoring {', '.join(ignored)}"
    )
    if result.sampled:
        click.echo("sampled: shares of the bigger kinds are measured on an even sample (--sample; about ±2 points)")
    if result.new:
        click.echo("\nNew in B:")
        for key, count in result.new:
            click.echo(f"  + {inert(key)}  ({count:,})")
    if result.gone:
        click.echo("\nGone from B:")
        for key, count in result.gone:
            click.echo(f"  - {inert(key)}  ({count:,})")
    for change in result.events:
        if not change.paths and not change.volume_change:
            continue
        per = (
            f"per identity {change.per_identity_a:g} → {change.per_identity_b:g} ({change.volume_change:+g}%)"
            + (" !" if change.volume_beyond else "")
            if change.volume_change is not None
            else "per identity n/a"
        )
        click.echo(f"\n{inert(change.key)}  events {change.events_a:,} → {change.events_b:,}  {per}")
        for path in change.paths[:SHOWN]:
            mark = "!" if path.beyond else "~"
            presence = f"{_percent(path.presence_a)} → {_percent(path.presence_b)}"
            click.echo(
                f"  {mark} {inert(path.path, 60):<40} presence {presence:<16} "
                f"{mix_text(path.types_a)} → {mix_text(path.types_b)}"
            )
        if len(change.paths) > SHOWN:
            click.echo(f"  … and {len(change.paths) - SHOWN:,} more (use --format json for all)")
    click.echo(
        "\n"
        + (
            f"{result.beyond:,} changes beyond tolerance (! above); {result.within:,} within (~)."
            if result.beyond
            else f"No change beyond tolerance; {result.within:,} within (~)."
        )
    )
