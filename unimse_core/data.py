"""Batches of one split group: a torch Dataset, its collate function, and a length-bucketing,
DDP-aware batch sampler (docs/hdf5-schema.md, section "Loader").

The Dataset tokenizes every input and target once, at construction, with the fast tokenizer's
batch call, and keeps only flat numpy arrays (token ids + offsets, features + offsets): no
per-item Python objects, so forked DataLoader workers share its memory instead of copying it.
An item is a handful of views; `collate` pads them per batch (right padding).

The sampler's order is a function of (seed, epoch) alone, the same on every rank; under
DistributedDataParallel each rank takes every world_size-th batch of that order.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from unimse_core.config import LoaderConfig
from unimse_core.io.hdf5 import SplitArrays

LABEL_PAD = -100  # ignored by torch's cross-entropy, and turned into pad by T5's shift_right
TOKENIZE_CHUNK = 8192  # strings per tokenizer call: bounds the temporary Python lists


def tokenize_flat(texts: Sequence[str], tokenizer: Any, max_tokens: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token ids of every text, truncated to `max_tokens` (special tokens included), laid end to
    end: flat int32 ids [total], offsets int64 [N], lengths int64 [N]."""
    flats, lengths = [], []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        chunk = list(texts[start:start + TOKENIZE_CHUNK])
        ids = tokenizer(chunk, truncation=True, max_length=max_tokens, return_attention_mask=False,
                        return_token_type_ids=False)["input_ids"]
        chunk_lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        flats.append(np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(chunk_lengths.sum())))
        lengths.append(chunk_lengths)
    length = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    flat = np.concatenate(flats) if flats else np.zeros(0, dtype=np.int32)
    offset = np.zeros(len(length), dtype=np.int64)
    np.cumsum(length[:-1], out=offset[1:])
    return flat, offset, length


class UniMSEDataset(Dataset):
    """The rows of one split group, tokenized. Item i: `index` (= i, the row in the split),
    `input_ids` and `labels` (int32 [L]), `audio` [Ta, Da] and `video` [Tv, Dv] (float32 views)."""

    def __init__(self, arrays: SplitArrays, tokenizer: Any, *, max_input_tokens: int, max_target_tokens: int):
        if max_input_tokens < 1 or max_target_tokens < 1:
            raise ValueError(f"max_input_tokens and max_target_tokens must be >= 1, "
                             f"got {max_input_tokens} and {max_target_tokens}")
        self.input_ids, self.input_offset, self.input_length = tokenize_flat(arrays.inputs, tokenizer,
                                                                             max_input_tokens)
        self.label_ids, self.label_offset, self.label_length = tokenize_flat(arrays.targets, tokenizer,
                                                                             max_target_tokens)
        # Only the numeric arrays are kept (memory-mapped ones stay mapped).
        self.audio, self.audio_offset, self.audio_length = arrays.audio, arrays.audio_offset, arrays.audio_length
        self.video, self.video_offset, self.video_length = arrays.video, arrays.video_offset, arrays.video_length

    def __len__(self) -> int:
        return len(self.input_length)

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"row {i} out of range for {len(self)} rows")
        return {"index": i,
                "input_ids": _slice(self.input_ids, self.input_offset, self.input_length, i),
                "labels": _slice(self.label_ids, self.label_offset, self.label_length, i),
                "audio": _slice(self.audio, self.audio_offset, self.audio_length, i),
                "video": _slice(self.video, self.video_offset, self.video_length, i)}


def _slice(flat: np.ndarray, offset: np.ndarray, length: np.ndarray, i: int) -> np.ndarray:
    start = int(offset[i])
    return flat[start:start + int(length[i])]


def collate(batch: Sequence[dict[str, Any]], *, pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad a list of items into tensors (all right-padded; every padded length at least 1):

    input_ids [B, Lt] (pad_token_id), attention_mask [B, Lt] (1 on tokens), labels [B, Lg] (-100),
    audio [B, Ta, Da] float32 (zeros), audio_lengths [B], video [B, Tv, Dv], video_lengths [B],
    index [B] (rows of the split, to match outputs back to ids). Integer tensors are int64.
    """
    if not batch:
        raise ValueError("collate: empty batch")
    b = len(batch)
    out: dict[str, np.ndarray] = {}
    lt = max(1, max(len(x["input_ids"]) for x in batch))
    input_ids = np.full((b, lt), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((b, lt), dtype=np.int64)
    lg = max(1, max(len(x["labels"]) for x in batch))
    labels = np.full((b, lg), LABEL_PAD, dtype=np.int64)
    for row, item in enumerate(batch):
        n = len(item["input_ids"])
        input_ids[row, :n] = item["input_ids"]
        attention_mask[row, :n] = 1
        labels[row, :len(item["labels"])] = item["labels"]
    out.update(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    for modality in ("audio", "video"):
        lengths = np.array([len(x[modality]) for x in batch], dtype=np.int64)
        dim = batch[0][modality].shape[1]
        padded = np.zeros((b, max(1, int(lengths.max())), dim), dtype=np.float32)
        for row, item in enumerate(batch):
            padded[row, :lengths[row]] = item[modality]
        out[modality], out[f"{modality}_lengths"] = padded, lengths
    out["index"] = np.array([x["index"] for x in batch], dtype=np.int64)
    return {k: torch.from_numpy(v) for k, v in out.items()}


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of row indices, deterministic for (seed, epoch), optionally length-bucketed, sharded over ranks.

    One epoch's global order:
      1. rows shuffled with a torch.Generator seeded with seed + epoch (or kept in order when
         `shuffle` is False; `by_length`, without shuffling: longest first, ties in row order, so
         that generation pads little and the largest batch comes first);
      2. bucket_size 0: cut into batches of `batch_size`; bucket_size k: each chunk of k batches'
         worth of rows is sorted by `lengths` (stable) and then cut, so a batch holds rows of
         similar length; the batch order is then shuffled (same generator) unless `shuffle` is False;
      3. only the last batch can be short; `drop_last` drops it.
    Distributed: the batch list is padded to a multiple of world_size by repeating its first batches
    (so every rank runs the same number of steps and no collective waits forever); rank r takes
    batches r, r + world_size, ... Rows of the repeated batches are seen twice per epoch; evaluation
    removes duplicates by the batch's `index`.
    """

    def __init__(self, lengths: Sequence[int] | np.ndarray, *, batch_size: int, shuffle: bool, seed: int = 0,
                 bucket_size: int = 0, drop_last: bool = False, rank: int = 0, world_size: int = 1,
                 by_length: bool = False):
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if bucket_size < 0:
            raise ValueError(f"bucket_size must be >= 0, got {bucket_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        n = len(self.lengths)
        self.num_batches = n // batch_size if drop_last else math.ceil(n / batch_size)
        if self.num_batches == 0:
            raise ValueError(f"no batch to sample: {n} rows, batch_size {batch_size}, drop_last {drop_last}")
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        if by_length and shuffle:
            raise ValueError("by_length orders rows without shuffling; it cannot be combined with shuffle")
        self.bucket_size, self.drop_last, self.by_length = bucket_size, drop_last, by_length
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Call before each epoch (as with DistributedSampler): the order depends on it."""
        self.epoch = epoch

    def __len__(self) -> int:
        """Steps per epoch on this rank (the same on every rank)."""
        return math.ceil(self.num_batches / self.world_size)

    def global_batches(self) -> list[np.ndarray]:
        """This epoch's batches of every rank, before padding and sharding."""
        n = len(self.lengths)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.shuffle:
            order = torch.randperm(n, generator=generator).numpy()
        elif self.by_length:
            order = np.argsort(-self.lengths, kind="stable")
        else:
            order = np.arange(n)
        if self.bucket_size:
            chunk = self.batch_size * self.bucket_size
            order = np.concatenate([c[np.argsort(self.lengths[c], kind="stable")]
                                    for c in np.array_split(order, range(chunk, n, chunk))])
        batches = np.array_split(order, range(self.batch_size, n, self.batch_size))[:self.num_batches]
        if self.bucket_size and self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.global_batches()
        padded = len(self) * self.world_size
        for k in range(self.rank, padded, self.world_size):
            yield batches[k % len(batches)].tolist()


def make_loader(arrays: SplitArrays, tokenizer: Any, config: LoaderConfig, *, train: bool, seed: int,
                rank: int = 0, world_size: int = 1, by_length: bool = False) -> DataLoader:
    """A DataLoader over `arrays`: shuffled, `batch_size` and `drop_last` when `train`, else in order
    with `eval_batch_size` (`by_length`: longest inputs first, for generation; match outputs back by
    the batch's `index`); bucketed by input length when `config.bucket_size` > 0.

    Call `loader.batch_sampler.set_epoch(epoch)` before each training epoch.
    """
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token; padding needs pad_token_id")
    dataset = UniMSEDataset(arrays, tokenizer, max_input_tokens=config.max_input_tokens,
                            max_target_tokens=config.max_target_tokens)
    batch_size = config.batch_size if train else config.eval_batch_size
    sampler = LengthBucketSampler(dataset.input_length, batch_size=batch_size, shuffle=train, seed=seed,
                                  bucket_size=config.bucket_size,
                                  drop_last=train and config.drop_last, rank=rank, world_size=world_size,
                                  by_length=by_length and not train)
    return DataLoader(dataset, batch_sampler=sampler,
                      collate_fn=functools.partial(collate, pad_token_id=int(tokenizer.pad_token_id)),
                      num_workers=config.num_workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=config.num_workers > 0)
