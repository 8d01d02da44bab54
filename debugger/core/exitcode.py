"""The process exit codes every segdbg command uses (docs/cli.md), in one enum.

In the core, not the CLI, because a replay run decides its exit code too.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (docs/cli.md)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    FAILED = 3  # an expectation, a check or a delivery failed; a request was rejected
    UNREACHABLE = 4
    INTERRUPTED = 130
