"""`segdbg preview`: run Protocols-style Transformations over the capture before you ship them (docs/preview.md)."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.cli.options import (
    QueryCommand,
    db_option,
    include_problems_option,
    parse_id_map,
    parse_query,
    query_argument,
    resolve_db,
)
from debugger.core.pretty.export import safe_json
from debugger.core.pretty.render import inert
from debugger.core.query.plan import view_statuses


@click.command("preview", cls=QueryCommand)
@query_argument()
@click.option(
    "--transform",
    "-t",
    "transform_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A transformations file (YAML or JSON): rules with an FQL `if` and rename_event, rename, set, remove.",
)
@click.option(
    "--routing",
    "routing_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="With --destination: what that destination of the routing file would receive (docs/routing.md).",
)
@click.option("--destination", default=None, metavar="NAME", help="The destination of --routing to preview.")
@click.option("--map-id", "map_ids", multiple=True, metavar="OLD=NEW", help="A replay rewrite: replace an id.")
@click.option(
    "--map-ids",
    "map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A replay rewrite: a JSON object of old id → new id.",
)
@click.option("--id-prefix", default=None, help="A replay rewrite: prefix every id not mapped.")
@click.option("--new-message-ids", is_flag=True, help="A replay rewrite: a new messageId for every event.")
@db_option
@include_problems_option("Preview")
@click.option("--samples", type=click.IntRange(0, 100), default=3, show_default=True, help="Changed events shown.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    default=None,
    help="Write every selected event as the change leaves it (events it stops are left out), as JSON lines: a test "
    "fixture, or a new capture (`segdbg send FILE` to a `segdbg serve --db NEW.db`).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)
def command(
    query: str,
    transform_file: Path | None,
    routing_file: Path | None,
    destination: str | None,
    map_ids: tuple[str, ...],
    map_file: Path | None,
    id_prefix: str | None,
    new_message_ids: bool,
    db: Path | None,
    show_all: bool,
    samples: int,
    output: Path | None,
    fmt: str,
) -> None:
    """Preview a change on the real events of the capture before you ship it: Transformations, a
    destination's filters, or a replay's rewrites.

    Runs the change over the events QUERY selects (all accepted events by default) and says how
    many events it changes and why, how many change shape (fields added, removed or of another
    type, not only values), and shows the first changes field by field. Nothing stored is
    modified; -o writes the events as the change leaves them, as JSON lines.

    \b
    One change at a time:
      --transform FILE          Protocols-style Transformations: rules with an optional FQL
                                `if` and rename_event, rename (path: new path), set (path:
                                value), remove (paths), applied in order (docs/preview.md)
      --routing FILE --destination NAME
                                what NAME would receive: not at all (integrations, consent,
                                a drop or sample filter) or with fields removed
      --map-id/--map-ids/--id-prefix/--new-message-ids
                                what `segdbg replay` would send with these rewrites

    \b
    Examples:
      segdbg preview --transform transformations.yaml
      segdbg preview 'lib:analytics-ios' -t transformations.yaml --samples 10
      segdbg preview --routing routing.yaml --destination Amplitude
      segdbg preview --id-prefix staging- --new-message-ids
      segdbg preview -t transformations.yaml -o transformed.jsonl
      segdbg send transformed.jsonl --to http://127.0.0.1:9000   # a segdbg serve --db new.db --port 9000
    """
    change, source = _change(transform_file, routing_file, destination, map_ids, map_file, id_prefix, new_message_ids)
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.preview import preview

    parsed = parse_query(query)
    statuses = view_statuses(parsed, show_all)
    sink = output.open("wb") if output is not None else None
    try:
        with reader(resolve_db(db)) as conn:
            result = preview(
                conn,
                change,
                query=parsed if parsed.terms else None,
                statuses=statuses,
                now=datetime.now(UTC),
                samples=samples,
                write=(lambda record: sink.write(safe_json(record) + b"\n")) if sink is not None else None,
            )
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write {inert(str(output))}: {exc.strerror or exc}") from exc
    finally:
        if sink is not None:
            sink.close()
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        _print(result.to_json(), source, output)


def _change(
    transform_file: Path | None,
    routing_file: Path | None,
    destination: str | None,
    map_ids: tuple[str, ...],
    map_file: Path | None,
    id_prefix: str | None,
    new_message_ids: bool,
) -> tuple[Any, str]:
    """The one change the options ask for, and how to name it."""
    # Lazily: the change's modules load PyYAML (kept off `segdbg --help`, which imports every command).
    from debugger.core.preview import DestinationFilters, ReplayRewrite, Rules
    from debugger.core.replay.planning import ReplayOptions
    from debugger.core.routing import RoutingError
    from debugger.core.transform import TransformError, parse_text
    from debugger.store.routingfile import read_routing

    rewrite = bool(map_ids or map_file or id_prefix or new_message_ids)
    kinds = [transform_file is not None, routing_file is not None or destination is not None, rewrite]
    if sum(kinds) != 1:
        raise click.UsageError(
            "give one change: --transform FILE, --routing FILE --destination NAME, or replay rewrites "
            "(--map-id, --map-ids, --id-prefix, --new-message-ids)."
        )
    if transform_file is not None:
        try:
            rules = parse_text(transform_file.read_text(encoding="utf-8"), str(transform_file))
        except OSError as exc:
            raise click.BadParameter(f"cannot read {inert(str(transform_file))}: {exc.strerror or exc}") from exc
        except (TransformError, UnicodeDecodeError) as exc:
            raise click.ClickException(inert(str(exc), 500)) from exc
        return Rules(rules), f"{len(rules)} rule(s) from {inert(str(transform_file))}"
    if routing_file is not None or destination is not None:
        if routing_file is None or destination is None:
            raise click.UsageError("--routing FILE and --destination NAME go together.")
        try:
            routing = read_routing(routing_file)
        except RoutingError as exc:
            raise click.ClickException(inert(str(exc), 500)) from exc
        found = next((d for d in routing.destinations if d.name == destination), None)
        if found is None:
            names = ", ".join(d.name for d in routing.destinations)
            raise click.BadParameter(
                f"{inert(str(routing_file))} has no destination {destination!r}; it names {names}."
            )
        return DestinationFilters(found), f"what {inert(destination)} would receive ({inert(str(routing_file))})"
    options = ReplayOptions(
        new_message_ids=new_message_ids, id_map=parse_id_map(map_ids, map_file), id_prefix=id_prefix
    )
    return ReplayRewrite(options, lambda: str(uuid.uuid4())), "replay rewrites"


def _print(data: dict[str, Any], source: str, output: Path | None) -> None:
    selected = data["selected"]
    share = f" ({100 * data['changed'] / selected:.1f}%)" if selected else ""
    click.echo(f"{source}, over {selected:,} selected events:")
    matched = f"matched {data['matched']:,} · " if data["matched"] != data["changed"] else ""
    click.echo(f"  {matched}changed {data['changed']:,}{share}; of those {data['reshaped']:,} change shape")
    names = list(dict.fromkeys([*data["matched_by_rule"], *data["by_rule"]]))
    for name in names:
        found, changed = data["matched_by_rule"].get(name, 0), data["by_rule"].get(name, 0)
        counts = f"{changed:>9,}" if found in (0, changed) else f"{changed:>9,} of {found:,} matched"
        click.echo(f"    {counts}  {inert(name, 100)}")
    for sample in data["samples"]:
        label = f"{sample['type']} {inert(str(sample['name']), 60)}" if sample["name"] else sample["type"]
        click.echo(f"\n  #{sample['id']} {label}  ({', '.join(inert(r, 60) for r in sample['rules'])})")
        for sign, path, value in sample["changes"] or [("-", "(the whole event)", sample["type"])]:
            click.echo(f"    {sign} {inert(path, 80)}: {inert(orjson.dumps(value).decode(), 120)}")
    click.echo(
        "\nNothing stored was modified."
        + (f" Wrote every selected event, transformed, to {inert(str(output))}." if output is not None else "")
    )
