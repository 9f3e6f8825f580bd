"""`features.pack`: widths brought to `dim`, NaN/inf zeroed and counted, flat layout; hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from unimse_core import features
from unimse_core.features import pack

NAN, INF = float("nan"), float("inf")


def f32(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def test_narrow_sequences_are_zero_padded_to_dim():
    packed = pack([f32([[1, 2], [3, 4]]), f32([[5, 6]])], dim=4)
    assert packed.frames.dtype == np.float32 and packed.frames.shape == (3, 4)
    np.testing.assert_array_equal(packed.frames, [[1, 2, 0, 0], [3, 4, 0, 0], [5, 6, 0, 0]])
    np.testing.assert_array_equal(packed.offset, [0, 2])
    np.testing.assert_array_equal(packed.length, [2, 1])
    assert packed.offset.dtype == np.int64 and packed.length.dtype == np.int64
    assert packed.truncated_from is None
    assert (packed.nonfinite_values, packed.nonfinite_utterances) == (0, 0)


def test_exact_width_is_copied_as_is():
    seq = f32([[1, 2, 3], [4, 5, 6]])
    packed = pack([seq], dim=3)
    np.testing.assert_array_equal(packed.frames, seq)
    assert packed.truncated_from is None


def test_wide_sequences_are_truncated_and_the_raw_width_recorded():
    wide = f32([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    packed = pack([wide], dim=3)
    np.testing.assert_array_equal(packed.frames, [[1, 2, 3], [6, 7, 8]])
    assert packed.truncated_from == 5


def test_mixed_widths_pad_and_truncate_row_by_row():
    # widths 2 and 6 into dim 4: the first padded, the second cut; the widest raw width is reported
    packed = pack([f32([[1, 2]]), f32([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]])], dim=4)
    np.testing.assert_array_equal(packed.frames, [[1, 2, 0, 0], [1, 2, 3, 4], [7, 8, 9, 10]])
    np.testing.assert_array_equal(packed.offset, [0, 1])
    np.testing.assert_array_equal(packed.length, [1, 2])
    assert packed.truncated_from == 6


def test_none_and_zero_length_sequences_take_no_frames():
    a = f32([[1, 1], [2, 2]])
    b = f32([[3, 3], [4, 4], [5, 5]])
    packed = pack([None, a, np.zeros((0, 2), dtype=np.float32), None, b, None], dim=3)
    np.testing.assert_array_equal(packed.length, [0, 2, 0, 0, 3, 0])
    np.testing.assert_array_equal(packed.offset, [0, 0, 2, 2, 2, 5])
    np.testing.assert_array_equal(packed.frames, [[1, 1, 0], [2, 2, 0], [3, 3, 0], [4, 4, 0], [5, 5, 0]])
    # a zero-length sequence wider than dim is no data to truncate
    assert pack([np.zeros((0, 9), dtype=np.float32)], dim=3).truncated_from is None


def test_only_empty_sequences_and_no_sequences():
    packed = pack([None, None], dim=5)
    assert packed.frames.shape == (0, 5) and packed.frames.dtype == np.float32
    np.testing.assert_array_equal(packed.offset, [0, 0])
    np.testing.assert_array_equal(packed.length, [0, 0])
    empty = pack([], dim=5)
    assert empty.frames.shape == (0, 5) and empty.offset.shape == (0,) and empty.length.shape == (0,)
    assert (empty.nonfinite_values, empty.nonfinite_utterances, empty.truncated_from) == (0, 0, None)


def test_offsets_and_lengths_recover_every_sequence():
    rng = np.random.default_rng(0)
    seqs = [None if k % 4 == 3 else rng.normal(size=(int(rng.integers(0, 6)), 3)).astype(np.float32)
            for k in range(20)]
    packed = pack(seqs, dim=3)
    for seq, start, n in zip(seqs, packed.offset, packed.length):
        expected = np.zeros((0, 3)) if seq is None else seq
        np.testing.assert_array_equal(packed.frames[start:start + n], expected)
    assert packed.length.sum() == len(packed.frames)


def test_float64_input_becomes_float32():
    packed = pack([np.array([[0.5, -1.25]], dtype=np.float64)], dim=2)
    assert packed.frames.dtype == np.float32
    np.testing.assert_array_equal(packed.frames, [[0.5, -1.25]])


def test_nan_and_inf_are_zeroed_and_counted():
    a = f32([[1, NAN], [INF, 2]])   # 2 bad values, 1 utterance
    b = f32([[3, 4]])               # clean
    c = f32([[-INF, 5], [6, 7]])    # 1 bad value, 1 utterance
    packed = pack([a, b, c], dim=3)
    np.testing.assert_array_equal(packed.frames, [[1, 0, 0], [0, 2, 0], [3, 4, 0], [0, 5, 0], [6, 7, 0]])
    assert packed.nonfinite_values == 3
    assert packed.nonfinite_utterances == 2
    assert np.isfinite(packed.frames).all()


def test_nonfinite_values_cut_by_truncation_are_not_in_the_output_so_not_counted():
    packed = pack([f32([[1, 2, NAN]]), f32([[NAN, 2, 3]])], dim=2)
    np.testing.assert_array_equal(packed.frames, [[1, 2], [0, 2]])
    assert (packed.nonfinite_values, packed.nonfinite_utterances) == (1, 1)


def test_counts_across_the_internal_block_boundary(monkeypatch):
    # lengths 3, 2, 1, 4 -> offsets 0, 3, 5, 6; 10 frames. With BLOCK_FRAMES = 2 the blocks are
    # frames 0-1, 2-3, 4-5, 6-7, 8-9: utterance 0 straddles blocks 0 and 1, utterance 1 blocks 1 and 2.
    u0 = f32([[1, 1], [1, 1], [NAN, 1]])            # its bad frame (global 2) is in the 2nd block
    u1 = f32([[INF, -INF], [2, 2]])                 # global 3, the same block as u0's bad frame
    u2 = f32([[3, 3]])                              # clean, global 5
    u3 = f32([[4, 4], [4, 4], [4, 4], [4, NAN]])    # global 9, the last block
    expected = np.array([[1, 1], [1, 1], [0, 1], [0, 0], [2, 2], [3, 3], [4, 4], [4, 4], [4, 4], [4, 0]],
                        dtype=np.float32)
    monkeypatch.setattr(features, "BLOCK_FRAMES", 2)
    small = pack([u0, u1, u2, u3], dim=2)
    np.testing.assert_array_equal(small.frames, expected)
    np.testing.assert_array_equal(small.offset, [0, 3, 5, 6])
    assert small.nonfinite_values == 4
    assert small.nonfinite_utterances == 3
    for block in (1, 3, 7):
        monkeypatch.setattr(features, "BLOCK_FRAMES", block)
        other = pack([u0, u1, u2, u3], dim=2)
        np.testing.assert_array_equal(other.frames, expected)
        assert (other.nonfinite_values, other.nonfinite_utterances) == (4, 3), block


def test_an_utterance_whose_only_bad_frame_opens_a_block_is_counted(monkeypatch):
    # u1 starts at frame 2 == the start of the 2nd block; u0 ends just before it (clean)
    monkeypatch.setattr(features, "BLOCK_FRAMES", 2)
    packed = pack([f32([[1], [2]]), f32([[NAN], [3]]), f32([[4]])], dim=1)
    np.testing.assert_array_equal(packed.frames, [[1], [2], [0], [3], [4]])
    assert (packed.nonfinite_values, packed.nonfinite_utterances) == (1, 1)


def test_the_inputs_are_left_unchanged():
    # the raw sequences are views of a loaded [N, L, D] array, as the pickle readers return them
    raw = np.array([[[0, 0, 0, 0], [1, NAN, 2, 3], [INF, 4, 5, 6]],
                    [[7, 8, 9, 10], [11, 12, -INF, 13], [0, 0, 0, 0]]], dtype=np.float32)
    before = raw.copy()
    views = [raw[0, 1:3], raw[1, 0:2]]
    packed = pack(views, dim=2)
    np.testing.assert_array_equal(raw, before)  # NaNs compare equal in assert_array_equal
    assert np.isnan(raw[0, 1, 1]) and np.isinf(raw[0, 2, 0])
    assert not np.shares_memory(packed.frames, raw)
    np.testing.assert_array_equal(packed.frames, [[1, 0], [0, 4], [7, 8], [11, 12]])
    assert (packed.nonfinite_values, packed.nonfinite_utterances) == (2, 1)


def test_a_sequence_that_is_not_two_dimensional_is_an_error():
    with pytest.raises(ValueError, match=r"\[frames, width\].*\(3,\)"):
        pack([np.zeros(3, dtype=np.float32)], dim=2)
