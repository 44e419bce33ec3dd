"""Child process for the governance benchmark: compile a tree and report time and peak RSS."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from floe_tui.governance import Compiler


def main(root: str, changed: str) -> None:
    compiler = Compiler()
    started = time.perf_counter()
    plan = compiler.compile(Path(root))
    cold = time.perf_counter() - started
    product = Path(changed)
    product.write_text(product.read_text() + "# touched\n")
    started = time.perf_counter()
    again = compiler.compile(Path(root))
    warm = time.perf_counter() - started
    print(
        json.dumps(
            {
                "cold_s": cold,
                "revalidate_s": warm,
                "transforms": len(plan.transforms),
                "errors": sum(d.is_error for d in plan.diagnostics),
                "same": len(again.transforms) == len(plan.transforms),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
