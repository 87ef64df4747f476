"""The integration suite's plan helpers against explain output shaped like MongoDB 7's (find and
aggregate, classic and slot-based engines, rejected plans included): they must judge the
winning plan only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.plans import examined, plan_stages, winning_plan

FIXTURES = Path(__file__).parent / "fixtures" / "explain"
SHAPES = ["find_classic", "find_sbe", "aggregate_cursor_classic", "aggregate_pushed_down",
          "aggregate_cursor_sbe"]


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def every_stage(node, found):
    """What the first version of the suite did: every stage anywhere in the document."""
    if isinstance(node, dict):
        if "stage" in node:
            found.append(node["stage"])
        for value in node.values():
            every_stage(value, found)
    elif isinstance(node, list):
        for value in node:
            every_stage(value, found)
    return found


@pytest.mark.parametrize("shape", SHAPES)
def test_the_winning_plan_is_an_index_scan_without_sort(shape):
    explain = load(shape)
    # the fixture has the trap: a rejected plan sorts in memory
    assert "SORT" in every_stage(explain, [])
    stages = plan_stages(winning_plan(explain))
    assert ("IXSCAN", "owner_due_sort_id") in stages
    assert "SORT" not in [stage for stage, _ in stages]
    assert stages[0][0] == "LIMIT"


@pytest.mark.parametrize("shape, expected", [
    ("find_classic", (21, 21)), ("find_sbe", (21, 21)), ("aggregate_cursor_classic", (22, 21)),
    ("aggregate_pushed_down", (21, 21)), ("aggregate_cursor_sbe", (21, 21)),
    ("find_classic_fetch_filter", (321, 321)),
])
def test_examined_counts_come_from_the_query_layer(shape, expected):
    assert examined(load(shape)) == expected


@pytest.mark.parametrize("shape", ["find_sbe", "aggregate_cursor_sbe"])
def test_the_winning_plan_of_a_slot_based_explain_is_its_query_plan(shape):
    plan = winning_plan(load(shape))
    assert "slotBasedPlan" not in plan and plan["planNodeId"] == 4


def test_a_one_sided_range_with_a_fetch_filter_is_caught_by_the_examined_bound():
    # the old keyset bound: an index scan with no SORT, so only the counts reveal the re-read run
    explain = load("find_classic_fetch_filter")
    assert "SORT" not in [stage for stage, _ in plan_stages(winning_plan(explain))]
    keys, docs = examined(explain)
    assert keys > 20 + 2 and docs > 20 + 2


def test_an_explain_without_a_query_planner_is_an_error():
    with pytest.raises(ValueError):
        winning_plan({"stages": [{"$match": {}}], "ok": 1.0})
