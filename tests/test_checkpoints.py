"""Checkpoints that cannot run code, and frozen blocks that really stay frozen (docs/training.md).

A resumable checkpoint holds only tensors, numbers, strings and containers and is read with
torch.load(weights_only=True): a crafted file that would create a file when unpickled is refused
with a message that says why, and the file is never created. With `train.trainable_blocks: [-2, -1]`
only those blocks and the UniMSE modules reach the optimiser; every other T5 weight keeps
requires_grad False, gets no gradient and is bit-identical after training.
"""

from __future__ import annotations

import dataclasses
import pathlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from tiny_training import params, split, write_inputs
from unimse_core import training
from unimse_core.config import LoaderConfig, ModelConfig, TrainConfig, from_dict
from unimse_core.model import build_model
from unimse_core.tokenizer import load_tokenizer


class _PathTouch:
    """Unpickling this calls pathlib.Path.touch(target): code that runs on load."""

    def __init__(self, target: pathlib.Path):
        self.target = target

    def __reduce__(self):
        return pathlib.Path.touch, (self.target,)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("inputs"), train_rows=4, dev_rows=2, test_groups=False)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def configs(**train: object) -> tuple[ModelConfig, TrainConfig, LoaderConfig]:
    values = params(train=dict(train))
    return (from_dict(ModelConfig, values["model"], "model"), from_dict(TrainConfig, values["train"], "train"),
            from_dict(LoaderConfig, values["loader"], "loader"))


def model_and_optimizer(inputs: Path, model_config: ModelConfig, train_config: TrainConfig):
    tokenizer = load_tokenizer(inputs / "tokenizer")
    training.seed_everything(0)
    model = build_model(model_config, tokenizer)
    groups = training.parameter_groups(model, trainable_blocks=train_config.trainable_blocks,
                                       lr_t5=train_config.lr_t5, lr_other=train_config.lr_other,
                                       weight_decay=train_config.weight_decay)
    return tokenizer, model, torch.optim.Adam(groups)


# ----------------------------------------------------------------------------------------------
# checkpoints that cannot run code


def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_never_runs(inputs, tmp_path):
    model_config, train_config, _ = configs()
    _, model, optimizer = model_and_optimizer(inputs, model_config, train_config)
    witness = tmp_path / "pwned"
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    state = training.State(fingerprint="run")
    torch.save({"state": state.__dict__, "model": _PathTouch(witness), "optimizer": {}, "rng": []},
               folder / training.CHECKPOINT)

    # The payload is real: an unrestricted unpickler runs it.
    torch.load(folder / training.CHECKPOINT, weights_only=False)
    assert witness.exists()
    witness.unlink()

    with pytest.raises(training.UnsafeCheckpointError) as err:
        training.load_checkpoint(folder, "run", model, optimizer)
    assert not witness.exists()
    message = str(err.value)
    assert str(folder / training.CHECKPOINT) in message
    assert "could run code" in message and "weights_only=True" in message
    assert "global" in message  # torch's reason: the global it refused


def test_a_checkpoint_loads_with_weights_only_and_restores_every_rng(inputs, tmp_path):
    model_config, train_config, _ = configs()
    _, model, optimizer = model_and_optimizer(inputs, model_config, train_config)
    random.seed(5), np.random.seed(6), torch.manual_seed(7)
    np.random.normal()  # numpy's cached gaussian is part of its state
    saved_state = training.rng_state()
    expected = (random.random(), np.random.random(), np.random.normal(), torch.rand(3))
    state = training.State(fingerprint="run", epoch=2, step=9, best_value=float("-inf"),
                           history=[{"step": 1, "train/loss": 0.5}])
    training.save_checkpoint(tmp_path, state, model, optimizer, [saved_state])

    # Plain tensors and containers only: the strict loader reads the file as it is.
    payload = torch.load(tmp_path / training.CHECKPOINT, weights_only=True)
    assert payload["state"]["step"] == 9

    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    restored = training.load_checkpoint(tmp_path, "run", model, optimizer)
    assert restored == state
    again = (random.random(), np.random.random(), np.random.normal(), torch.rand(3))
    assert again[:3] == expected[:3] and torch.equal(again[3], expected[3])


# ----------------------------------------------------------------------------------------------
# frozen blocks


def t5_block_names(model, stack: str, index: int) -> set[str]:
    depth = len(getattr(model.t5, stack).block)
    return {f"t5.{stack}.block.{index % depth}.{n}" for n, _ in getattr(model.t5, stack).block[index].named_parameters()}


def test_only_the_trainable_blocks_reach_the_optimiser_get_gradients_and_change(inputs, tmp_path):
    model_config, train_config, loader_config = configs(trainable_blocks=[-1], epochs=1, max_new_tokens=17)
    tokenizer = load_tokenizer(inputs / "tokenizer")
    training.seed_everything(0)
    model = build_model(model_config, tokenizer)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    # The tiny T5 has 2 blocks per stack: [-1] is block 1 of the encoder and of the decoder.
    expected_trainable = (t5_block_names(model, "encoder", -1) | t5_block_names(model, "decoder", -1)
                          | {n for n in before if not n.startswith("t5.")})
    gradients: set[str] = set()
    for name, p in model.named_parameters():
        p.register_hook(lambda grad, name=name: gradients.add(name))

    state = training.train(model, tokenizer, split({"mosi": 4, "meld": 4}, seed=1), split({"mosi": 2}, seed=2),
                           config=train_config, loader_config=loader_config, checkpoints=tmp_path / "checkpoints",
                           run_id="frozen")

    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == expected_trainable
    assert gradients == expected_trainable  # autograd computed no gradient of a frozen weight
    after = dict(model.named_parameters())
    frozen = set(before) - expected_trainable
    assert "t5.shared.weight" in frozen and "t5.encoder.block.0.layer.0.SelfAttention.q.weight" in frozen
    assert all(torch.equal(before[n], after[n]) for n in frozen)
    assert all(not torch.equal(before[n], after[n]) for n in expected_trainable if n.endswith(".weight")
               and "layer_norm" not in n and n.startswith("t5."))
    assert all(after[n].grad is None for n in frozen)

    # The counts, and Adam's state: exp_avg and exp_avg_sq (float32) plus a float32 step per trained tensor.
    n_trainable = sum(before[n].numel() for n in expected_trainable)
    assert state.trainable_parameters == n_trainable
    assert state.total_parameters == sum(t.numel() for t in before.values())
    assert state.optimizer_state_bytes == 2 * 4 * n_trainable + 4 * len(expected_trainable)


def test_all_blocks_trainable_puts_every_weight_in_the_optimiser(inputs):
    model_config, train_config, _ = configs(trainable_blocks="all")
    _, model, optimizer = model_and_optimizer(inputs, model_config, train_config)
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert in_optimizer == {id(p) for p in model.parameters()}
    frozen_config = dataclasses.replace(train_config, trainable_blocks=(-1,))
    _, frozen_model, frozen_optimizer = model_and_optimizer(inputs, model_config, frozen_config)
    in_frozen = {id(p) for g in frozen_optimizer.param_groups for p in g["params"]}
    assert in_frozen == {id(p) for p in frozen_model.parameters() if p.requires_grad}
    assert len(in_frozen) < len(in_optimizer)
