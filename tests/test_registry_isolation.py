"""What is particular to a dataset lives in its own module (docs/adding-a-dataset.md).

Outside unimse_core/datasets/<name>.py and the registry (unimse_core/datasets/__init__.py), no code
of unimse_core/ or stages/ names a registered dataset: no string literal equal to a name (the
`if dataset == "meld"` branch, a name-keyed dict) and no identifier made with one
(`read_meld_labels`, `MELD_EMOTIONS`). Docstrings and comments may name datasets. The only
exceptions are the params keys that users already write (ALLOWED_IDENTIFIERS).

A second test removes EmoryNLP from a copy of the code, module and registry entry, and imports
every module: nothing else depends on it.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# params keys named after a dataset, part of the params interface (docs/labels.md, docs/inputs-and-targets.md)
ALLOWED_IDENTIFIERS = {"iemocap_context", "iemocap_other_codes"}


def registered_names() -> tuple[str, ...]:
    # read from the registry's source, not imported, so that the test reads what the file says
    tree = ast.parse((ROOT / "unimse_core" / "datasets" / "__init__.py").read_text())
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             and node.module == "unimse_core.datasets" for alias in node.names]
    return tuple(n for n in names if (ROOT / "unimse_core" / "datasets" / f"{n}.py").is_file())


def docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (of modules, classes, functions, attributes)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.add(id(node.value))
    return out


def mentions(source: str, names: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, what) of every non-docstring string equal to a name and every identifier containing one."""
    pattern = re.compile(r"(?i)(?<![a-z])(" + "|".join(names) + r")(?![a-z])")
    tree = ast.parse(source)
    docs = docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if node.value.strip().lower() in names:
                found.append((node.lineno, repr(node.value)))
            continue
        identifier = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                      else node.name if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      else node.arg if isinstance(node, ast.arg)
                      else node.asname or node.name if isinstance(node, ast.alias) else None)
        if identifier and identifier not in ALLOWED_IDENTIFIERS and pattern.search(identifier):
            found.append((node.lineno, identifier))
    return sorted(found)


def test_the_checker_finds_a_branch_a_dict_and_an_identifier():
    source = ('"""MELD is named here, which is fine."""\n'
              'def f(d):\n'
              '    if d == "meld":  # a branch\n'
              '        return MELD_EMOTIONS\n'
              '    return {"iemocap": 1}, iemocap_context\n')
    assert mentions(source, ("meld", "iemocap")) == [(3, "'meld'"), (4, "MELD_EMOTIONS"), (5, "'iemocap'")]


def test_no_module_outside_a_dataset_names_it():
    names = registered_names()
    assert set(names) >= {"mosi", "mosei", "meld", "iemocap", "emorynlp"}
    offenders = []
    for path in sorted([*(ROOT / "unimse_core").rglob("*.py"), *(ROOT / "stages").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "unimse_core/datasets/__init__.py":
            continue
        own = re.fullmatch(r"unimse_core/datasets/(\w+)\.py", rel)
        others = tuple(n for n in names if not (own and own.group(1) == n))
        # a dataset module may build on another's code by importing it (EmoryNLP could reuse MELD's)
        offenders += [f"{rel}:{line}: {what}" for line, what in mentions(path.read_text(), others)
                      if not (own and what in names)]
    assert not offenders, "dataset names outside their modules:\n" + "\n".join(offenders)


def test_the_code_runs_without_emorynlp(tmp_path):
    for package in ("unimse_core", "stages"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "unimse_core" / "datasets" / "emorynlp.py").unlink()
    registry = tmp_path / "unimse_core" / "datasets" / "__init__.py"
    text = registry.read_text()
    edited = re.sub(r",?\s*emorynlp\.DATASET,?", "", text.replace("emorynlp, ", ""))
    assert edited != text and "emorynlp.DATASET" not in edited and "emorynlp," not in edited
    registry.write_text(edited)
    script = ("import importlib, pkgutil, unimse_core, stages\n"
              "from unimse_core.datasets import NAMES\n"
              "for pkg in (unimse_core, stages):\n"
              "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
              "        importlib.import_module(m.name)\n"
              "from unimse_core.universal import LabelSchema\n"
              "print(','.join(NAMES), LabelSchema.of(NAMES).slots)\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[0] == "mosi,mosei,meld,iemocap"
