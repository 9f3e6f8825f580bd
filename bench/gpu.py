"""Every GPU check of the project in one run, and the paper's whole training projected from it.

    python -m bench.gpu [--steps 30] [--gen-rows 2048] [--eval-batch-size 512] [--compile]
    bench/gpu_check.sh            # this, then the tests marked `cuda`; under 5 minutes on one GPU

Without a CUDA device it prints {"skipped": "no CUDA device"} and exits 0. With one (TF32 off for
the fp32 comparisons):

1. golden steps: a tiny UniMSE (dropout off: CPU and CUDA draw different dropout masks), two Adam
   steps on a fixed batch and the eval loss, on the CPU in fp32, on CUDA in fp32 (must agree within
   FP32_TOLERANCE) and on CUDA under bf16 autocast (within BF16_TOLERANCE, relative);
2. the LSTM modality encoder (cuDNN) against the CPU's, on ragged rows: utterance vectors and
   frame outputs within LSTM_TOLERANCE;
3. constrained generation on CUDA: every generated text of the t5-base-sized model parses;
4. DistributedDataParallel with NCCL, two processes (when 2+ GPUs are visible; skipped otherwise,
   said so): the averaged gradients on the halves of a batch equal one process's on the whole;
5. at t5-base size (a scratch T5 of t5-base's shapes built here, vocabulary 32,128; nothing is
   downloaded; the paper's freezing and learning rates, bench/train.py): the training step of the
   loop (unimse_core.training.train_step: bf16 autocast, fused Adam, no sync per step) on batches of
   32 rows of MOSELDMP-like lengths (docs/training.md, "The 15-minute goal"): samples/s, tokens/s,
   MFU against the device's dense bf16 peak, peak GPU memory; dev generation rows/s, constrained
   and free, in batches sorted by input length; and `paper_run_minutes`, the projected time of 30
   epochs of 32.4k rows with a dev evaluation of 3,730 rows after each.

The keys of the JSON line (printed last) are documented in docs/training.md. `--cpu-smoke` runs
the same code on the CPU at tiny sizes (a test does, so that the script works when a GPU comes).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
FP32_TOLERANCE = 1e-4     # absolute, on losses of about 10
BF16_TOLERANCE = 3e-2     # relative: bf16 keeps 8 bits of mantissa; the logits pass 20-odd bf16 matmuls
LSTM_TOLERANCE = 1e-5     # absolute, fp32 with TF32 off
DDP_TOLERANCE = 1e-5      # absolute, gradients
# Dense bf16 tensor-core peaks (TFLOPS) by a substring of torch.cuda.get_device_name(); first match wins.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "GH200": 989.0, "A100": 312.0, "L40S": 362.0,
                    "A10": 125.0, "L4": 121.0, "RTX 4090": 165.0, "A6000": 155.0}
PAPER = {"train_rows": 32_400, "dev_rows": 3_730, "epochs": 30}  # MOSELDMP (docs/training.md)
# Mean lengths of a MOSELDMP row (docs/training.md): tokens of input and target, audio and video frames.
ROW_LENGTHS = {"input": 60, "target": 12, "audio": 157, "video": 32}
SPREAD = 0.5
GOAL_MINUTES = 15.0
MIB = 2**20


def peak_tflops(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k.lower() in name.lower()), None)


@contextlib.contextmanager
def no_tf32() -> Iterator[None]:
    """fp32 really in fp32 on CUDA (TF32 matmuls keep 10 bits of mantissa)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------------------------
# tiny model and batch (checks 1, 2, 4)


def tiny_config(**changes: Any):
    from unimse_core.config import ModelConfig, from_dict

    values = dict(backbone="scratch", d_model=32, d_ff=64, num_layers=3, num_decoder_layers=2, num_heads=2, d_kv=16,
                  dropout_rate=0.0, feature_dim=8, lstm_hidden=6, lstm_layers=1, bidirectional=False,
                  modality_dropout=0.0, fusion="both", fusion_blocks=2, pmf_bottleneck=16, pmf_init="random",
                  contrastive=True, contrastive_weight_audio=0.5, contrastive_weight_video=0.5, temperature=0.1,
                  contrastive_dim=4)
    values.update(changes)
    return from_dict(ModelConfig, values, "model")


def tiny_model(seed: int = 1234, **changes: Any):
    from transformers import T5ForConditionalGeneration

    from unimse_core.model import UniMSE, scratch_t5_config

    config = tiny_config(**changes)
    torch.manual_seed(seed)
    return UniMSE(T5ForConditionalGeneration(scratch_t5_config(config, 50)), config)


def tiny_batch(rows: int = 8, equal: bool = False) -> dict[str, torch.Tensor]:
    """`rows` rows of 7 input and 5 target tokens (padded to fewer on some rows unless `equal`),
    ragged audio (up to 6 frames, some none) and video (up to 4), width 8."""
    g = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, 50, (rows, 7), generator=g)
    attention_mask = torch.ones_like(input_ids)
    labels = torch.randint(3, 50, (rows, 5), generator=g)
    labels[:, -1] = 1
    if not equal:
        attention_mask[1::3, 5:] = 0
        input_ids[attention_mask == 0] = 0
        labels[2::4, 3:] = -100
    audio_lengths = torch.tensor([6, 2, 0, 3, 5, 1, 4, 6] * (rows // 8 + 1))[:rows]
    video_lengths = torch.tensor([4, 4, 1, 0, 2, 3, 4, 1] * (rows // 8 + 1))[:rows]
    audio = torch.randn(rows, 6, 8, generator=g) * (torch.arange(6) < audio_lengths[:, None]).unsqueeze(-1)
    video = torch.randn(rows, 4, 8, generator=g) * (torch.arange(4) < video_lengths[:, None]).unsqueeze(-1)
    return dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels, audio=audio,
                audio_lengths=audio_lengths, video=video, video_lengths=video_lengths, index=torch.arange(rows))


def golden_steps(device: torch.device, bf16: bool) -> list[float]:
    """Two Adam steps on the tiny model and batch, then the eval loss: [loss 1, loss 2, eval loss]."""
    from unimse_core.model import parameter_groups
    from unimse_core.training import to_device

    model = tiny_model().to(device).train()
    optimizer = torch.optim.Adam(parameter_groups(model, trainable_blocks="all", lr_t5=1e-3, lr_other=1e-3,
                                                  weight_decay=1e-4))
    batch = to_device(tiny_batch(), device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        with autocast():
            out = model(batch)
        out.loss.backward()
        optimizer.step()
        losses.append(float(out.loss))
    model.eval()
    with torch.no_grad(), autocast():
        losses.append(float(model(batch).loss))
    return losses


def check_golden(device: torch.device) -> dict[str, Any]:
    with no_tf32():
        cpu = golden_steps(torch.device("cpu"), bf16=False)
        fp32 = golden_steps(device, bf16=False)
    bf16 = golden_steps(device, bf16=device.type == "cuda")
    fp32_diff = max(abs(a - b) for a, b in zip(cpu, fp32))
    bf16_diff = max(abs(a - b) / abs(a) for a, b in zip(cpu, bf16))
    return {"golden_cpu": cpu, "golden_cuda_fp32": fp32, "golden_cuda_bf16": bf16,
            "golden_fp32_max_abs_diff": fp32_diff, "golden_fp32_tolerance": FP32_TOLERANCE,
            "golden_fp32_ok": fp32_diff <= FP32_TOLERANCE,
            "golden_bf16_max_rel_diff": bf16_diff, "golden_bf16_tolerance": BF16_TOLERANCE,
            "golden_bf16_ok": bf16_diff <= BF16_TOLERANCE}


def check_lstm(device: torch.device) -> dict[str, Any]:
    from unimse_core.model import ModalityEncoder

    diffs = {}
    for bidirectional in (False, True):
        torch.manual_seed(0)
        encoder = ModalityEncoder(64, 32, 2, bidirectional, dropout=0.0).eval()
        g = torch.Generator().manual_seed(2)
        lengths = torch.randint(0, 120, (16,), generator=g)
        lengths[0] = 120
        frames = torch.randn(16, 120, 64, generator=g) * (torch.arange(120) < lengths[:, None]).unsqueeze(-1)
        with torch.no_grad(), no_tf32():
            cpu = encoder(frames, lengths)
            gpu = copy.deepcopy(encoder).to(device)(frames.to(device), lengths.to(device))
        diffs["bidirectional" if bidirectional else "forward"] = max(
            float((a - b.cpu()).abs().max()) for a, b in zip(cpu, gpu))
    worst = max(diffs.values())
    return {"lstm_max_abs_diff": diffs, "lstm_tolerance": LSTM_TOLERANCE, "lstm_ok": worst <= LSTM_TOLERANCE}


# ----------------------------------------------------------------------------------------------
# DDP with NCCL (check 4)


def ddp_gradients(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    model(batch).loss.backward()
    named = model.module.named_parameters() if hasattr(model, "module") else model.named_parameters()
    return {name: p.grad.detach().cpu().clone() for name, p in named if p.grad is not None}


def ddp_worker(out: Path, device: str) -> None:
    """One rank under torchrun: its half of the batch through DDP (NCCL on CUDA, gloo for the CPU
    smoke run); rank 0 saves the gradients."""
    from unimse_core.training import runtime, to_device

    rt = runtime(dataclasses.replace(_train_config(), device=device, bf16=False))
    with no_tf32():
        model = tiny_model(contrastive=False).to(rt.device).train()
        wrapped = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None)
        half = len(tiny_batch(equal=True)["index"]) // rt.world_size
        batch = {k: v[rt.rank * half:(rt.rank + 1) * half] for k, v in tiny_batch(equal=True).items()}
        grads = ddp_gradients(wrapped, to_device(batch, rt.device))
    if rt.is_main:
        torch.save({"grads": grads, "backend": torch.distributed.get_backend()}, out)
    torch.distributed.barrier()


def check_ddp(device: torch.device) -> dict[str, Any]:
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and gpus < 2:
        return {"ddp_nccl": {"skipped": f"{gpus} CUDA device(s) visible; the NCCL check needs 2"}}
    backend = "nccl" if device.type == "cuda" else "gloo"  # gloo: the CPU smoke run only
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "grads.pt"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   "-m", "bench.gpu", "--ddp-worker", str(out), "--ddp-device", device.type]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
        if result.returncode != 0:
            return {"ddp_nccl": {"ok": False, "error": result.stderr[-2000:]}}
        saved = torch.load(out, weights_only=True)
    with no_tf32():
        whole = ddp_gradients(tiny_model(contrastive=False).to(device).train(),
                              {k: v.to(device) for k, v in tiny_batch(equal=True).items()})
    diff = max(float((saved["grads"][k] - whole[k]).abs().max()) for k in whole)
    return {"ddp_nccl": {"backend": saved["backend"], "max_abs_diff": diff, "tolerance": DDP_TOLERANCE,
                         "ok": diff <= DDP_TOLERANCE and saved["backend"] == backend,
                         "seconds": round(time.perf_counter() - started, 1)}}


# ----------------------------------------------------------------------------------------------
# t5-base size (checks 3 and 5)


def _train_config():
    from unimse_core.config import TrainConfig, load_config, read_params

    return load_config(TrainConfig, "train", read_params(ROOT / "params.yaml"))


def rows_like_moseldmp(n: int, seed: int = 0):
    """`n` dev-like rows: inputs of about ROW_LENGTHS["input"] words, universal-label targets, ragged
    64-wide frames. Returns (SplitArrays, the texts to train a tokenizer on)."""
    from unimse_core.io.hdf5 import SplitArrays, pack_sequences
    from unimse_core.text import score_polarity, target

    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    words = sorted({"".join(rng.choice(letters, 5)) for _ in range(300)})  # about one token each

    def length(mean: int) -> int:
        return max(1, int(rng.integers(round(mean * (1 - SPREAD)), round(mean * (1 + SPREAD)) + 1)))

    inputs, targets, scores, audio, video = [], [], [], [], []
    for _ in range(n):
        inputs.append("sst2 sentence: " + " ".join(rng.choice(words, length(ROW_LENGTHS["input"] - 6))))
        score = float(np.round(rng.uniform(-3, 3), 2))
        scores.append(score)
        targets.append(target(score_polarity(score), score, "neutral", "neu", 2))
        audio.append(rng.standard_normal((length(ROW_LENGTHS["audio"]), 64), dtype=np.float32))
        video.append(rng.standard_normal((length(ROW_LENGTHS["video"]), 64), dtype=np.float32))
    a, a_off, a_len = pack_sequences(audio, 64)
    v, v_off, v_len = pack_sequences(video, 64)
    arrays = SplitArrays(ids=[f"r{i}" for i in range(n)], dataset=["mosei"] * n, inputs=inputs, targets=targets,
                         gold_score=np.asarray(scores, dtype=np.float32), gold_emotion=[""] * n,
                         polarity=[score_polarity(s) for s in scores], audio=a, audio_offset=a_off,
                         audio_length=a_len, video=v, video_offset=v_off, video_length=v_len)
    return arrays, [*inputs, *targets]


def model_flops(model: torch.nn.Module, trainable: set[int], input_tokens: int, target_tokens: int,
                vocab: int, d_model: int) -> float:
    """Model FLOPs of one training step (docs/training.md, "MFU"): 2 per weight per token forward;
    backward 2 per weight per token for the activation gradients of the decoder and LM head (every
    decoder block passes the gradient down to the encoder's trainable blocks through cross-attention)
    and of the trainable encoder blocks, and 2 more for the weight gradients of trainable weights.
    Attention scores, PMF and the LSTMs are left out (about 1 % at these lengths)."""
    def block_params(stack: str, i: int) -> tuple[int, bool]:
        params = [p for n, p in model.named_parameters() if n.startswith(f"t5.{stack}.block.{i}.")]
        return sum(p.numel() for p in params), any(id(p) in trainable for p in params)

    flops = 0.0
    blocks = {s: len(getattr(model.t5, s).block) for s in ("encoder", "decoder")}
    for i in range(blocks["encoder"]):
        n, trains = block_params("encoder", i)
        flops += 2 * n * input_tokens * (1 + 2 * trains)
    for i in range(blocks["decoder"]):
        n, trains = block_params("decoder", i)
        flops += 2 * n * target_tokens * (2 + trains)
    flops += 2 * vocab * d_model * target_tokens * 2  # LM head: forward and the gradient into the decoder
    return flops


def t5base(device: torch.device, *, steps: int, warmup: int, gen_rows: int, eval_batch_size: int, compile: bool,
           smoke: bool) -> dict[str, Any]:
    from transformers import T5ForConditionalGeneration

    from bench.train import PAPER_TRAIN, T5_BASE, T5_BASE_VOCAB
    from unimse_core.config import LoaderConfig, ModelConfig, TokenizerConfig, from_dict, load_config, read_params, \
        to_dict
    from unimse_core.data import collate, make_loader
    from unimse_core.evaluation import generate_texts, label_constraint
    from unimse_core.model import UniMSE, parameter_groups, scratch_t5_config
    from unimse_core.text import parse_target
    from unimse_core.tokenizer import train_tokenizer
    from unimse_core.training import CompiledOrEager, runtime, to_device, train_step

    params = read_params(ROOT / "params.yaml")
    sizes = {"d_model": 32, "d_ff": 64, "num_layers": 3, "num_decoder_layers": 3, "num_heads": 2, "d_kv": 16} \
        if smoke else T5_BASE
    vocab = 512 if smoke else T5_BASE_VOCAB
    model_config = from_dict(ModelConfig, {**to_dict(load_config(ModelConfig, "model", params)), **sizes,
                                           "backbone": "scratch"}, "model")
    train_config = dataclasses.replace(_train_config(), device=device.type, bf16=True, **PAPER_TRAIN)
    loader_config = dataclasses.replace(load_config(LoaderConfig, "loader", params), eval_batch_size=eval_batch_size,
                                        num_workers=0)
    rt = runtime(train_config)
    rows, texts = rows_like_moseldmp(4 * loader_config.batch_size, seed=0)
    dev, dev_texts = rows_like_moseldmp(gen_rows, seed=1)
    tokenizer = train_tokenizer(texts + dev_texts, from_dict(TokenizerConfig, {"vocab_size": 1000, "split_digits": True},
                                                 "tokenizer"))
    vocab = max(vocab, len(tokenizer))
    torch.manual_seed(0)
    model = UniMSE(T5ForConditionalGeneration(scratch_t5_config(model_config, vocab)), model_config).to(rt.device)
    groups = parameter_groups(model, trainable_blocks=train_config.trainable_blocks, lr_t5=train_config.lr_t5,
                              lr_other=train_config.lr_other, weight_decay=train_config.weight_decay)
    optimizer = torch.optim.Adam(groups, fused=rt.device.type == "cuda" or None)
    trainable = [p for g in groups for p in g["params"]]
    loader = make_loader(rows, tokenizer, loader_config, train=True, seed=0)
    batches = [to_device(b, rt.device) for _, b in zip(range(4), loader)]
    forward = CompiledOrEager(model) if compile else model
    tokens = sum(int(b["attention_mask"].sum()) + int((b["labels"] != -100).sum()) for b in batches) / len(batches)
    flops = np.mean([model_flops(model, {id(p) for p in trainable}, int(b["attention_mask"].sum()),
                                 int((b["labels"] != -100).sum()), vocab, model_config.d_model) for b in batches])

    model.train()
    for i in range(warmup):
        train_step(forward, batches[i % len(batches)], optimizer, trainable, grad_clip=train_config.grad_clip,
                   autocast=rt.autocast)
    sync(rt.device)
    if rt.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(rt.device)
    started = time.perf_counter()
    for i in range(steps):
        loss = train_step(forward, batches[i % len(batches)], optimizer, trainable, grad_clip=train_config.grad_clip,
                          autocast=rt.autocast)
    float(loss)
    sync(rt.device)
    step_s = (time.perf_counter() - started) / steps
    peak = torch.cuda.max_memory_allocated(rt.device) / MIB if rt.device.type == "cuda" else None
    name = torch.cuda.get_device_name(rt.device) if rt.device.type == "cuda" else "cpu"
    peak_flops = peak_tflops(name)
    rows_per_step = len(batches[0]["index"])

    generation = {}
    model.eval()
    for mode in ("constrained", "free"):
        constraint = (label_constraint(tokenizer, score_decimals=2, max_new_tokens=train_config.max_new_tokens)
                      if mode == "constrained" else None)
        sync(rt.device)
        started = time.perf_counter()
        generated = generate_texts(model, dev, tokenizer, loader_config, rt, max_new_tokens=train_config.max_new_tokens,
                                   constraint=constraint)
        sync(rt.device)
        generation[mode] = {"rows_per_s": len(generated) / (time.perf_counter() - started),
                            "unparsable": sum(not parse_target(t).valid for t in generated), "rows": len(generated)}
    if rt.device.type == "cuda":
        peak = max(peak or 0.0, torch.cuda.max_memory_allocated(rt.device) / MIB)

    samples_per_s = rows_per_step / step_s
    train_minutes = PAPER["epochs"] * PAPER["train_rows"] / samples_per_s / 60
    dev_minutes = PAPER["epochs"] * PAPER["dev_rows"] / generation["constrained"]["rows_per_s"] / 60
    return {"t5base_train_samples_per_s": round(samples_per_s, 1),
            "t5base_train_tokens_per_s": round(tokens / step_s),
            "t5base_step_ms": round(1000 * step_s, 2),
            "t5base_model_tflops_per_step": round(flops / 1e12, 4),
            "t5base_mfu": round(flops / step_s / (peak_flops * 1e12), 4) if peak_flops else None,
            "peak_bf16_tflops": peak_flops,
            "t5base_peak_gpu_mib": round(peak, 1) if peak is not None else None,
            "t5base_batch_rows": rows_per_step, "t5base_tokens_per_row": round(tokens / rows_per_step, 1),
            "t5base_trainable_parameters": sum(p.numel() for p in trainable),
            "t5base_parameters": sum(p.numel() for p in model.parameters()),
            "t5base_compiled": bool(compile and getattr(forward, "compiled", None) is not None),
            "dev_rows_per_s_constrained": round(generation["constrained"]["rows_per_s"], 1),
            "dev_rows_per_s_free": round(generation["free"]["rows_per_s"], 1),
            "eval_batch_size": eval_batch_size, "max_new_tokens": train_config.max_new_tokens,
            "constrained_rows": generation["constrained"]["rows"],
            "constrained_unparsable": generation["constrained"]["unparsable"],
            "constrained_ok": generation["constrained"]["unparsable"] == 0,
            "paper_train_minutes": round(train_minutes, 2), "paper_dev_minutes": round(dev_minutes, 2),
            "paper_run_minutes": round(train_minutes + dev_minutes, 2), "goal_minutes": GOAL_MINUTES,
            "goal_met": train_minutes + dev_minutes <= GOAL_MINUTES, "device_name": name}


# ----------------------------------------------------------------------------------------------


@click.command()
@click.option("--steps", default=30, show_default=True, help="timed training steps at t5-base size")
@click.option("--warmup", default=5, show_default=True, help="untimed steps first (cuDNN/cuBLAS autotuning)")
@click.option("--gen-rows", default=2048, show_default=True, help="dev-like rows generated, each way")
@click.option("--eval-batch-size", default=512, show_default=True, help="rows per generation batch")
@click.option("--compile", "compile_", is_flag=True, help="train.compile: true for the t5-base step")
@click.option("--cpu-smoke", is_flag=True, help="run every check on the CPU at tiny sizes (tests the script)")
@click.option("--ddp-worker", "ddp_out", type=click.Path(path_type=Path), default=None, hidden=True)
@click.option("--ddp-device", default="cuda", hidden=True)
def main(steps: int, warmup: int, gen_rows: int, eval_batch_size: int, compile_: bool, cpu_smoke: bool,
         ddp_out: Path | None, ddp_device: str) -> None:
    """Check the GPU path against the CPU and time the paper's run at t5-base size."""
    if ddp_out is not None:
        ddp_worker(ddp_out, ddp_device)
        return
    if not torch.cuda.is_available() and not cpu_smoke:
        click.echo(json.dumps({"skipped": "no CUDA device"}))
        return
    device = torch.device("cpu") if cpu_smoke else torch.device("cuda", 0)
    started = time.perf_counter()
    out: dict[str, Any] = {"device": str(device), "torch": torch.__version__,
                           "gpus": torch.cuda.device_count() if torch.cuda.is_available() else 0}
    if device.type == "cuda":
        out["capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
    for check in (check_golden, check_lstm, check_ddp):
        click.echo(f"bench.gpu: {check.__name__} ...", err=True)
        out.update(check(device))
    click.echo("bench.gpu: t5-base size ...", err=True)
    out.update(t5base(device, steps=steps, warmup=warmup, gen_rows=gen_rows, eval_batch_size=eval_batch_size,
                      compile=compile_, smoke=cpu_smoke))
    ddp = out["ddp_nccl"]
    out["ok"] = bool(out["golden_fp32_ok"] and out["golden_bf16_ok"] and out["lstm_ok"] and out["constrained_ok"]
                     and ddp.get("ok", "skipped" in ddp))
    out["seconds"] = round(time.perf_counter() - started, 1)
    click.echo(json.dumps(out))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
