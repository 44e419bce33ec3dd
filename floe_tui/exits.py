"""Exit codes and the usage error: the words the command line and its commands share.

0 fine; 1 the manifests or the query have a problem; 2 the command could not run (bad arguments,
no manifests at the path); 3 query cancelled; 4 query timed out (DESIGN section 4).
"""

from __future__ import annotations

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_CANCELLED, EXIT_TIMED_OUT = 0, 1, 2, 3, 4


class UsageError(Exception):
    """The command cannot run as asked (exit 2)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint
