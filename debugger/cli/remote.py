"""A command's `--url`: the debugger API asked on the user's behalf, its failures as CLI outcomes."""

from __future__ import annotations

from typing import Any

import click

from debugger.core.exitcode import ExitCode
from debugger.server.client import ApiError, Unreachable, call


def ask(
    url: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    post: bool = False,
    body: dict[str, Any] | None = None,
    timeout: float | None = 30,
    refused: str = "",
    hint: str = "",
) -> Any:
    """:func:`debugger.server.client.call`; nothing answering exits 4 (``hint`` added to the error line),
    an error answer is a click error (``refused`` before the server's message)."""
    try:
        return call(url, path, params, post=post, body=body, timeout=timeout)
    except Unreachable as exc:
        click.echo(f"error: {exc}{hint}", err=True)
        raise SystemExit(ExitCode.UNREACHABLE) from None
    except ApiError as exc:
        raise click.ClickException(f"{refused}{exc.message}") from exc
