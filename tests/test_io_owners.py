"""One owner per file format: the model folder (unimse_core/io/model_folder.py) and the verification
report (unimse_core/io/verification.py) are written, read and validated in one module each."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import small_synthetic_params
from unimse_core.io import model_folder, verification
from unimse_core.io.errors import RawDataError

ROOT = Path(__file__).resolve().parents[1]

# The keys of data/verified.json in the order the fetch stage wrote them before this module owned them
# (read off the committed pipeline's data/verified.json).
FETCH_REPORT_KEYS = ["schema", "ok", "source", "raw_dir", "manifest", "text_only", "downloaded", "files", "datasets",
                     "problems"]


# ----------------------------------------------------------------------------------------------
# model folder


def _complete(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("unimse.json", "unimse.safetensors", "config.json", "model.safetensors", "tokenizer_config.json",
                 "tokenizer.json"):
        (folder / name).write_text("{}")
    return folder


def test_check_model_folder_names_the_first_missing_file_and_its_alternatives(tmp_path):
    folder = _complete(tmp_path / "model")
    model_folder.check_model_folder(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError) as err:
        model_folder.check_model_folder(folder)
    assert str(err.value) == (f"{folder / 'model.safetensors'}: missing model file (or model.safetensors.index.json, "
                              "pytorch_model.bin); expected a folder written by the train stage")
    (folder / "pytorch_model.bin").write_text("")  # an older T5 weight file is accepted
    model_folder.check_model_folder(folder)
    (folder / "unimse.json").unlink()
    with pytest.raises(FileNotFoundError, match="unimse.json: missing model file; expected"):
        model_folder.check_model_folder(folder)
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        model_folder.check_model_folder(tmp_path / "absent")


def test_unimse_json_round_trips_and_another_schema_is_refused_naming_the_file(tmp_path):
    model_folder.write_extra_config(tmp_path, {"d_model": 8}, {"torch": "x"})
    text = (tmp_path / "unimse.json").read_text()
    assert text == ('{\n  "format": "unimse-model",\n  "model": {\n    "d_model": 8\n  },\n  "schema_version": 1,\n'
                    '  "versions": {\n    "torch": "x"\n  }\n}\n')
    assert model_folder.read_extra_config(tmp_path)["model"] == {"d_model": 8}
    (tmp_path / "unimse.json").write_text(json.dumps({"format": "unimse-model", "schema_version": 2, "model": {}}))
    with pytest.raises(ValueError) as err:
        model_folder.read_extra_config(tmp_path)
    assert str(err.value) == (f"{tmp_path / 'unimse.json'}: not a unimse-model checkpoint of schema 1 "
                              "(format 'unimse-model', schema 2)")
    (tmp_path / "unimse.json").write_text("[1, 2")
    with pytest.raises(ValueError, match=r"unimse\.json: not valid JSON"):
        model_folder.read_extra_config(tmp_path)


def test_run_json_is_written_as_before_and_checked_when_read(tmp_path):
    model_folder.write_run(tmp_path, {"run_id": "r1", "world_size": 1})
    assert (tmp_path / "run.json").read_text() == '{\n  "run_id": "r1",\n  "world_size": 1\n}\n'
    assert model_folder.read_run(tmp_path) == {"run_id": "r1", "world_size": 1}
    (tmp_path / "run.json").write_text("[]")
    with pytest.raises(ValueError, match=r"run\.json: not a run description: expected a JSON object, got list"):
        model_folder.read_run(tmp_path)
    (tmp_path / "run.json").write_text('{"configs": [1]}')
    with pytest.raises(ValueError, match='"configs" must be an object'):
        model_folder.read_run(tmp_path)
    (tmp_path / "run.json").unlink()
    assert model_folder.read_run(tmp_path) is None
    with pytest.raises(FileNotFoundError) as err:
        model_folder.read_run(tmp_path, required=True)
    assert err.value.filename == str(tmp_path / "run.json")


def test_run_json_records_the_label_layout_and_checks_it_when_read(tmp_path):
    model_folder.write_run(tmp_path, {"run_id": "r1", "label_layout": ["mosi", "emorynlp"]})
    assert model_folder.run_label_layout(model_folder.read_run(tmp_path)) == ("mosi", "emorynlp")
    assert model_folder.run_label_layout({"run_id": "r0"}) is None  # a run.json from before the record
    assert model_folder.run_label_layout(None) is None  # no run.json
    (tmp_path / "run.json").write_text('{"label_layout": "mosi"}')
    with pytest.raises(ValueError, match=r"run\.json: not a run description: \"label_layout\" must be a list"):
        model_folder.read_run(tmp_path)
    (tmp_path / "run.json").write_text('{"label_layout": ["mosi", 3]}')
    with pytest.raises(ValueError, match="must be a list of dataset names, got \\['mosi', 3\\]"):
        model_folder.read_run(tmp_path)


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings}


def test_no_module_but_the_owner_spells_a_file_name_of_the_model_folder():
    # the folder's own files (T5's are Hugging Face's names, which a sentence encoder's folder shares)
    names = {model_folder.EXTRA_CONFIG, model_folder.EXTRA_WEIGHTS, model_folder.RUN_FILE}
    owner = ROOT / "unimse_core" / "io" / "model_folder.py"
    spelt = {path.relative_to(ROOT).as_posix(): sorted(_string_constants(path) & names)
             for package in ("stages", "unimse_core") for path in sorted((ROOT / package).rglob("*.py"))
             if path != owner}
    assert {p: n for p, n in spelt.items() if n} == {}


# ----------------------------------------------------------------------------------------------
# verification report


def _report(**changes) -> dict:
    result = verification.checked([], {}, [])
    report = verification.fetch_report(result, source="synthetic", raw_dir=Path("data/synthetic"),
                                       manifest_name="synthetic", manifest_path=Path("data/synthetic/manifest.json"),
                                       text_only=False, downloaded=[])
    return {**report, **changes}


def test_the_fetch_report_keeps_its_keys_and_their_order():
    report = _report()
    assert list(report) == FETCH_REPORT_KEYS == list(verification.KEYS)
    assert report["manifest"] == {"name": "synthetic", "path": "data/synthetic/manifest.json"}
    assert report["schema"] == 1 and report["ok"] is True


def test_a_report_of_another_schema_version_is_refused_naming_file_and_versions(tmp_path):
    path = tmp_path / "verified.json"
    path.write_text(json.dumps(_report(schema=2)))
    with pytest.raises(RawDataError) as err:
        verification.read_report(path)
    assert str(err.value) == (f"{path}: a verification report of schema 2; this code reads schema 1: rerun the "
                              "fetch stage (dvc repro fetch) to rewrite it")
    path.write_text(json.dumps({k: v for k, v in _report().items() if k != "schema"}))
    with pytest.raises(RawDataError, match="of schema None; this code reads schema 1"):
        verification.read_report(path)


def test_a_missing_or_mistyped_key_is_named(tmp_path):
    path = tmp_path / "verified.json"
    path.write_text(json.dumps({k: v for k, v in _report().items() if k != "files"}))
    with pytest.raises(RawDataError, match=r"verified\.json: missing key 'files' of the verification report"):
        verification.read_report(path)
    path.write_text(json.dumps(_report(ok="yes")))
    with pytest.raises(RawDataError, match="key 'ok' of the verification report must be bool, got str"):
        verification.read_report(path)
    path.write_text(json.dumps(_report(schema=True)))
    with pytest.raises(RawDataError, match="schema True"):
        verification.read_report(path)
    path.write_text("{")
    with pytest.raises(RawDataError, match=r"verified\.json: not valid JSON"):
        verification.read_report(path)
    with pytest.raises(RawDataError, match="verification report not found; run the fetch stage"):
        verification.read_report(tmp_path / "absent.json")


def test_with_problems_puts_new_problems_first_and_adds_keys_at_the_end():
    report = verification.checked([{"path": "a"}], {}, ["old"])
    out = verification.with_problems(report, ["new"], unlisted=[{"path": "b"}])
    assert list(out) == ["schema", "ok", "files", "datasets", "problems", "unlisted"]
    assert out["problems"] == ["new", "old"] and out["ok"] is False
    assert verification.with_problems(verification.checked([], {}, []), [])["ok"] is True


def test_the_stages_refuse_a_report_of_another_schema(tmp_path):
    from stages.preprocess import command as preprocess

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(small_synthetic_params()))
    report = tmp_path / "verified.json"
    report.write_text(json.dumps(_report(schema=7)))
    result = CliRunner().invoke(preprocess, ["--dataset", "mosi", "--report", str(report), "--labels",
                                             str(tmp_path / "mosi.csv"), "--out", str(tmp_path / "mosi.h5"),
                                             "--params", str(tmp_path / "params.yaml")])
    assert result.exit_code != 0 and f"{report}: a verification report of schema 7" in result.output
    assert not (tmp_path / "mosi.h5").exists()
    from unimse_core.release import label_tables

    with pytest.raises(RawDataError, match="schema 7; this code reads schema 1"):
        label_tables(report, ["mosi"], text_only=True)


def test_the_fetch_stage_writes_a_report_that_reads_back(tmp_path, small_release):
    from stages.fetch import command as fetch

    shutil.copytree(small_release, tmp_path / "synthetic")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(small_synthetic_params()))
    args = ["--synthetic-dir", tmp_path / "synthetic", "--synthetic-manifest", tmp_path / "synthetic" / "manifest.json",
            "--local-dir", tmp_path / "raw", "--manifest", tmp_path / "synthetic" / "manifest.json",
            "--report", tmp_path / "verified.json", "--params", tmp_path / "params.yaml"]
    result = CliRunner().invoke(fetch, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    report = verification.read_report(tmp_path / "verified.json")
    assert list(report) == FETCH_REPORT_KEYS and report["raw_dir"] == (tmp_path / "synthetic").as_posix()
