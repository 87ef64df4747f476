"""Background jobs: exports, imports and bulk changes that run outside the request asking.

A request stores a job document (``store.py``) and hands its id to the queue (``queue.py``);
it answers ``202`` at once and the client polls ``/api/v1/jobs/{id}``. The runner
(``runner.py``) does the work in batches (``export.py``, ``imports.py``, ``bulk.py``), writing
todos only through ``mongo_todos.todos.store``; export files and import bodies live in GridFS
(``files.py``). The views are in ``views.py``, their schemas in ``schemas.py``.
"""
