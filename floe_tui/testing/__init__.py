"""The compute plugin compliance suite: what "implements the contract" means.

A plugin author subclasses :class:`ComputePluginCompliance` in a test module, names the subclass
``Test...`` and supplies a configuration; pytest then runs every check of DESIGN section 2 against
the real engine. See "Write your own plugin" in the README.
"""

from floe_tui.testing.compliance import ComputePluginCompliance
from floe_tui.testing.cpu import EngineCpu

__all__ = ["ComputePluginCompliance", "EngineCpu"]
