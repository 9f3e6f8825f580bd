"""Manifests: the list of files a raw release holds, with expected sizes, hashes, URLs and counts.

The format is documented in docs/raw-data.md. Paths in a manifest are relative to the raw folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from unimse_core.config import DATASETS
from unimse_core.io.atomic import write_json
from unimse_core.io.errors import RawDataError

SCHEMA = 1
KINDS = ("msa_labels", "msa_features", "meld_labels", "iemocap_labels", "erc_features")
SPLITS = ("train", "valid", "test")
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    dataset: str
    kind: str
    split: str | None = None
    size: int | None = None
    sha256: str = ""
    url: str = ""
    splits: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "dataset": self.dataset, "kind": self.kind, "split": self.split,
                "size": self.size, "sha256": self.sha256, "url": self.url,
                "splits": dict(self.splits) if self.splits is not None else None}


@dataclass(frozen=True)
class Manifest:
    name: str
    files: tuple[ManifestEntry, ...]

    def for_dataset(self, dataset: str) -> tuple[ManifestEntry, ...]:
        return tuple(e for e in self.files if e.dataset == dataset)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "name": self.name, "files": [e.to_json() for e in self.files]}


def _entry(raw: Any, where: str, source: Path) -> ManifestEntry:
    if not isinstance(raw, dict):
        raise RawDataError(source, "must be an object", where)
    known = set(ManifestEntry.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RawDataError(source, f"unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})", where)
    for key in ("path", "dataset", "kind"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise RawDataError(source, f"field {key!r} must be a non-empty string", where)
    path = raw["path"]
    if path.startswith("/") or ".." in Path(path).parts:
        raise RawDataError(source, f"path {path!r} must be relative to the raw folder", where)
    if raw["dataset"] not in DATASETS:
        raise RawDataError(source, f"dataset must be one of {', '.join(DATASETS)}, got {raw['dataset']!r}", where)
    if raw["kind"] not in KINDS:
        raise RawDataError(source, f"kind must be one of {', '.join(KINDS)}, got {raw['kind']!r}", where)
    split = raw.get("split")
    if split is not None and split not in SPLITS:
        raise RawDataError(source, f"split must be one of {', '.join(SPLITS)} or null, got {split!r}", where)
    size = raw.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise RawDataError(source, f"size must be a byte count or null, got {size!r}", where)
    sha = raw.get("sha256", "") or ""
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise RawDataError(source, f"sha256 must be 64 lower-case hex digits or empty, got {sha!r}", where)
    url = raw.get("url", "") or ""
    if url and not url.startswith(("http://", "https://", "file://")):
        raise RawDataError(source, f"url must start with http://, https:// or file://, got {url!r}", where)
    splits = raw.get("splits")
    if splits is not None:
        if not isinstance(splits, dict) or set(splits) - set(SPLITS) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in splits.values()):
            raise RawDataError(source, f"splits must map train/valid/test to counts, got {splits!r}", where)
    return ManifestEntry(path=path, dataset=raw["dataset"], kind=raw["kind"], split=split, size=size,
                         sha256=sha, url=url, splits=splits)


def read_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RawDataError(path, "manifest not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RawDataError(path, f"not a valid JSON manifest: {err}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("files"), list):
        raise RawDataError(path, f"expected an object with \"schema\": {SCHEMA} and a \"files\" list")
    files = tuple(_entry(raw, f"files[{i}]", path) for i, raw in enumerate(data["files"]))
    seen: set[str] = set()
    for i, entry in enumerate(files):
        if entry.path in seen:
            raise RawDataError(path, f"path {entry.path!r} is listed twice", f"files[{i}]")
        seen.add(entry.path)
    return Manifest(name=str(data.get("name", path.stem)), files=files)


def write_manifest(path: str | Path, manifest: Manifest) -> None:
    write_json(path, manifest.to_json())


def sha256_file(path: str | Path, chunk_size: int = HASH_CHUNK) -> str:
    """sha256 of a file read in fixed-size chunks: memory stays flat whatever the file size."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


CheckStatus = Literal["ok", "recorded", "missing", "size_mismatch", "hash_mismatch"]


@dataclass(frozen=True)
class FileCheck:
    """What `check_file` found for one manifest entry.

    `path` is the entry's path (relative to the raw folder); `size` and `sha256` are the observed
    values (`None` / `""` where the file is missing or was not hashed because its size was wrong).
    """

    path: str
    status: CheckStatus
    size: int | None
    sha256: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status in ("ok", "recorded")


def check_file(entry: ManifestEntry, root: str | Path) -> FileCheck:
    """Check one file of a raw folder against its manifest entry: presence, then size, then sha256.

    The size is compared before hashing so that a wrong file fails at once instead of after reading
    it whole. An entry without a hash gives "recorded": the observed hash goes into the report.
    """
    file = Path(root) / entry.path
    if not file.is_file():
        what = "not a regular file" if file.exists() else "missing"
        return FileCheck(entry.path, "missing", None, "", f"{file}: {what} (manifest lists {entry.path!r})")
    size = file.stat().st_size
    if entry.size is not None and size != entry.size:
        return FileCheck(entry.path, "size_mismatch", size, "",
                         f"{file}: size mismatch: expected {entry.size} bytes, got {size}")
    sha = sha256_file(file)
    if not entry.sha256:
        return FileCheck(entry.path, "recorded", size, sha,
                         f"{file}: no sha256 in the manifest; recorded {sha} ({size} bytes)")
    if sha != entry.sha256:
        return FileCheck(entry.path, "hash_mismatch", size, sha,
                         f"{file}: sha256 mismatch: expected {entry.sha256}, got {sha}")
    return FileCheck(entry.path, "ok", size, sha, f"{file}: ok ({size} bytes)")


def check_manifest(manifest: Manifest, root: str | Path) -> tuple[FileCheck, ...]:
    """`check_file` for every entry, in manifest order."""
    return tuple(check_file(entry, root) for entry in manifest.files)
