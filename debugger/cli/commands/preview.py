"""`segdbg preview`: run Protocols-style Transformations over the capture before you ship them (docs/preview.md)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.cli.options import (
    QueryCommand,
    db_option,
    include_problems_option,
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
    required=True,
    help="A transformations file (YAML or JSON): rules with an FQL `if` and rename_event, rename, set, remove.",
)
@db_option
@include_problems_option("Preview")
@click.option("--samples", type=click.IntRange(0, 100), default=3, show_default=True, help="Changed events shown.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    default=None,
    help="Write every selected event as the rules leave it, as JSON lines: a test fixture, or a new capture "
    "(`segdbg send FILE` to a `segdbg serve --db NEW.db`).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)
def command(
    query: str, transform_file: Path, db: Path | None, show_all: bool, samples: int, output: Path | None, fmt: str
) -> None:
    """Preview Transformations on the real events of the capture: what would change, before you ship.

    Runs each rule of the transformations file over the events QUERY selects (all accepted
    events by default) and says how many events it changes, how many change shape (fields
    added, removed or of another type, not only values), and shows the first changes field
    by field. Nothing stored is modified; -o writes the transformed events as JSON lines.

    A rule: `name`, an optional `if` (Segment's FQL), and one or more of `rename_event`
    (a track's name), `rename` (path: new path; renames or moves), `set` (path: value) and
    `remove` (paths). Rules apply in order, each on what the rules before it left.

    \b
    Examples:
      segdbg preview --transform transformations.yaml
      segdbg preview 'lib:analytics-ios' -t transformations.yaml --samples 10
      segdbg preview -t transformations.yaml -o transformed.jsonl
      segdbg send transformed.jsonl --to http://127.0.0.1:9000   # a segdbg serve --db new.db --port 9000
      segdbg preview -t transformations.yaml --format json | jq .by_rule
    """
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.core.transform import TransformError, parse_text
    from debugger.store.capture import StoreError, reader
    from debugger.store.preview import preview

    try:
        rules = parse_text(transform_file.read_text(encoding="utf-8"), str(transform_file))
    except OSError as exc:
        raise click.BadParameter(f"cannot read {inert(str(transform_file))}: {exc.strerror or exc}") from exc
    except (TransformError, UnicodeDecodeError) as exc:
        raise click.ClickException(inert(str(exc), 500)) from exc
    parsed = parse_query(query)
    statuses = view_statuses(parsed, show_all)
    sink = output.open("wb") if output is not None else None
    try:
        with reader(resolve_db(db)) as conn:
            result = preview(
                conn,
                rules,
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
        _print(result.to_json(), len(rules), transform_file, output)


def _print(data: dict[str, Any], rules: int, source: Path, output: Path | None) -> None:
    selected = data["selected"]
    share = f" ({100 * data['changed'] / selected:.1f}%)" if selected else ""
    click.echo(f"{rules} rule(s) from {inert(str(source))} over {selected:,} selected events:")
    click.echo(f"  changed {data['changed']:,}{share}; of those {data['reshaped']:,} change shape")
    for name, count in data["by_rule"].items():
        click.echo(f"    {count:>9,}  {inert(name, 80)}")
    for sample in data["samples"]:
        label = f"{sample['type']} {inert(str(sample['name']), 60)}" if sample["name"] else sample["type"]
        click.echo(f"\n  #{sample['id']} {label}  ({', '.join(inert(r, 60) for r in sample['rules'])})")
        for sign, path, value in sample["changes"]:
            click.echo(f"    {sign} {inert(path, 80)}: {inert(orjson.dumps(value).decode(), 120)}")
    click.echo(
        "\nNothing stored was modified."
        + (f" Wrote every selected event, transformed, to {inert(str(output))}." if output is not None else "")
    )
