"""How a job's errorResult becomes a ComputeError (the engine's message kept, the code chosen)."""

from __future__ import annotations

import pytest

from floe_compute_bigquery.connection import job_error
from floe_tui.compute import QueryCancelledError, QueryError, QueryTimeoutError


@pytest.mark.parametrize(
    ("result", "kind", "code"),
    [
        # jobTimeoutMs: BigQuery stops the job and says it timed out.
        (
            {"reason": "stopped", "message": "Job execution was cancelled: Job timed out after 310s"},
            QueryTimeoutError,
            "FLOE-C401",
        ),
        (
            {"reason": "timeout", "message": "Operation timed out after 6.0 hours."},
            QueryTimeoutError,
            "FLOE-C401",
        ),
        # someone's jobs.cancel (the console, bq cancel, this plugin)
        (
            {"reason": "stopped", "message": "Job execution was cancelled: User requested cancellation"},
            QueryCancelledError,
            "FLOE-C402",
        ),
        (
            {
                "reason": "invalidQuery",
                "location": "query",
                "message": "Syntax error: Unexpected end of script at [1:7]",
            },
            QueryError,
            "FLOE-C400",
        ),
    ],
)
def test_job_errors(result: dict[str, str], kind: type[QueryError], code: str) -> None:
    error = job_error(result)
    assert type(error) is kind and error.code == code
    assert error.message.endswith(result["message"]) and error.hint


def test_the_bytes_cap_says_which_setting_to_raise() -> None:
    error = job_error(
        {
            "reason": "bytesBilledLimitExceeded",
            "message": "Query exceeded limit for bytes billed: 1. 10485760 or higher required.",
        }
    )
    assert error.code == "FLOE-C400" and "10485760 or higher" in error.message
    assert "connection.maximum_bytes_billed" in error.hint
