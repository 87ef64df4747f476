"""Todos: the resource, its storage, its list (keyset pages, search) and its limits."""
