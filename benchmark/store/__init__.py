"""The run-folder contract between a run and its readers: rows, per-query rows, results."""
