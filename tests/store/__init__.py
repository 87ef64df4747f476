"""Storage: the MongoDB client, the embedded store, driver failures and outages, round trips."""
