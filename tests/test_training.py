"""The training loop and the train stage on a tiny model (CPU): kill-and-resume with a real process,
the resume rule, checkpoint selection and early stopping, and dev evaluation.

The subprocess tests run the `unimse` console script with one thread each (tests/tiny_training.py);
the rest run in this process, through click's CliRunner or `training.train` itself.
"""

from __future__ import annotations

import dataclasses
import csv
import json
import signal
import subprocess
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import stages.train
from stages.train import command as train_stage
from tiny_training import (assert_identical, comparable, params, quiet_env, selected_weights, split, stage_options,
                           unimse_script, write_inputs, write_params)
from unimse_core import training
from unimse_core.datasets import PAPER_DATASETS
from unimse_core.config import LoaderConfig, ModelConfig, TrainConfig, from_dict
from unimse_core.metrics import primary
from unimse_core.model import build_model
from unimse_core.tokenizer import load_tokenizer

RUN_TIMEOUT_S = 240  # one tiny run takes about 10 s, most of it imports


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A merged file WITHOUT test groups (training must not need them) and its tokenizer."""
    return write_inputs(tmp_path_factory.mktemp("inputs"), train_rows=8, dev_rows=4, test_groups=False)


@pytest.fixture(autouse=True)
def torch_settings():
    """One thread (the tiny model runs several times faster so on shared cores), and this process's
    settings back afterwards: `training.train` turns on deterministic algorithms on the CPU."""
    threads = torch.get_num_threads()
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


# ----------------------------------------------------------------------------------------------
# helpers


def tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def logged_steps(path: Path) -> list[int]:
    """Steps of a dvclive tsv that a running process may be appending to (a partial last line is skipped)."""
    if not path.exists():
        return []
    steps = []
    for line in path.read_text().splitlines()[1:]:
        field = line.split("\t")[0]
        if field.isdigit() and "\t" in line:
            steps.append(int(field))
    return steps


def invoke(options: list[str]):
    result = CliRunner().invoke(train_stage, options)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return json.loads(Path(options[options.index("--summary") + 1]).read_text())


# ----------------------------------------------------------------------------------------------
# kill and resume, a real process


@pytest.mark.slow
def test_a_run_killed_mid_epoch_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    inputs = write_inputs(tmp_path / "inputs", train_rows=40, dev_rows=6)
    steps_per_epoch = 80 // 2
    groups = {"loader": {"batch_size": 2}}

    def command(work: Path) -> list[str]:
        work.mkdir()
        return [str(unimse_script()), "train", *stage_options(inputs, work, write_params(work / "params.yaml",
                                                                                         **groups))]

    killed, fresh = tmp_path / "killed", tmp_path / "fresh"
    killed_command = command(killed)
    last = killed / "checkpoints" / training.CHECKPOINT
    loss = killed / "live" / "plots" / "metrics" / "train" / "loss.tsv"
    logs = {name: tmp_path / f"{name}.log" for name in ("killed", "fresh", "resumed")}
    with logs["fresh"].open("w") as fresh_log, logs["killed"].open("w") as killed_log:
        # The uninterrupted run goes alongside the one to be killed (one thread each, two cores).
        uninterrupted = subprocess.Popen(command(fresh), env=quiet_env(), stdout=fresh_log, stderr=subprocess.STDOUT)
        victim = subprocess.Popen(killed_command, env=quiet_env(), stdout=killed_log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            # SIGKILL a quarter into epoch 2: epoch 1's checkpoint is written and epoch 2 has logged steps.
            while not (last.exists() and max(logged_steps(loss), default=0) >= steps_per_epoch * 5 // 4):
                assert victim.poll() is None, f"the run ended before it was killed:\n{logs['killed'].read_text()}"
                assert time.monotonic() < deadline, "the run did not reach epoch 2 in time"
                time.sleep(0.005)
            victim.send_signal(signal.SIGKILL)
            assert victim.wait(timeout=30) == -signal.SIGKILL
            assert uninterrupted.wait(timeout=RUN_TIMEOUT_S) == 0, logs["fresh"].read_text()
        finally:
            for process in (victim, uninterrupted):
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=30)
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    assert checkpoint["state"]["epoch"] == 1, "not killed in epoch 2"
    assert steps_per_epoch < max(logged_steps(loss)) < 2 * steps_per_epoch, "not killed in the middle of epoch 2"
    assert not (killed / "selected").exists() and not (killed / "train.json").exists()

    with logs["resumed"].open("w") as resumed_log:
        rerun = subprocess.run(killed_command, env=quiet_env(), stdout=resumed_log, stderr=subprocess.STDOUT,
                               timeout=RUN_TIMEOUT_S)
    assert rerun.returncode == 0, logs["resumed"].read_text()

    assert_identical(selected_weights(killed / "selected"), selected_weights(fresh / "selected"))
    final = [torch.load(w / "checkpoints" / training.CHECKPOINT, map_location="cpu", weights_only=False)
             for w in (killed, fresh)]
    assert_identical(final[0]["model"], final[1]["model"])  # the last epoch's weights too, not only the selected
    assert comparable(final[0]["state"]) == comparable(final[1]["state"])  # step, epoch, best, history

    resumed, uninterrupted_summary = (json.loads((w / "train.json").read_text()) for w in (killed, fresh))
    for key in ("best_epoch", "best_select", "epochs_run", "steps", "dev"):
        assert resumed[key] == uninterrupted_summary[key], key
    assert resumed["steps"] == 3 * steps_per_epoch and resumed["epochs_run"] == 3

    # dvclive is rebuilt from the history: no step twice, the same rows as the uninterrupted run.
    rows = {w: tsv(w / "live" / "plots" / "metrics" / "train" / "loss.tsv") for w in (killed, fresh)}
    steps = [int(r["step"]) for r in rows[killed]]
    assert steps == sorted(set(steps)) == list(range(1, 3 * steps_per_epoch + 1))
    assert [(r["step"], r["loss"]) for r in rows[killed]] == [(r["step"], r["loss"]) for r in rows[fresh]]

    # The selected epoch is the first argmax of the logged dev scalar.
    select = tsv(fresh / "live" / "plots" / "metrics" / "dev" / "select.tsv")
    values = [float(r["select"]) for r in select]
    assert len(values) == 3
    assert uninterrupted_summary["best_epoch"] == int(np.argmax(values)) + 1
    assert uninterrupted_summary["best_select"] == pytest.approx(max(values))


# ----------------------------------------------------------------------------------------------
# the resume rule, through the stage in this process


def test_a_checkpoint_of_another_run_is_not_resumed_and_test_sets_are_never_read(inputs, tmp_path, monkeypatch):
    read = []
    real_read_h5 = stages.train.read_h5

    def recording_read_h5(path, group, **kwargs):
        assert not group.startswith("test"), f"the train stage read {group}"
        read.append(group)
        return real_read_h5(path, group, **kwargs)

    monkeypatch.setattr(stages.train, "read_h5", recording_read_h5)
    one_epoch = {"epochs": 1}
    a_params = write_params(tmp_path / "a.yaml", train=one_epoch)
    b_params = write_params(tmp_path / "b.yaml", train={**one_epoch, "lr_t5": 0.001, "lr_other": 0.001})
    shared, alone = tmp_path / "shared", tmp_path / "alone"

    summary_a = invoke(stage_options(inputs, shared, a_params))
    weights_a = selected_weights(shared / "selected")
    run_a = json.loads((shared / "selected" / "run.json").read_text())["run_id"]
    # the merged file records no layout (written as before the registry): the model's is the paper's
    assert json.loads((shared / "selected" / "run.json").read_text())["label_layout"] == list(PAPER_DATASETS)
    assert read == ["train", "valid"]

    # The same run again: resumed from its finished checkpoint, nothing is trained or evaluated.
    with monkeypatch.context() as patch:
        patch.setattr(training, "evaluate", lambda *a, **k: pytest.fail("a finished run evaluated again"))
        again = invoke(stage_options(inputs, shared, a_params))
    assert {**again, "seconds_this_run": 0} == {**summary_a, "seconds_this_run": 0}
    assert_identical(selected_weights(shared / "selected"), weights_a)

    # Another learning rate: the old checkpoint and selected model are discarded, training starts over.
    summary_b = invoke(stage_options(inputs, shared, b_params))
    assert summary_b["epochs_run"] == 1 and summary_b["steps"] == summary_a["steps"]
    run_b = json.loads((shared / "selected" / "run.json").read_text())["run_id"]
    state = torch.load(shared / "checkpoints" / training.CHECKPOINT, map_location="cpu", weights_only=False)["state"]
    assert state["fingerprint"] == run_b != run_a
    assert len([e for e in state["history"] if "epoch" in e]) == 1
    weights_b = selected_weights(shared / "selected")
    assert any(not torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    invoke(stage_options(inputs, alone, b_params))
    assert_identical(selected_weights(alone / "selected"), weights_b)
    assert set(read) == {"train", "valid"}


# ----------------------------------------------------------------------------------------------
# selection and early stopping, with scripted dev values


def configs(**train_changes) -> tuple[ModelConfig, TrainConfig, LoaderConfig]:
    values = params(train={"epochs": 5, "log_every": 1, **train_changes})
    return (from_dict(ModelConfig, values["model"], "model"), from_dict(TrainConfig, values["train"], "train"),
            from_dict(LoaderConfig, values["loader"], "loader"))


class ScriptedDev:
    """Stands in for `training.evaluate`: the k-th call returns the k-th scripted value as MOSI's
    Acc-7 (select_on dev_metric) and its negative as the dev loss (select_on dev_loss)."""

    def __init__(self, values: list[float]):
        self.values, self.calls = values, 0

    def __call__(self, model, arrays, tokenizer, loader_config, rt, *, max_new_tokens, schema=None):
        value = self.values[self.calls]
        self.calls += 1
        return {"mosi": {"Mult_acc_7": value, "unparsable": 0}}, -value, []


def run_train(inputs: Path, checkpoints: Path, train_config: TrainConfig, model_config: ModelConfig,
              loader_config: LoaderConfig) -> training.State:
    """One `training.train` call as the stage makes it: seed, build, train."""
    tokenizer = load_tokenizer(inputs / "tokenizer")
    training.seed_everything(train_config.seed)
    model = build_model(model_config, tokenizer)
    return training.train(model, tokenizer, split({"mosi": 4, "meld": 4}, seed=1), split({"mosi": 2}, seed=2),
                          config=train_config, loader_config=loader_config, checkpoints=checkpoints,
                          run_id=training.fingerprint(train_config))


@pytest.mark.parametrize("values, select_on, patience, best_epoch, epochs_run", [
    ([0.2, 0.5, 0.4, 0.6, 0.1], "dev_metric", 0, 4, 5),
    ([0.2, 0.5, 0.4, 0.6, 0.1], "dev_metric", 1, 2, 3),   # stops after the first epoch without improvement
    ([0.2, 0.5, 0.4, 0.3, 0.7], "dev_metric", 2, 2, 4),
    ([0.5, 0.5, 0.5, 0.5, 0.5], "dev_metric", 0, 1, 5),   # a tie is no improvement: the earlier epoch stays
    ([0.2, 0.5, 0.4, 0.6, 0.1], "dev_loss", 0, 4, 5),     # the loss here is -value: the lowest loss wins
])
def test_the_best_epoch_is_the_argmax_of_the_dev_scalar_and_patience_stops(inputs, tmp_path, monkeypatch, values,
                                                                          select_on, patience, best_epoch,
                                                                          epochs_run):
    dev = ScriptedDev(values)
    monkeypatch.setattr(training, "evaluate", dev)
    model_config, train_config, loader_config = configs(select_on=select_on, patience=patience)
    state = run_train(inputs, tmp_path / "checkpoints", train_config, model_config, loader_config)

    epochs = [e for e in state.history if "epoch" in e]
    assert [e["epoch"] for e in epochs] == list(range(1, epochs_run + 1)) and state.epoch == dev.calls == epochs_run
    assert [e["dev/select"] for e in epochs] == pytest.approx(values[:epochs_run])
    assert state.best_epoch == best_epoch == int(np.argmax([e["dev/select"] for e in epochs])) + 1
    assert state.step == epochs_run * 2  # 8 rows, batches of 4
    saved = json.loads((tmp_path / "checkpoints" / training.BEST / training.DEV_METRICS).read_text())
    assert saved["epoch"] == best_epoch and saved["select"] == pytest.approx(values[best_epoch - 1])

    # Resumed after its early stop (say, killed before the stage wrote its outputs): nothing more runs.
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: pytest.fail("evaluated after the early stop"))
    again = run_train(inputs, tmp_path / "checkpoints", train_config, model_config, loader_config)
    assert (again.epoch, again.step, again.best_epoch) == (state.epoch, state.step, state.best_epoch)


def test_a_checkpoint_made_under_another_pin_is_not_resumed(inputs, tmp_path, monkeypatch):
    from unimse_core import determinism

    monkeypatch.setenv("MKL_CBWR", determinism.PINNED_ENV["MKL_CBWR"])  # restored after the test
    one_epoch = write_params(tmp_path / "p.yaml", train={"epochs": 1})
    invoke(stage_options(inputs, tmp_path / "run", one_epoch))
    run_a = json.loads((tmp_path / "run" / "selected" / "run.json").read_text())
    # The same params and inputs under another MKL branch (the pin before 2026-12-02, docs/training.md):
    # other kernels, so the finished checkpoint is another run's and training starts over.
    monkeypatch.setitem(determinism.PINNED_ENV, "MKL_CBWR", "AVX2,STRICT")
    evaluated = []
    real_evaluate = training.evaluate
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: evaluated.append(1) or real_evaluate(*a, **k))
    invoke(stage_options(inputs, tmp_path / "run", one_epoch))
    run_b = json.loads((tmp_path / "run" / "selected" / "run.json").read_text())
    assert run_a["numerics"]["pinned"]["MKL_CBWR"] == "COMPATIBLE,STRICT"
    assert run_b["numerics"]["pinned"]["MKL_CBWR"] == "AVX2,STRICT"
    assert run_b["run_id"] != run_a["run_id"]
    assert evaluated, "the checkpoint of the other pin was resumed instead of training again"


def test_a_crash_between_the_best_model_and_the_checkpoint_resumes_to_the_same_weights(inputs, tmp_path,
                                                                                        monkeypatch):
    """The window a SIGKILL can hit at the end of an epoch: the best model written, the checkpoint not."""
    model_config, train_config, loader_config = configs(epochs=3)
    monkeypatch.setattr(training, "evaluate", ScriptedDev([0.1, 0.2, 0.3]))
    uninterrupted = run_train(inputs, tmp_path / "fresh", train_config, model_config, loader_config)

    real_save = training.save_checkpoint

    def crash_in_epoch_2(folder, state, *args, **kwargs):
        if state.epoch == 2:
            raise KeyboardInterrupt("killed")
        real_save(folder, state, *args, **kwargs)

    monkeypatch.setattr(training, "evaluate", ScriptedDev([0.1, 0.2]))
    monkeypatch.setattr(training, "save_checkpoint", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_train(inputs, tmp_path / "crashed", train_config, model_config, loader_config)
    dev = json.loads((tmp_path / "crashed" / training.BEST / training.DEV_METRICS).read_text())
    assert dev["epoch"] == 2  # epoch 2's model is already selected, its checkpoint missing

    monkeypatch.setattr(training, "save_checkpoint", real_save)
    monkeypatch.setattr(training, "evaluate", ScriptedDev([0.2, 0.3]))  # epochs 2 and 3 again
    resumed = run_train(inputs, tmp_path / "crashed", train_config, model_config, loader_config)
    assert comparable(resumed.__dict__) == comparable(uninterrupted.__dict__)
    assert_identical(selected_weights(tmp_path / "crashed" / training.BEST),
                     selected_weights(tmp_path / "fresh" / training.BEST))
    final = [torch.load(tmp_path / w / training.CHECKPOINT, map_location="cpu", weights_only=False)["model"]
             for w in ("crashed", "fresh")]
    assert_identical(*final)


# ----------------------------------------------------------------------------------------------
# evaluate


@pytest.fixture
def dev_setup(inputs):
    tokenizer = load_tokenizer(inputs / "tokenizer")
    model_config, train_config, loader_config = configs()
    torch.manual_seed(0)
    model = build_model(model_config, tokenizer)
    return model, tokenizer, loader_config, training.runtime(train_config)


def test_evaluate_scores_every_dataset_of_the_dev_split_and_counts_unparsable(dev_setup, monkeypatch):
    model, tokenizer, loader_config, rt = dev_setup
    dev = split({"mosi": 5, "meld": 3}, seed=7)
    garbage = [0, *tokenizer("thing the thing", add_special_tokens=False)["input_ids"], 1]

    def generate(batch, max_new_tokens):
        return torch.tensor([garbage] * len(batch["index"]))

    monkeypatch.setattr(model, "generate", generate)
    metrics, loss, texts = training.evaluate(model, dev, tokenizer, loader_config, rt, max_new_tokens=8)
    assert list(metrics) == ["mosi", "meld"]
    assert texts == ["thing the thing"] * 8
    assert metrics["mosi"]["unparsable"] == 5 and metrics["meld"]["unparsable"] == 3
    # An unparsable score counts as 0.0, an unparsable class as wrong.
    assert metrics["mosi"]["MAE"] == pytest.approx(np.mean(np.abs(dev.gold_score[:5])))
    assert metrics["meld"]["acc"] == 0.0 and metrics["meld"]["weighted_f1"] == 0.0
    assert np.isfinite(loss) and loss > 0

    only_meld = split({"meld": 4}, seed=8)
    metrics, _, texts = training.evaluate(model, only_meld, tokenizer, loader_config, rt, max_new_tokens=8)
    assert list(metrics) == ["meld"] and metrics["meld"]["unparsable"] == 4 and len(texts) == 4


def test_evaluate_of_perfect_generations_selects_with_the_top_score(dev_setup, monkeypatch):
    """Generations equal to the targets (matched by the batch's row index) score perfectly."""
    model, tokenizer, loader_config, rt = dev_setup
    loader_config = from_dict(LoaderConfig, {**params()["loader"], "eval_batch_size": 3}, "loader")  # several batches
    dev = split({"meld": 4, "mosi": 6}, seed=9)
    targets = tokenizer(dev.targets)["input_ids"]

    def generate(batch, max_new_tokens):
        rows = [[0, *targets[i]] for i in batch["index"].tolist()]
        width = max(map(len, rows))
        return torch.tensor([r + [0] * (width - len(r)) for r in rows])

    monkeypatch.setattr(model, "generate", generate)
    metrics, _, texts = training.evaluate(model, dev, tokenizer, loader_config, rt, max_new_tokens=8)
    assert texts == dev.targets
    assert list(metrics) == ["meld", "mosi"]
    assert metrics["mosi"]["unparsable"] == metrics["meld"]["unparsable"] == 0
    assert metrics["mosi"]["Mult_acc_7"] == 1.0 and metrics["mosi"]["MAE"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["meld"]["weighted_f1"] == 1.0
    _, train_config, _ = configs()
    assert training.selection_value(train_config, metrics, 0.3) == 1.0
    assert training.selection_value(configs(select_on="dev_loss")[1], metrics, 0.3) == -0.3
    assert primary("meld", metrics["meld"]) == 1.0


def test_max_minutes_stops_on_the_step_that_uses_up_the_budget_and_that_epoch_is_evaluated(inputs, tmp_path,
                                                                                           monkeypatch):
    # A clock that moves 10 s per reading. 8 rows in batches of 2: 4 steps per epoch. Epoch 1 reads
    # 0 (start), 10, 20, 30, 40 (after each step: 40 s < 60 s) and 50 at its end: 50 s spent. Epoch 2
    # starts at 60; after its first step 50 + (70 - 60) = 60 s reaches the 1-minute budget: it stops
    # there (step 5), is evaluated, and the end reading 80 brings the total to 50 + 20 = 70 s.
    readings = iter(range(0, 10_000, 10))
    monkeypatch.setattr(training, "time", types.SimpleNamespace(perf_counter=lambda: float(next(readings))))
    dev = ScriptedDev([0.1, 0.2, 0.3, 0.4, 0.5])
    monkeypatch.setattr(training, "evaluate", dev)
    model_config, train_config, loader_config = configs(max_minutes=1.0)
    loader_config = dataclasses.replace(loader_config, batch_size=2)
    state = run_train(inputs, tmp_path / "checkpoints", train_config, model_config, loader_config)
    assert (state.epoch, state.step, dev.calls, state.best_epoch) == (2, 5, 2, 2)
    assert state.train_seconds == 70.0
