"""Manifests: the list of files a raw release holds, with expected sizes, hashes, URLs and counts.

The format is documented in docs/raw-data.md. Paths in a manifest are relative to the raw folder.
An entry's `path` is our name of the file; `names` lists the other names it is published under
(the authors' release, MMSA), and `variants` the other published copies of the same file (their
size, hash and text encoding where known).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from unimse_core.datasets import NAMES as DATASETS
from unimse_core.datasets import REGISTRY, SPLITS
from unimse_core.io.atomic import write_json
from unimse_core.io.errors import RawDataError

SCHEMA = 1
# every registered dataset's label and feature kinds (msa_labels, msa_features, meld_labels, ...)
KINDS = tuple(dict.fromkeys(k for d in REGISTRY.values() for k in (*d.label_kinds, d.feature_kind) if k))
HASH_CHUNK = 1 << 20
ENCODINGS = ("utf-8", "cp1252")


@dataclass(frozen=True)
class Variant:
    """A published copy of a file that differs from the entry's own bytes (e.g. the authors' MELD CSVs).

    `size` None and `sha256` "" mean unknown: any file is then taken as this variant (its observed
    size and hash are recorded) and only the structure checks decide. `encoding` None: detected.
    """

    name: str
    size: int | None = None
    sha256: str = ""
    encoding: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256, "encoding": self.encoding}


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
    names: tuple[str, ...] = ()          # other accepted paths of the same file, in order of preference
    encoding: str | None = None          # text files: utf-8 | cp1252; None: utf-8, else cp1252 if that decodes
    variants: tuple[Variant, ...] = ()

    @property
    def accepted_paths(self) -> tuple[str, ...]:
        return (self.path, *self.names)

    def to_json(self) -> dict[str, Any]:
        out = {"path": self.path, "dataset": self.dataset, "kind": self.kind, "split": self.split,
               "size": self.size, "sha256": self.sha256, "url": self.url,
               "splits": dict(self.splits) if self.splits is not None else None}
        # written only when set, so that manifests without them keep their bytes
        if self.names:
            out["names"] = list(self.names)
        if self.encoding is not None:
            out["encoding"] = self.encoding
        if self.variants:
            out["variants"] = [v.to_json() for v in self.variants]
        return out


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
    names = raw.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise RawDataError(source, f"names must be a list of paths, got {names!r}", where)
    for name in names:
        if name.startswith("/") or ".." in Path(name).parts:
            raise RawDataError(source, f"name {name!r} must be relative to the raw folder", where)
    encoding = raw.get("encoding")
    if encoding is not None and encoding not in ENCODINGS:
        raise RawDataError(source, f"encoding must be one of {', '.join(ENCODINGS)} or null, got {encoding!r}", where)
    variants = raw.get("variants", [])
    if not isinstance(variants, list):
        raise RawDataError(source, f"variants must be a list, got {variants!r}", where)
    return ManifestEntry(path=path, dataset=raw["dataset"], kind=raw["kind"], split=split, size=size,
                         sha256=sha, url=url, splits=splits, names=tuple(names), encoding=encoding,
                         variants=tuple(_variant(v, f"{where}.variants[{i}]", source) for i, v in enumerate(variants)))


def _variant(raw: Any, where: str, source: Path) -> Variant:
    known = set(Variant.__dataclass_fields__)
    if not isinstance(raw, dict) or set(raw) - known or not isinstance(raw.get("name"), str):
        raise RawDataError(source, f"a variant is an object with a name and optionally {', '.join(sorted(known - {'name'}))}",
                           where)
    size, sha, encoding = raw.get("size"), raw.get("sha256", "") or "", raw.get("encoding")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise RawDataError(source, f"size must be a byte count or null, got {size!r}", where)
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise RawDataError(source, f"sha256 must be 64 lower-case hex digits or empty, got {sha!r}", where)
    if encoding is not None and encoding not in ENCODINGS:
        raise RawDataError(source, f"encoding must be one of {', '.join(ENCODINGS)} or null, got {encoding!r}", where)
    return Variant(name=raw["name"], size=size, sha256=sha, encoding=encoding)


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
        for name in entry.accepted_paths:
            if name in seen:
                raise RawDataError(path, f"path {name!r} is listed twice", f"files[{i}]")
            seen.add(name)
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


CheckStatus = Literal["ok", "recorded", "variant", "missing", "size_mismatch", "hash_mismatch"]


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
    variant: str = ""            # the name of the published variant the file was taken as, if any
    encoding: str | None = None  # the variant's declared encoding (else the entry's)

    @property
    def passed(self) -> bool:
        return self.status in ("ok", "recorded", "variant")


def _as_variant(entry: ManifestEntry, file: Path, size: int, problem: str) -> FileCheck | None:
    """The first variant of `entry` that the file matches (known sizes and hashes first), or None."""
    sha = ""
    for variant in sorted(entry.variants, key=lambda v: (v.size is None, not v.sha256)):
        if variant.size is not None and variant.size != size:
            continue
        sha = sha or sha256_file(file)
        if variant.sha256 and variant.sha256 != sha:
            continue
        known = "known" if variant.sha256 or variant.size is not None else "unknown size and hash, recorded"
        return FileCheck(entry.path, "variant", size, sha,
                         f"{file}: {problem}; taken as the published variant {variant.name!r} ({known}; "
                         f"{size} bytes, sha256 {sha})", variant.name, variant.encoding or entry.encoding)
    return None


def check_file(entry: ManifestEntry, root: str | Path, file: str | Path | None = None) -> FileCheck:
    """Check one file of a raw folder against its manifest entry: presence, then size, then sha256.

    The size is compared before hashing so that a wrong file fails at once instead of after reading
    it whole. An entry without a hash gives "recorded": the observed hash goes into the report. A
    file that differs from the entry's size or hash but matches one of its `variants` gives
    "variant". `file` is the file on disk when it lies under another accepted name.
    """
    file = Path(file) if file is not None else Path(root) / entry.path
    if not file.is_file():
        what = "not a regular file" if file.exists() else "missing"
        names = " or ".join(repr(n) for n in entry.accepted_paths)
        return FileCheck(entry.path, "missing", None, "", f"{file}: {what} (manifest lists {names})")
    size = file.stat().st_size
    if entry.size is not None and size != entry.size:
        problem = f"size mismatch: expected {entry.size} bytes, got {size}"
        return _as_variant(entry, file, size, problem) or FileCheck(entry.path, "size_mismatch", size, "",
                                                                    f"{file}: {problem}")
    sha = sha256_file(file)
    if not entry.sha256:
        return FileCheck(entry.path, "recorded", size, sha,
                         f"{file}: no sha256 in the manifest; recorded {sha} ({size} bytes)", encoding=entry.encoding)
    if sha != entry.sha256:
        problem = f"sha256 mismatch: expected {entry.sha256}, got {sha}"
        return _as_variant(entry, file, size, problem) or FileCheck(entry.path, "hash_mismatch", size, sha,
                                                                    f"{file}: {problem}")
    return FileCheck(entry.path, "ok", size, sha, f"{file}: ok ({size} bytes)", encoding=entry.encoding)


def check_manifest(manifest: Manifest, root: str | Path) -> tuple[FileCheck, ...]:
    """`check_file` for every entry, in manifest order."""
    return tuple(check_file(entry, root) for entry in manifest.files)
