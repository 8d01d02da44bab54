"""The process exit codes every segdbg command uses (DESIGN §4), in one enum.

In the core, not the CLI, because a replay run decides its exit code too.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (DESIGN §4)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    FAILED = 3  # an expectation, a check or a delivery failed; a request was rejected
    UNREACHABLE = 4
    INTERRUPTED = 130
