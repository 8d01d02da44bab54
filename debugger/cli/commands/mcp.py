"""`segdbg mcp`: serve the capture to coding agents over the Model Context Protocol (docs/agents.md)."""

from __future__ import annotations

from pathlib import Path

import click

from debugger.cli.options import db_option, resolve_db
from debugger.core.http.routes import DEFAULT_MCP_PORT


@click.command("mcp")
@db_option
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
def command(db: Path | None, allow_writes: bool, http: bool, port: int) -> None:
    """Run an MCP server over the capture, for coding agents (Claude Code, Cursor, ...).

    The agent gets segdbg's verbs as tools: search_events, get_event, explain_match, wait_for
    (like expect; wakes on each commit), validate_payload (a JSON, curl or analytics.track(...)
    text, answered with its problems), check, schema, stats, diff, and replay (a dry run unless
    --allow-writes); with --allow-writes also pin and reset. Resources: segdbg://event/{id},
    segdbg://schema and the docs pages. Answers are compact JSON, at most 20,000 bytes, with a
    cursor for more; event contents are marked as untrusted data.

    stdio by default (the client starts `segdbg mcp` itself); --http serves streamable HTTP
    on 127.0.0.1 only, at http://127.0.0.1:PORT/mcp. Run `segdbg serve` alongside to capture.

    \b
    Examples:
      claude mcp add segdbg -- segdbg mcp --db ./segdbg.db     # register with Claude Code
      segdbg mcp --db capture.db                              # stdio, read-only
      segdbg mcp --allow-writes                               # also pin, reset, real replays
      segdbg mcp --http --port 8089                           # http://127.0.0.1:8089/mcp
    """
    path = resolve_db(db).resolve()
    # Lazily: the MCP SDK (pydantic, starlette, uvicorn) is kept off `segdbg --help`, which imports every command.
    from debugger.agents.server import AgentConfig, run

    run(AgentConfig(db=path, allow_writes=allow_writes), http=http, port=port)
