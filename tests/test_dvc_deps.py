"""dvc.yaml tells the truth: each stage lists every module it imports and exactly the params it reads.

The imports are derived, not listed by hand: from the stage's entry module (the `unimse <command>`
of its `cmd`, mapped to a module by stages/cli.py's COMMANDS) every `import` and `from ... import`
inside stages/ and unimse_core/ is followed transitively, imports inside functions and relative
imports included, and so are the packages' __init__.py files that Python runs on the way. A
module is covered when a dep names its file or a folder that holds it.

The params are derived from the stage module too: the groups it loads (`load_groups(params,
group=Config, ...)` or `load_config(Config, "group", ...)`; `read_params` or `check_params` read the
whole file) and, per group, the keys
it reads as attributes of the loaded config (a property counts for the fields it reads). A config
handed whole to another function counts as the whole group, unless HAND_CHECKED below names the
keys that the functions it goes to read (kept by hand: the reason is written next to each entry).
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stages", "unimse_core")
WHOLE_FILE = "params.yaml:"

# (stage, group) -> the keys read where the stage hands the group's config whole to a core function.
HAND_CHECKED: dict[tuple[str, str], tuple[str, ...]] = {
    # evaluation.evaluate_tests -> data.make_loader(train=False): batch_size and drop_last are read for
    # training only; max_target_tokens truncates the tokenized targets, which generation never reads
    # (the predictions table holds the merged file's target strings), so no output depends on them.
    ("evaluate", "loader"): ("eval_batch_size", "max_input_tokens", "bucket_size", "num_workers", "mmap_over_mib"),
}


# ----------------------------------------------------------------------------------------------
# imports


def module_file(root: Path, name: str) -> Path | None:
    """The file (relative to `root`) of the module or package `name`, or None outside stages/ and unimse_core/."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = Path(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if (root / candidate).is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(root: Path, path: Path) -> Iterator[str]:
    """Every module name that the file `path` imports (anywhere in it), relative imports resolved."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse((root / path).read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module or ""
            yield base
            for alias in node.names:  # `from pkg import module` imports a module too
                yield f"{base}.{alias.name}"


def with_packages(name: str) -> Iterator[str]:
    """`a.b.c` and the packages Python imports first: a, a.b."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def import_closure(root: Path, entry: Path) -> dict[Path, Path | None]:
    """{file: the file that first imports it} of everything `entry` imports, transitively (entry: None)."""
    found: dict[Path, Path | None] = {}
    queue: list[tuple[Path, Path | None]] = [(entry, None)]
    for name in with_packages(module_name(entry)):
        queue.append((module_file(root, name), entry))
    while queue:
        path, parent = queue.pop(0)
        if path is None or path in found:
            continue
        found[path] = parent
        for name in imported_modules(root, path):
            for package in with_packages(name):
                queue.append((module_file(root, package), path))
    return found


def chain(found: dict[Path, Path | None], path: Path) -> str:
    steps = [path]
    while found[steps[-1]] is not None:
        steps.append(found[steps[-1]])
    return " -> ".join(p.as_posix() for p in reversed(steps))


# ----------------------------------------------------------------------------------------------
# dvc.yaml


def stages(root: Path) -> dict[str, dict]:
    """dvc.yaml's stages, a foreach stage by its `do` template."""
    loaded = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return {name: stage.get("do", stage) for name, stage in loaded.items()}


def commands(root: Path) -> dict[str, str]:
    """stages/cli.py's COMMANDS as {command: module}, read without importing it."""
    for node in ast.parse((root / "stages" / "cli.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "COMMANDS":
            return {name: module for name, (module, _summary) in ast.literal_eval(node.value).items()}
    raise AssertionError("stages/cli.py has no COMMANDS")


def entry_module(root: Path, stage: str, cmd: str) -> Path:
    words = cmd.split()
    assert words[0] == "unimse", f"stage {stage}: cmd {cmd!r} does not run `unimse <command>`"
    path = module_file(root, commands(root)[words[1]])
    assert path is not None, f"stage {stage}: no module for command {words[1]!r}"
    return path


def covered(path: Path, deps: list[str]) -> bool:
    text = path.as_posix()
    return any(text == d.rstrip("/") or text.startswith(d.rstrip("/") + "/") for d in deps)


def missing_deps(root: Path) -> list[str]:
    """One line per (stage, imported module) that the stage's deps do not cover."""
    problems = []
    for name, stage in stages(root).items():
        deps = [d for d in stage.get("deps", []) if isinstance(d, str)]
        found = import_closure(root, entry_module(root, name, stage["cmd"]))
        for path in sorted(found):
            if not covered(path, deps):
                problems.append(f"stage {name}: deps miss {path.as_posix()} (imported: {chain(found, path)})")
    return problems


# ----------------------------------------------------------------------------------------------
# params


def config_fields(root: Path) -> dict[str, dict[str, set[str]]]:
    """{config class: {attribute: the fields it reads}} from unimse_core/config.py: a field reads
    itself, a property or method the `self.<field>` it uses."""
    classes = {}
    for node in ast.parse((root / "unimse_core" / "config.py").read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields = {s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
        reads = {f: {f} for f in fields}
        for s in node.body:
            if isinstance(s, ast.FunctionDef):
                reads[s.name] = {n.attr for n in ast.walk(s) if isinstance(n, ast.Attribute)
                                 and isinstance(n.value, ast.Name) and n.value.id == "self" and n.attr in fields}
        classes[node.name] = reads
    return classes


def params_read(root: Path, stage: str, entry: Path) -> set[str]:
    """The params entries that the stage module `entry` reads, as dvc.yaml writes them."""
    tree = ast.parse((root / entry).read_text(encoding="utf-8"))
    classes = config_fields(root)
    bound: dict[str, tuple[str, str]] = {}  # variable -> (group, config class)
    whole_file = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("read_params", "check_params"):
            whole_file = True
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and getattr(node.value.func, "id", None) == "load_groups":
            target = node.targets[0]
            names = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
            for var, keyword in zip(names, node.value.keywords, strict=True):
                bound[var.id] = (keyword.arg, keyword.value.id)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and getattr(node.value.func, "id", None) == "load_config":  # config = load_config(Cls, "group", ...)
            cls, group = node.value.args[:2]
            bound[node.targets[0].id] = (group.value, cls.id)
    if whole_file:
        return {WHOLE_FILE}
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    keys: dict[str, set[str] | None] = {group: set() for group, _cls in bound.values()}  # None: the whole group
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and node.id in bound and isinstance(node.ctx, ast.Load)):
            continue
        group, cls = bound[node.id]
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            if keys[group] is not None:
                keys[group] |= classes[cls][parent.attr]
        else:
            keys[group] = None  # handed whole to a function
    out = set()
    for group, read in keys.items():
        cls = next(c for g, c in bound.values() if g == group)
        fields = {f for f, r in classes[cls].items() if r == {f}}
        if read is None and (stage, group) in HAND_CHECKED:
            read = set(HAND_CHECKED[stage, group])
        if read is None or read == fields:
            out.add(group)
        else:
            out |= {f"{group}.{key}" for key in read}
    return out


def listed_params(stage: dict) -> set[str]:
    out = set()
    for entry in stage.get("params", []):
        if isinstance(entry, dict):
            out |= {f"{file}:" if not keys else f"{file}:{k}" for file, keys in entry.items() for k in (keys or [None])}
        else:
            out.add(entry)
    return out


def wrong_params(root: Path) -> list[str]:
    problems = []
    for name, stage in stages(root).items():
        read = params_read(root, name, entry_module(root, name, stage["cmd"]))
        listed = listed_params(stage)
        if read != listed:
            problems.append(f"stage {name}: params list {sorted(listed)}, but the stage reads {sorted(read)}")
    return problems


# ----------------------------------------------------------------------------------------------
# tests


def test_every_stage_lists_the_modules_it_imports():
    assert missing_deps(ROOT) == []


def test_every_stage_lists_exactly_the_params_it_reads():
    assert wrong_params(ROOT) == []


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """dvc.yaml, stages/ and unimse_core/ in a temporary folder, to break on purpose."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _remove_dep(root: Path, stage: str, dep: str) -> None:
    """dvc.yaml of `root` without `dep` in `stage`'s deps (rewritten through YAML: comments go)."""
    path = root / "dvc.yaml"
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    deps = loaded["stages"][stage]["deps"]
    assert dep in deps, f"{dep} is not a dep of {stage}"
    deps.remove(dep)
    path.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")


def test_a_removed_dep_is_reported_with_its_stage_and_module(project_copy: Path):
    assert missing_deps(project_copy) == []
    _remove_dep(project_copy, "tokenizer", "unimse_core/tokenizer.py")
    assert missing_deps(project_copy) == [
        "stage tokenizer: deps miss unimse_core/tokenizer.py "
        "(imported: stages/tokenizer.py -> unimse_core/tokenizer.py)"]


def test_a_removed_package_init_is_reported_too(project_copy: Path):
    _remove_dep(project_copy, "check", "unimse_core/io/__init__.py")
    assert missing_deps(project_copy) == [
        "stage check: deps miss unimse_core/io/__init__.py (imported: stages/check.py -> unimse_core/io/__init__.py)"]


def test_a_new_import_inside_a_function_is_followed_transitively(project_copy: Path):
    # a lazy, relative import one module down from the merge stage, of a module merge does not list
    hdf5 = project_copy / "unimse_core" / "io" / "hdf5.py"
    hdf5.write_text(hdf5.read_text(encoding="utf-8") + "\n\ndef _later():\n    from . import download\n",
                    encoding="utf-8")
    problems = missing_deps(project_copy)
    assert ("stage merge: deps miss unimse_core/io/download.py "
            "(imported: stages/merge.py -> unimse_core/io/hdf5.py -> unimse_core/io/download.py)") in problems
    assert {p.split(":")[0] for p in problems} == {"stage merge", "stage tokenizer", "stage train", "stage evaluate"}


def test_a_folder_dep_covers_the_modules_inside_it(project_copy: Path):
    (project_copy / "unimse_core" / "io" / "new_format.py").write_text("", encoding="utf-8")
    _edit(project_copy / "stages" / "fetch.py", "\nimport click\n", "\nimport click\n\nimport unimse_core.io.new_format\n")
    assert missing_deps(project_copy) == []  # fetch lists the folder unimse_core/io


def test_a_whole_group_is_wrong_where_the_stage_reads_one_key(project_copy: Path):
    assert wrong_params(project_copy) == []
    path = project_copy / "dvc.yaml"
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    loaded["stages"]["tokenizer"]["params"] = ["model", "tokenizer"]
    path.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    assert wrong_params(project_copy) == [
        "stage tokenizer: params list ['model', 'tokenizer'], but the stage reads ['model.backbone', 'tokenizer']"]


def test_a_key_read_by_the_stage_and_not_listed_is_reported(project_copy: Path):
    _edit(project_copy / "stages" / "tokenizer.py", "source = f\"the tokenizer of {model.backbone}\"",
          "source = f\"the tokenizer of {model.backbone} ({model.d_model})\"")
    assert wrong_params(project_copy) == [
        "stage tokenizer: params list ['model.backbone', 'tokenizer'], "
        "but the stage reads ['model.backbone', 'model.d_model', 'tokenizer']"]


def test_a_group_loaded_with_load_config_counts_too(project_copy: Path):
    _edit(project_copy / "stages" / "tokenizer.py", "    model, config = load_groups(",
          "    merge = load_config(MergeConfig, \"merge\", params)\n    print(merge.seed)\n    model, config = load_groups(")
    assert wrong_params(project_copy) == [
        "stage tokenizer: params list ['model.backbone', 'tokenizer'], "
        "but the stage reads ['merge.seed', 'model.backbone', 'tokenizer']"]


def test_a_property_counts_for_the_fields_it_reads():
    # MergeConfig.datasets is a property of `combination`; LoaderConfig.mmap_over_bytes of `mmap_over_mib`
    classes = config_fields(ROOT)
    assert classes["MergeConfig"]["datasets"] == {"combination"}
    assert classes["LoaderConfig"]["mmap_over_bytes"] == {"mmap_over_mib"}


def test_bytecode_caches_in_a_folder_dep_are_ignored_by_dvc():
    # Python writes __pycache__ into the source folders that stages list (unless
    # PYTHONDONTWRITEBYTECODE is set): were they hashed, a fresh clone's dvc.lock would change.
    import subprocess
    import sys

    folders = sorted({dep for stage in stages(ROOT).values() for dep in stage.get("deps", [])
                      if isinstance(dep, str) and (ROOT / dep).is_dir()})
    assert "unimse_core/datasets" in folders
    caches = [f"{folder}/{name}" for folder in folders
              for name in ("__pycache__/base.cpython-311.pyc", "__pycache__/x.cpython-313.pyc", "x.pyc")]
    dvc = Path(sys.executable).with_name("dvc")
    run = subprocess.run([str(dvc), "check-ignore", *caches], cwd=ROOT, capture_output=True, text=True)
    assert sorted(run.stdout.split()) == sorted(caches), run.stderr
    # and a source file is not ignored
    run = subprocess.run([str(dvc), "check-ignore", "unimse_core/datasets/base.py"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.stdout.strip() == "" and run.returncode == 1
