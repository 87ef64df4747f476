"""Todos: CRUD, conditional requests, pagination, search, quotas, idempotent creates."""
