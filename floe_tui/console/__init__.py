"""The console's core, without Textual (DESIGN sections 5 and 9).

Plan loading and watching (`plans`, with the first-paint `snapshot` and its `prefetch`), the
registry and monitor lifecycle (`engines`), query runs with ids and paging (`queries`), the query
history (`history`) and the event log (`events`), gathered by `core.ConsoleCore`. The Textual app
(`floe_tui.tui`) hosts a ConsoleCore and renders it; `floe-tui monitor` and `floe-tui query` use
the same pieces without a screen.

This `__init__` imports nothing: the first paint imports `prefetch` and `snapshot` before
Textual, and neither may drag the compiler, pydantic or an engine in with it.
"""
