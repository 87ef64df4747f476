"""Background jobs: work that touches many todos runs outside the request that asks for it."""
