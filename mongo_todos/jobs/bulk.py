"""The bulk job: the same change, or a deletion, for every todo the list's filter selects.

Each todo changes as if it had been PATCHed (``todos.store.update_many``: the fields, a new
version so a new ETag, a new ``updated_at``), or is deleted, a batch per write. The set is
fixed when the job starts (the matching ids); each batch re-applies the filter, so a todo
changed meanwhile so that it no longer matches is left alone, and a todo a client changed
between the batch's read and its write keeps the client's change (the write is conditional on
the version read). A todo that already holds the requested state is not rewritten: ``matched``
counts the selected todos, ``modified`` those that changed. Adding tags to a todo that would
then carry more than 20 leaves its tags as they were.

A re-run resumes after the last batch recorded; the batch in flight computes its changes from
the todos' current state, so it finds them done.
"""

from __future__ import annotations

from mongo_todos.todos import store as todos

MAX_TAGS = 20


def change(todo: dict, params: dict) -> dict:
    """The fields of ``todo`` that ``params`` change (empty: nothing to do)."""
    fields = {}
    wanted = (params.get("set") or {}).get("done")
    if wanted is not None and todo.get("done") != wanted:
        fields["done"] = wanted
    tags = list(todo.get("tags", []))
    new = [t for t in tags + [t for t in params.get("add_tags", []) if t not in tags]
           if t not in params.get("remove_tags", [])]
    if new != tags and len(new) <= MAX_TAGS:
        fields["tags"] = new
    return fields


def run(job: dict, batches) -> tuple[dict, int] | None:
    owner, params = job["owner"], job["params"]
    match = todos.filter_match(owner, params["filter"])
    ids = todos.matching_ids(match)
    key = "deleted" if params.get("delete") else "modified"
    state = {key: 0, "done": 0, **(job.get("partial") or {})}
    for begin in range(state["done"], len(ids), batches.size):
        chunk = ids[begin:begin + batches.size]
        if params.get("delete"):
            state[key] += todos.delete_many(owner, match, chunk)
        else:
            pairs = [(todo, change(todo, params)) for todo in todos.fetch(match, chunk)]
            state[key] += todos.update_many(owner, [(t, f) for t, f in pairs if f])
        state["done"] = min(begin + batches.size, len(ids))
        if not batches.progress(state["done"], len(ids), state):
            return None
    return {"matched": len(ids), key: state[key]}, len(ids)
