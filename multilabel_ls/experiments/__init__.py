"""Experiments: a resumable grid runner, its store, evaluation and report (issue 5)."""
