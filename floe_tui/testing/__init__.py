"""The compute plugin compliance suite: what "implements the contract" means.

A plugin author subclasses :class:`ComputePluginCompliance` in a test module, names the subclass
``Test...`` and supplies a configuration; pytest then runs every check of DESIGN section 2 against
the real engine. See "Write your own plugin" in the README.
"""

import pytest

# Plain `assert`s in the suite get pytest's full failure report, as in the author's own tests.
pytest.register_assert_rewrite("floe_tui.testing.compliance")

from floe_tui.testing.compliance import ComputePluginCompliance  # noqa: E402
from floe_tui.testing.cpu import EngineCpu  # noqa: E402
from floe_tui.testing.servers import (  # noqa: E402
    ServerError,
    ServerProcess,
    demo_main,
    free_port,
    run_beside,
    wait_for,
)

__all__ = [
    "ComputePluginCompliance",
    "EngineCpu",
    "ServerError",
    "ServerProcess",
    "demo_main",
    "free_port",
    "run_beside",
    "wait_for",
]
