"""Acoustic and visual sequences brought to one width, cleaned and packed flat (docs/raw-data.md, docs/hdf5-schema.md).

Every feature vector is zero-padded or truncated to `features.dim` (64 in the paper) and NaN/inf
values become 0. The packed layout is the one the HDF5 files store: one float32 array of frames
per modality plus per-utterance offsets and lengths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLOCK_FRAMES = 1 << 16  # frames cleaned per step: bounds the temporary mask of non-finite values


@dataclass(frozen=True)
class Packed:
    frames: np.ndarray       # float32 [total_frames, dim]
    offset: np.ndarray       # int64 [N]
    length: np.ndarray       # int64 [N]
    nonfinite_values: int    # NaN/inf values set to 0
    nonfinite_utterances: int
    truncated_from: int | None  # the raw width when it was wider than dim, else None


def pack(sequences: Sequence[np.ndarray | None], dim: int) -> Packed:
    """Pack per-utterance [T_i, D] arrays (None: no features, an empty sequence) into [sum T_i, dim].

    Each sequence is copied exactly once, straight into the output, so the raw arrays (often views
    of a loaded pickle) are never duplicated; widths D < dim are zero-padded, D > dim truncated.
    """
    lengths = np.fromiter((0 if s is None else s.shape[0] for s in sequences), dtype=np.int64, count=len(sequences))
    offsets = np.zeros(len(sequences), dtype=np.int64)
    if len(sequences) > 1:
        np.cumsum(lengths[:-1], out=offsets[1:])
    frames = np.zeros((int(lengths.sum()), dim), dtype=np.float32)
    widest = 0
    for seq, start, n in zip(sequences, offsets.tolist(), lengths.tolist()):
        if seq is None or n == 0:
            continue
        if seq.ndim != 2:
            raise ValueError(f"expected a [frames, width] array, got shape {seq.shape}")
        width = min(seq.shape[1], dim)
        widest = max(widest, seq.shape[1])
        frames[start:start + n, :width] = seq[:, :width]
    bad_values, bad_utterances = _zero_nonfinite(frames, offsets, lengths)
    return Packed(frames, offsets, lengths, bad_values, bad_utterances, widest if widest > dim else None)


def _zero_nonfinite(frames: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> tuple[int, int]:
    """Set NaN/inf to 0 in place, block by block; count the values and the utterances holding any."""
    bad_frame = np.zeros(len(frames), dtype=bool)
    total = 0
    for start in range(0, len(frames), BLOCK_FRAMES):
        block = frames[start:start + BLOCK_FRAMES]
        mask = ~np.isfinite(block)
        n = int(mask.sum())
        if n:
            total += n
            block[mask] = 0.0
            bad_frame[start:start + len(block)] = mask.any(axis=1)
    if not total:
        return 0, 0
    # utterance i holds a bad frame iff the running count of bad frames grows across its span
    running = np.concatenate([[0], np.cumsum(bad_frame)])
    return total, int(np.count_nonzero(running[offsets + lengths] - running[offsets]))
