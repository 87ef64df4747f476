"""Reading MongoDB ``explain`` output: the winning plan only, wherever the server puts it.

``explain`` replans the query and lists the rejected candidates next to the winner. Every
todo filter carries ``owner``, so each ``owner_*_id`` index is a candidate, and a rejected
``IXSCAN -> FETCH -> SORT`` plan contains a SORT stage that a walk over the whole document would
take for the plan that ran. Where the winning plan lives:

- ``find``, and an ``aggregate`` whose whole pipeline was pushed into the query layer:
  ``queryPlanner.winningPlan``;
- an ``aggregate`` with stages left in the pipeline: ``stages[0].$cursor.queryPlanner``;
- the slot-based engine (SBE, ``explainVersion`` "2") wraps it: ``winningPlan.queryPlan``.

Execution statistics follow the same two places (``executionStats`` at the top, or under
``stages[0].$cursor``).
"""

from __future__ import annotations


def _query_layer(explain: dict) -> dict:
    if "queryPlanner" in explain:
        return explain
    stages = explain.get("stages")
    if stages and "$cursor" in stages[0]:
        return stages[0]["$cursor"]
    raise ValueError("no queryPlanner in this explain output")


def winning_plan(explain: dict) -> dict:
    """The root stage of the plan that ran (classic or slot-based engine)."""
    plan = _query_layer(explain)["queryPlanner"]["winningPlan"]
    return plan.get("queryPlan", plan)


def plan_stages(plan: dict) -> list[tuple[str, str | None]]:
    """(stage, indexName) of every stage of one plan tree, root first (follows only
    ``inputStage``/``inputStages``, never into sibling plans)."""
    found = [(plan["stage"], plan.get("indexName"))]
    children = list(plan.get("inputStages", []))
    if "inputStage" in plan:
        children.insert(0, plan["inputStage"])
    for child in children:
        found.extend(plan_stages(child))
    return found


def examined(explain: dict) -> tuple[int, int]:
    """(totalKeysExamined, totalDocsExamined) of an ``executionStats`` explain."""
    stats = _query_layer(explain)["executionStats"]
    return stats["totalKeysExamined"], stats["totalDocsExamined"]
