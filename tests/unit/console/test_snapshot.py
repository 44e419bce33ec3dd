"""The first-paint snapshot reads back into the plan's own model, with its excerpts read ahead."""

from __future__ import annotations

import json

from floe_tui.console.snapshot import dump, load, to_document
from floe_tui.governance import Compiler, default_manifests
from floe_tui.planmodel import PlanModel

BROKEN = default_manifests().parent / "broken"


def test_a_snapshot_is_the_compiled_plan_model_less_the_compiler_parts() -> None:
    for path in (default_manifests(), BROKEN):
        plan = Compiler().compile(path)
        snapshot = load(json.loads(json.dumps(dump(path))))  # through JSON text, as the helper sends it
        assert type(snapshot) is PlanModel
        for name in ("root", "environments", "diagnostics", "target_names", "query_timeout_s", "floe_files"):
            assert getattr(snapshot, name) == getattr(plan, name), name
        assert snapshot.transforms == plan.transforms
        for scope in ("enterprise", "domain", "product"):
            ours, theirs = snapshot.levels(scope), plan.levels(scope)
            assert [(lv.qualified_name, lv.approved, lv.default, lv.default_declared_by) for lv in ours] == [
                (lv.qualified_name, lv.approved, lv.default, lv.default_declared_by) for lv in theirs
            ]
        assert set(snapshot.excerpts) == set(plan.diagnostics) and not plan.excerpts


def test_a_snapshot_document_reads_back_to_itself() -> None:
    document = dump(BROKEN)
    assert to_document(load(document), load(document).excerpts) == json.loads(json.dumps(document))


def test_no_secret_is_in_a_snapshot_and_the_excerpts_mark_the_offending_line() -> None:
    secret = BROKEN / "e305-literal-secret"
    text = json.dumps(dump(secret))
    assert "FLOE-E305" in text and "wJalrXUtnFEMI" not in text and "****" in text
    snapshot = load(json.loads(text))
    (diagnostic,) = (d for d in snapshot.diagnostics if d.code == "FLOE-E305")
    assert diagnostic.line in dict(snapshot.excerpts[diagnostic])


def test_a_diagnostic_keeps_the_pydantic_era_dump_names() -> None:
    broken = Compiler().compile(BROKEN)
    diagnostic = broken.diagnostics[0]
    assert (
        diagnostic.model_dump(mode="json") == diagnostic.to_dict() == json.loads(diagnostic.model_dump_json())
    )
    assert diagnostic.to_dict()["severity"] in ("error", "warning")
