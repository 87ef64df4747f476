"""Storage: the MongoEngine documents and indexes, the MongoDB client and its error mapping,
and the embedded (in-process, mongomock) store."""
