"""The embedded face: a folder as the bucket, SQLite as tables and queues."""
