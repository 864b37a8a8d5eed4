"""One module per revision, oldest first: ``0001_baseline`` is the schema before migrations."""
