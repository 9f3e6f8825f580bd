"""Errors about input files. Messages name the file, the record and what was expected."""

from __future__ import annotations

from pathlib import Path


class RawDataError(ValueError):
    """A raw input file that is missing, malformed or inconsistent with the others."""

    def __init__(self, path: str | Path, problem: str, record: str | None = None):
        self.path = str(path)
        self.record = record
        self.problem = problem
        where = f"{self.path}: {record}" if record else self.path
        super().__init__(f"{where}: {problem}")
