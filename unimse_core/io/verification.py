"""The verification report (`data/verified.json`): the one owner of its schema.

The fetch stage writes it; embed, labels, preprocess and the report read it. Its keys, in the order
written (docs/raw-data.md describes their content):

- `schema` (SCHEMA_VERSION), `ok` (no problem found), `source` (data.source), `raw_dir`, `manifest`
  ({name, path}), `text_only`, `downloaded` (paths fetched in this run);
- `files`: one record per checked file (path, dataset, kind, split, status, size, sha256,
  expected_sha256, and where they apply manifest_path, variant, encoding);
- `datasets`: {dataset: summary of its structure check}; `problems`: what must stop the pipeline.

`checked` builds the part the verifier computes (what `unimse verify` prints), `fetch_report` adds
the run's context to it, and `read_report` validates a file against this schema: a report of
another schema version, or without one of the keys, is an error naming the file, the version
expected and the version found.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unimse_core.io.atomic import write_json
from unimse_core.io.errors import RawDataError

SCHEMA_VERSION = 1

# key -> the JSON type it holds, in the order a fetch report writes them
KEYS: dict[str, type | tuple[type, ...]] = {
    "schema": int, "ok": bool, "source": str, "raw_dir": str, "manifest": dict, "text_only": bool,
    "downloaded": list, "files": list, "datasets": dict, "problems": list}


def checked(files: Sequence[Mapping[str, Any]], datasets: Mapping[str, Any], problems: Sequence[str]) -> dict[str, Any]:
    """The verifier's result: schema, ok, files, datasets, problems."""
    return {"schema": SCHEMA_VERSION, "ok": not problems, "files": list(files), "datasets": dict(datasets),
            "problems": list(problems)}


def with_problems(report: Mapping[str, Any], problems: Sequence[str], **extra: Any) -> dict[str, Any]:
    """`report` with `problems` put before its own (and `ok` following them) and `extra` keys added at the end."""
    out = {**report, **extra}
    out["problems"] = [*problems, *report["problems"]]
    out["ok"] = not out["problems"]
    return out


def fetch_report(result: Mapping[str, Any], *, source: str, raw_dir: Path, manifest_name: str,
                 manifest_path: Path, text_only: bool, downloaded: Sequence[str]) -> dict[str, Any]:
    """The report the fetch stage writes: `result` (of `checked`) with the run's context, in KEYS order."""
    report = {"schema": result["schema"], "ok": result["ok"], "source": source, "raw_dir": raw_dir.as_posix(),
              "manifest": {"name": manifest_name, "path": manifest_path.as_posix()},
              "text_only": text_only, "downloaded": list(downloaded),
              **{k: v for k, v in result.items() if k not in ("schema", "ok")}}
    validate(report, "the fetch report")
    return report


def validate(report: Any, source: str | Path) -> None:
    """RawDataError naming `source` unless `report` is a verification report of this schema."""
    if not isinstance(report, dict):
        raise RawDataError(source, f"expected a verification report (a JSON object), got {type(report).__name__}")
    found = report.get("schema")
    if isinstance(found, bool) or found != SCHEMA_VERSION:
        raise RawDataError(source, f"a verification report of schema {found!r}; this code reads schema "
                                   f"{SCHEMA_VERSION}: rerun the fetch stage (dvc repro fetch) to rewrite it")
    for key, kind in KEYS.items():
        if key not in report:
            raise RawDataError(source, f"missing key {key!r} of the verification report (schema {SCHEMA_VERSION}); "
                                       "rerun the fetch stage (dvc repro fetch)")
        if not isinstance(report[key], kind) or (kind is int and isinstance(report[key], bool)):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise RawDataError(source, f"key {key!r} of the verification report must be {names}, "
                                       f"got {type(report[key]).__name__}")


def write_report(path: str | Path, report: Mapping[str, Any]) -> None:
    validate(dict(report), path)
    write_json(path, report)


def read_report(path: str | Path) -> dict[str, Any]:
    """The verification report at `path`, validated (a RawDataError naming the file otherwise)."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RawDataError(path, "verification report not found; run the fetch stage (dvc repro fetch)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RawDataError(path, f"not valid JSON: {err}") from None
    validate(report, path)
    return report


__all__ = ["KEYS", "SCHEMA_VERSION", "checked", "fetch_report", "read_report", "validate",
           "with_problems", "write_report"]
