"""The changes feed for syncing clients: ``GET /api/v1/todos/changes`` (docs/sync.md)."""
