"""Code and docs cite this repository's docs (`docs/...`), never a file outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"(?<![\w./-])((?:\.\./)*docs/[\w./-]+\.md)\b")
OUTSIDE = re.compile(r"UNIMSE\.md|STYLE\.md|\.\./shared/[\w./-]*\.md")


def _files() -> list[Path]:
    code = [p for package in ("stages", "unimse_core", "bench", "tests") for p in sorted((ROOT / package).rglob("*.py"))]
    return [*code, ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "params.yaml", ROOT / "dvc.yaml"]


def test_no_file_cites_a_document_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}:{i}: {m.group(0)}" for path in _files()
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             for m in OUTSIDE.finditer(line) if path.name != "test_doc_citations.py"]
    assert found == []


def test_every_cited_docs_page_exists():
    missing = [f"{path.relative_to(ROOT)}:{i}: {m.group(1)}" for path in _files() if path.suffix != ".md"
               for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               for m in CITED.finditer(line) if not (ROOT / m.group(1).lstrip("./")).is_file()]
    assert missing == []


def test_the_patterns_find_what_they_look_for():
    assert OUTSIDE.search("see ../shared/UNIMSE.md section 2") and OUTSIDE.search("../shared/data/README.md")
    assert not OUTSIDE.search("docs/labels.md")
    assert [m.group(1) for m in CITED.finditer("(docs/labels.md, docs/model.md)")] == ["docs/labels.md", "docs/model.md"]
