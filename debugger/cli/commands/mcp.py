"""`segdbg mcp`: serve the capture to coding agents over the Model Context Protocol (docs/agents.md)."""

from __future__ import annotations

from pathlib import Path

import click

from debugger.cli.options import db_option, resolve_db, url_option
from debugger.core.http.routes import DEFAULT_MCP_PORT


@click.command("mcp")
@db_option
@url_option
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Also offer pin and reset, let replay really send (dry_run=false) and validate_payload store. "
    "Without it the server only reads, and replay is a dry run.",
)
@click.option("--http", "http", is_flag=True, help="Serve streamable HTTP on 127.0.0.1 (at /mcp) instead of stdio.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=DEFAULT_MCP_PORT, show_default=True, help="--http: the port."
)
def command(db: Path | None, url: str | None, allow_writes: bool, http: bool, port: int) -> None:
    """Run an MCP server over the capture, for coding agents (Claude Code, Cursor, ...).

    The agent gets segdbg's verbs as tools: search_events, get_event, explain_match, wait_for
    (like expect; wakes on each commit), validate_payload (a JSON, curl or analytics.track(...)
    text, answered with its problems), check, schema, stats, diff, and replay (a dry run unless
    --allow-writes); with --allow-writes also pin and reset. Resources: segdbg://event/{id},
    segdbg://schema and the docs pages. Answers are compact JSON, at most 20,000 bytes, with a
    cursor for more; event contents are marked as untrusted data.

    stdio by default (the client starts `segdbg mcp` itself); --http serves streamable HTTP
    on 127.0.0.1 only, at http://127.0.0.1:PORT/mcp. Run `segdbg serve` alongside to capture.
    With --url, the tools a running server's debugger API answers (search_events, get_event,
    wait_for, stats, schema, validate_payload; reset with --allow-writes) ask it instead of
    reading a file; the others need --db.

    \b
    Examples:
      claude mcp add segdbg -- segdbg mcp --db "$PWD/segdbg.db"   # register with Claude Code
      segdbg mcp --db capture.db                              # stdio, read-only
      segdbg mcp --allow-writes                               # also pin, reset, real replays
      segdbg mcp --http --port 8089                           # http://127.0.0.1:8089/mcp
      segdbg mcp --url http://127.0.0.1:8088                  # ask a running `segdbg serve`
    """
    if db is not None and url is not None:
        raise click.UsageError("give --db or --url, not both.")
    path = None if url is not None else resolve_db(db).resolve()
    # Lazily: the MCP SDK (pydantic, starlette, uvicorn) is kept off `segdbg --help`, which imports every command.
    from debugger.agents.server import AgentConfig, run

    run(AgentConfig(db=path, url=url, allow_writes=allow_writes), http=http, port=port)
