"""`segdbg replay`: resend stored events to any Segment-compatible endpoint and report what happened."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from debugger.cli import replay_console
from debugger.cli.options import QueryCommand, db_option, parse_id_map, parse_query, query_argument, resolve_db
from debugger.core.replay.planning import DEFAULT_BATCH_SIZE, KEEP, SHIFT, ReplayOptions
from debugger.core.replay.retry import RetryPolicy
from debugger.core.replay.selection import Selection, for_query, replay_target
from debugger.replay.config import RunConfig

PACED_CONCURRENCY = 8


def target_root(url: str) -> str:
    """The target's root URL (a trailing ``/v1`` removed), or a usage error."""
    try:
        return replay_target(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None


@click.command("replay", cls=QueryCommand)
@query_argument()
@click.option(
    "--to",
    "url",
    default=None,
    metavar="URL",
    help="The target's root URL (a segdbg, staging, Segment, RudderStack, ...).",
)
@click.option(
    "--resume",
    "resume",
    is_flag=False,
    flag_value="last",
    default=None,
    metavar="[RUN|last]",
    help="Continue an interrupted or killed run (default: the last one): what it recorded as delivered is not sent again.",
)
@db_option
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), default=None, metavar="N", help="Send N events per second."
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="X",
    help="Keep the original gaps between events, divided by X (1 = real time).",
)
@click.option(
    "--max-gap",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="With --speed: never wait more than S seconds between two events.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    metavar="N",
    help=f"Requests in flight at once. Default 1 (keeps capture order), {PACED_CONCURRENCY} when paced.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 2500),
    default=DEFAULT_BATCH_SIZE,
    metavar="N",
    show_default=True,
    help="Events per /v1/batch request (also capped at 500 KB).",
)
@click.option("--no-batch", is_flag=True, help="One request per event to /v1/<type>, as analytics.js does.")
@click.option("--write-key", default=None, help="Send every event with this key (default: each event's own).")
@click.option(
    "--new-message-ids",
    is_flag=True,
    help="Give every event a new messageId (Segment drops a repeated one within 24 h).",
)
@click.option(
    "--timestamps",
    type=click.Choice([KEEP, SHIFT]),
    default=KEEP,
    show_default=True,
    help="keep the original times, or shift the whole session to now (gaps kept).",
)
@click.option(
    "--map-id",
    "map_ids",
    multiple=True,
    metavar="OLD=NEW",
    help="Replace a userId/anonymousId/previousId (repeatable).",
)
@click.option(
    "--map-ids",
    "map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A JSON object of old id → new id.",
)
@click.option(
    "--id-prefix",
    default=None,
    help="Prefix every user and anonymous id not mapped (keeps a replay apart from real users).",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the requests (JSON lines) instead of sending; nothing is recorded."
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the run and every delivery as JSON.",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write JUnit XML, one test case per event.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 100),
    default=5,
    metavar="N",
    show_default=True,
    help="Retries per request for 5xx, 429 and network errors.",
)
@click.option(
    "--backoff",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    metavar="S",
    help="First retry wait; doubles each time (with jitter), up to 30 s.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="S",
    help="Seconds one attempt may take.",
)
def command(query: str, url: str | None, db: Path | None, **opts: Any) -> None:
    """Resend stored events to a Segment-compatible endpoint, in capture order.

    QUERY selects events with the filter language (type:track event:"Order Completed"
    user:u1 after:2h properties.plan:pro ...; -term negates); only
    events segdbg accepted are replayed unless the query has a status: term. Events go in batches to /v1/batch (or one per request
    with --no-batch), with each event's own write key, the client's original timestamp and
    a fresh sentAt, so the target enriches them as it would the original client's.
    5xx, 429 (honouring Retry-After) and network errors are retried with backoff.

    Every run and every delivery is stored in the capture (see `segdbg diff run:prev
    run:last`). Exits 0 when everything was delivered, 3 when some events were not,
    4 when the target cannot be reached.

    The summary rates every event sent (delivered or failed) over the time taken. A run that
    stopped early says how many events are left and prints the command that continues it.
    A run that was interrupted (Ctrl-C, a CI timeout, even SIGKILL) continues with
    --resume [RUN|last]: same target, selection and options; events recorded as delivered
    are not sent again (one acknowledged in the last instant before a kill may be, with
    the same messageId, which the target de-duplicates). Failed events are retried.

    \b
    Examples:
      segdbg replay --to http://127.0.0.1:9000
      segdbg replay 'event:"Order Completed"' --to https://staging.example.com --new-message-ids
      segdbg replay type:track after:1h --to http://127.0.0.1:9000 --write-key wk_staging
      segdbg replay -type:identify --to http://127.0.0.1:9000   # all but identify calls
      segdbg replay status:invalid --to http://127.0.0.1:9000   # resend what segdbg flagged
      segdbg replay --to http://127.0.0.1:9000 --speed 1 --max-gap 5 --timestamps shift
      segdbg replay --to http://127.0.0.1:9000 --rate 50 --junit replay.xml --report replay.json
      segdbg replay --to http://127.0.0.1:9000 --dry-run --no-batch | head
      segdbg replay --resume                   # continue the last run where it stopped
      segdbg replay --resume 12 --write-key wk_staging
    """
    # Lazily: the console loads Rich and aiohttp, which `segdbg --help` (it imports every command) must not.
    from debugger.store.capture import StoreError

    if opts["resume"] is not None:
        replay_console.resume(query, url, db, opts)
        return
    if url is None:
        raise click.UsageError("Missing option '--to' (the target's root URL), or --resume to continue a run.")
    if opts["rate"] is not None and opts["speed"] is not None:
        raise click.UsageError("--rate and --speed cannot be combined: pick a fixed rate or the original gaps.")
    if opts["max_gap"] is not None and opts["speed"] is None:
        raise click.UsageError("--max-gap caps the original gaps, so it needs --speed.")
    root = target_root(url)
    text = query or None
    options = ReplayOptions(
        batch=not opts["no_batch"],
        batch_size=opts["batch_size"],
        write_key=opts["write_key"],
        new_message_ids=opts["new_message_ids"],
        id_map=parse_id_map(opts["map_ids"], opts["map_file"]),
        id_prefix=opts["id_prefix"],
        rate=opts["rate"],
        speed=opts["speed"],
        max_gap=opts["max_gap"],
    )
    concurrency = opts["concurrency"] or (PACED_CONCURRENCY if options.paced else 1)
    policy = RetryPolicy(retries=opts["retries"], backoff=opts["backoff"], timeout=opts["timeout"])
    recorded = {
        key: value
        for key, value in opts.items()
        if key not in ("report_file", "junit_file", "dry_run", "map_file") and value not in (None, False, ())
    }
    if opts["write_key"]:
        recorded["write_key"] = "••••••"
    recorded["concurrency"] = concurrency
    config = RunConfig(
        db=resolve_db(db),
        target=root,
        query=text,
        options=options,
        policy=policy,
        concurrency=concurrency,
        timestamps=opts["timestamps"],
        recorded_options=recorded,
        selection=selection(text, datetime.now(UTC)),
    )
    if not config.db.exists():
        raise click.ClickException(f"{config.db}: no such capture; pass --db PATH or start `segdbg serve`.")
    if opts["dry_run"]:
        try:
            replay_console.dry_run(config)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
        return
    code = replay_console.run_replay(config, opts["report_file"], opts["junit_file"])
    raise SystemExit(code)


def selection(text: str | None, now: datetime) -> Selection:
    """The events QUERY selects: only accepted (``ok``) events unless it has a status: term.

    Raises:
        click.UsageError: the query is malformed; the message points at the offending term.
    """
    return for_query(parse_query(text), now)
