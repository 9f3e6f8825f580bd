"""The fast path of the training step and of generation (docs/training.md, "Speed"): the loss read
once per logged window, the `train.compile` fallback, and generation in batches sorted by input
length whose texts come back in row order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from tiny_training import split, write_inputs
from test_training import configs, run_train
from unimse_core import training
from unimse_core.data import LengthBucketSampler
from unimse_core.evaluation import generate_texts
from unimse_core.model import build_model, greedy_config
from unimse_core.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("step_inputs"), train_rows=8, dev_rows=4, test_groups=False)


@pytest.fixture(autouse=True)
def torch_settings():
    threads, enabled = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def test_mean_loss_is_numpys_mean_of_the_single_losses():
    values = [0.1, 2.3, 1e-3, 7.25, 0.3]
    losses = [torch.tensor(v) for v in values]  # float32, as a loss is
    expected = sum(float(np.float32(v)) for v in values) / len(values)  # float64 sum of the float32 values
    assert training.mean_loss(losses) == pytest.approx(expected, rel=1e-15)
    assert training.mean_loss(losses) == float(np.mean([float(x) for x in losses]))  # what the loop logged before


def test_a_train_step_never_reads_the_loss_from_the_device(inputs, monkeypatch):
    tokenizer = load_tokenizer(inputs / "tokenizer")
    model_config, train_config, loader_config = configs()
    torch.manual_seed(0)
    model = build_model(model_config, tokenizer).train()
    # SGD: CPU Adam reads its step counters (CPU tensors, no device on CUDA's fused path) with item()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    from unimse_core.data import make_loader

    batch = next(iter(make_loader(split({"mosi": 4}, seed=1), tokenizer, loader_config, train=True, seed=0)))
    reads = []
    for name in ("item", "__float__", "tolist"):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _real=real, _name=name, **k: (
            reads.append((_name, tuple(self.shape))) if self.requires_grad or self.dtype.is_floating_point else None,
            _real(self, *a, **k))[1])
    loss = training.train_step(model, batch, optimizer, list(model.parameters()), grad_clip=1.0,
                               autocast=training.runtime(train_config).autocast)
    assert reads == [], f"float tensors read on the host during a step: {reads}"
    assert loss.ndim == 0 and not loss.requires_grad
    monkeypatch.undo()
    assert float(loss) > 0


def test_train_compile_falls_back_to_eager_saying_why_and_trains_the_same_weights(inputs, tmp_path, monkeypatch):
    model_config, train_config, loader_config = configs(epochs=1)
    eager = run_train(inputs, tmp_path / "eager", train_config, model_config, loader_config)

    def broken_compile(module, *args, **kwargs):
        def compiled(*a, **k):
            raise RuntimeError("no C++ compiler found\n(details)")
        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(UserWarning, match=r"train.compile: true, but the model runs eagerly: RuntimeError: "
                                         r"no C\+\+ compiler found$"):
        compiled = run_train(inputs, tmp_path / "compiled", dataclasses.replace(train_config, compile=True),
                             model_config, loader_config)
    assert compiled.step == eager.step > 0
    weights = [torch.load(f / training.CHECKPOINT, map_location="cpu", weights_only=False)["model"]
               for f in (tmp_path / "eager", tmp_path / "compiled")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_the_by_length_sampler_puts_the_longest_rows_first_ties_in_row_order():
    sampler = LengthBucketSampler([3, 5, 1, 5, 2], batch_size=2, shuffle=False, by_length=True)
    assert list(sampler) == [[1, 3], [0, 4], [2]]
    with pytest.raises(ValueError, match="shuffle"):
        LengthBucketSampler([1, 2], batch_size=1, shuffle=True, by_length=True)


def test_sorted_batched_generation_returns_each_rows_own_text_in_row_order(inputs, monkeypatch):
    tokenizer = load_tokenizer(inputs / "tokenizer")
    model_config, train_config, loader_config = configs()
    torch.manual_seed(3)
    model = build_model(model_config, tokenizer)
    rt = training.runtime(train_config)
    rows = split({"mosi": 5, "meld": 6}, seed=9)
    seen = []
    generate = model.generate

    def recording(batch, **kwargs):
        seen.append(batch["attention_mask"].sum(1).tolist())
        return generate(batch, **kwargs)

    monkeypatch.setattr(model, "generate", recording)
    batched = generate_texts(model, rows, tokenizer, dataclasses.replace(loader_config, eval_batch_size=4), rt,
                             max_new_tokens=8)
    lengths = [n for batch in seen for n in batch]
    assert len(seen) == 3 and lengths == sorted(lengths, reverse=True)
    seen.clear()
    alone = generate_texts(model, rows, tokenizer, dataclasses.replace(loader_config, eval_batch_size=1), rt,
                           max_new_tokens=8)
    assert len(seen) == len(rows)
    assert batched == alone and len(set(alone)) > 1  # different rows, different (untrained) texts


def test_greedy_generation_keeps_the_kv_cache():
    from tiny_training import params
    from unimse_core.config import ModelConfig, from_dict
    from unimse_core.model import scratch_t5_config

    t5_config = scratch_t5_config(from_dict(ModelConfig, params()["model"], "model"), vocab_size=50)
    assert greedy_config(t5_config, max_new_tokens=4).use_cache is True


def test_a_batch_that_runs_out_of_memory_is_generated_in_halves(inputs, monkeypatch):
    tokenizer = load_tokenizer(inputs / "tokenizer")
    model_config, train_config, loader_config = configs()
    torch.manual_seed(3)
    model = build_model(model_config, tokenizer)
    rt = training.runtime(train_config)
    rows = split({"mosi": 4, "meld": 3}, seed=9)
    alone = generate_texts(model, rows, tokenizer, dataclasses.replace(loader_config, eval_batch_size=1), rt,
                           max_new_tokens=8)
    generate, sizes = model.generate, []

    def small_device(batch, **kwargs):  # a device on which more than 2 rows never fit
        sizes.append(len(batch["index"]))
        if sizes[-1] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return generate(batch, **kwargs)

    monkeypatch.setattr(model, "generate", small_device)
    halved = generate_texts(model, rows, tokenizer, dataclasses.replace(loader_config, eval_batch_size=7), rt,
                            max_new_tokens=8)
    assert sizes == [7, 3, 1, 2, 4, 2, 2]  # 7 -> 3 (-> 1 + 2) + 4 (-> 2 + 2)
    assert halved == alone
    metrics, _, texts = training.evaluate(model, rows, tokenizer, dataclasses.replace(loader_config, eval_batch_size=7),
                                          rt, max_new_tokens=8)
    assert texts == alone

    def no_device(batch, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(model, "generate", no_device)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        generate_texts(model, rows, tokenizer, loader_config, rt, max_new_tokens=8)
