"""The HDF5 layer: round trips, attributes, atomic writes, schema errors, concat/take, memory-mapping."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from unimse_core.io import hdf5
from unimse_core.io.errors import RawDataError
from unimse_core.io.hdf5 import (SCHEMA_VERSION, SchemaError, SplitArrays, empty_sequences, list_groups,
                                 pack_sequences, read_attrs, read_h5, write_h5)


def frames(start: float, n: int, dim: int) -> np.ndarray:
    """n frames of width dim whose values say where they come from: start + frame + col / 100."""
    return (start + np.arange(n)[:, None] + np.arange(dim)[None, :] / 100).astype(np.float32)


def sample(tag: str = "a") -> SplitArrays:
    """Three rows: a MOSI row with audio and video, a MELD row with no audio, an IEMOCAP row with no video."""
    audio, audio_offset, audio_length = pack_sequences([frames(10, 2, 3), frames(20, 0, 3), frames(30, 4, 3)], 3)
    video, video_offset, video_length = pack_sequences([frames(-1, 1, 2), frames(-2, 3, 2), frames(-3, 0, 2)], 2)
    return SplitArrays(
        ids=[f"{tag}1", f"train/{tag}_0", f"Ses05F_{tag}_F000"],
        dataset=["mosi", "meld", "iemocap"],
        inputs=["sst2 sentence: ça va très bien", "</s> Ross: 日本語 ✓ </s>", "sst2 sentence: plain"],
        targets=["positive,1.2,joy,joy", "neutral,0.0,neutral,neutral", "negative,-0.5,anger,frustrated"],
        gold_score=[1.2, math.nan, math.nan],
        gold_emotion=["", "neutral", "frustrated"],
        polarity=["positive", "neutral", "negative"],
        audio=audio, audio_offset=audio_offset, audio_length=audio_length,
        video=video, video_offset=video_offset, video_length=video_length)


def assert_same(a: SplitArrays, b: SplitArrays) -> None:
    for name in hdf5.STRING_FIELDS:
        assert getattr(a, name) == getattr(b, name), name
    np.testing.assert_array_equal(a.gold_score, b.gold_score)  # NaN == NaN here
    assert len(a) == len(b)
    for i in range(len(a)):
        np.testing.assert_array_equal(a.audio_of(i), b.audio_of(i))
        np.testing.assert_array_equal(a.video_of(i), b.video_of(i))
        assert a.audio_of(i).shape[1] == b.audio_of(i).shape[1]


# ----------------------------------------------------------------------------------------------
# in memory


def test_pack_sequences_lays_frames_end_to_end():
    flat, offset, length = pack_sequences([frames(0, 2, 3), frames(5, 0, 3), frames(9, 1, 3)], 3)
    assert flat.dtype == np.float32 and flat.shape == (3, 3)
    assert offset.tolist() == [0, 2, 2] and length.tolist() == [2, 0, 1]
    assert flat[2].tolist() == pytest.approx([9.0, 9.01, 9.02])
    with pytest.raises(ValueError, match=r"sequence 1: expected shape \[T, 3\]"):
        pack_sequences([frames(0, 2, 3), frames(0, 2, 4)], 3)
    flat, offset, length = empty_sequences(4, 64)
    assert flat.shape == (0, 64) and offset.tolist() == [0] * 4 and length.tolist() == [0] * 4


def test_views_of_one_utterance():
    a = sample()
    assert len(a) == 3 and a.audio_dim == 3 and a.video_dim == 2
    np.testing.assert_array_equal(a.audio_of(0), frames(10, 2, 3))
    assert a.audio_of(1).shape == (0, 3)
    np.testing.assert_array_equal(a.audio_of(2), frames(30, 4, 3))
    np.testing.assert_array_equal(a.video_of(1), frames(-2, 3, 2))
    assert a.video_of(2).shape == (0, 2)
    assert a.gold_score.dtype == np.float32 and a.audio_offset.dtype == np.int64
    assert a.dataset_counts() == {"mosi": 1, "meld": 1, "iemocap": 1}
    assert "3 rows" in repr(a)


def test_concat_rebases_offsets():
    a, b = sample("a"), sample("b")
    c = SplitArrays.concat([a, b])
    assert len(c) == 6 and c.ids[3:] == b.ids
    # a holds 6 audio frames and 4 video frames, so b's offsets move by 6 and 4.
    assert c.audio_offset.tolist() == [0, 2, 2, 6, 8, 8]
    assert c.audio_length.tolist() == [2, 0, 4, 2, 0, 4]
    assert c.video_offset.tolist() == [0, 1, 4, 4, 5, 8]
    assert c.audio.shape == (12, 3) and c.video.shape == (8, 2)
    np.testing.assert_array_equal(c.audio_of(5), frames(30, 4, 3))
    np.testing.assert_array_equal(c.video_of(4), frames(-2, 3, 2))
    assert np.isnan(c.gold_score[4]) and c.gold_score[3] == np.float32(1.2)


def test_concat_rejects_different_widths_and_nothing():
    a = sample()
    flat, offset, length = empty_sequences(3, 5)
    b = SplitArrays(**{**vars(a), "audio": flat, "audio_offset": offset, "audio_length": length})
    with pytest.raises(ValueError, match="audio widths differ"):
        SplitArrays.concat([a, b])
    with pytest.raises(ValueError, match="at least one"):
        SplitArrays.concat([])


def test_take_gathers_and_rebuilds_offsets():
    a = sample()
    t = a.take([2, 0, 2])
    assert t.ids == [a.ids[2], a.ids[0], a.ids[2]]
    assert t.audio_length.tolist() == [4, 2, 4] and t.audio_offset.tolist() == [0, 4, 6]
    assert t.video_length.tolist() == [0, 1, 0] and t.video_offset.tolist() == [0, 0, 1]
    assert t.audio.shape == (10, 3) and t.video.shape == (1, 2)
    np.testing.assert_array_equal(t.audio_of(1), frames(10, 2, 3))
    np.testing.assert_array_equal(t.audio_of(2), frames(30, 4, 3))
    np.testing.assert_array_equal(t.video_of(1), frames(-1, 1, 2))
    assert t.gold_score[1] == np.float32(1.2) and np.isnan(t.gold_score[0])
    # A boolean mask and an empty selection.
    m = a.take(np.array([False, True, True]))
    assert m.ids == a.ids[1:] and m.audio_offset.tolist() == [0, 0] and m.audio.shape == (4, 3)
    e = a.take([])
    assert len(e) == 0 and e.audio.shape == (0, 3) and e.video.shape == (0, 2)
    with pytest.raises(IndexError, match="row 3 out of range"):
        a.take([0, 3])


def test_inconsistent_arrays_are_rejected():
    fields = vars(sample())
    with pytest.raises(ValueError, match="targets: 2 rows, but ids has 3"):
        SplitArrays(**{**fields, "targets": ["a", "b"]})
    with pytest.raises(ValueError, match=r"inputs\[1\]: expected a string"):
        SplitArrays(**{**fields, "inputs": ["a", 3, "c"]})
    with pytest.raises(ValueError, match="audio_length: 2 rows"):
        SplitArrays(**{**fields, "audio_length": [1, 1]})
    with pytest.raises(ValueError, match=r"audio of row 2 .*frames 2\.\.7 beyond the 6 stored frames"):
        SplitArrays(**{**fields, "audio_offset": [0, 0, 2], "audio_length": [2, 0, 5]})
    with pytest.raises(ValueError, match=r"video_offset\[0\].*negative"):
        SplitArrays(**{**fields, "video_offset": [-1, 1, 4]})
    with pytest.raises(ValueError, match="video: expected 2 dimension"):
        SplitArrays(**{**fields, "video": np.zeros(4, dtype=np.float32)})


# ----------------------------------------------------------------------------------------------
# files


def test_round_trip_with_nested_groups(tmp_path):
    path = tmp_path / "merged.h5"
    a, b = sample("a"), sample("b")
    empty = a.take([])
    write_h5(path, {"train": a, "valid": empty, "test/mosi": b.take([0]), "test/meld": b}, {"n": 1})
    assert list_groups(path) == ["train", "valid", "test/mosi", "test/meld"]
    assert_same(read_h5(path, "train"), a)
    assert_same(read_h5(path, "test/meld"), b)
    assert_same(read_h5(path, "test/mosi"), b.take([0]))
    got = read_h5(path, "valid")
    assert len(got) == 0 and got.audio.shape == (0, 3) and got.video.shape == (0, 2)
    back = read_h5(path, "train")
    assert back.inputs[1] == "</s> Ross: 日本語 ✓ </s>" and back.inputs[0] == "sst2 sentence: ça va très bien"
    assert back.gold_score.dtype == np.float32 and back.audio.dtype == np.float32
    assert back.audio_offset.dtype == np.int64 and back.video_length.dtype == np.int64


def test_layout_on_disk_is_contiguous_and_typed(tmp_path):
    path = tmp_path / "x.h5"
    write_h5(path, {"train": sample()}, {})
    with h5py.File(path, "r") as f:
        assert int(f.attrs["schema_version"]) == SCHEMA_VERSION
        g = f["train"]
        assert sorted(g) == sorted([*hdf5.STRING_FIELDS.values(), *hdf5.NUMERIC_DATASETS])
        for name in hdf5.NUMERIC_DATASETS:
            assert g[name].chunks is None and g[name].compression is None, name
        assert g["audio"].dtype == np.float32 and g["audio_offset"].dtype == np.int64
        assert h5py.check_string_dtype(g["input"].dtype).encoding == "utf-8"


def test_same_content_gives_same_bytes(tmp_path):
    write_h5(tmp_path / "a.h5", {"train": sample(), "test/mosi": sample("b")}, {"config": {"x": 1}})
    write_h5(tmp_path / "b.h5", {"train": sample(), "test/mosi": sample("b")}, {"config": {"x": 1}})
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()


def test_attrs_round_trip_as_json(tmp_path):
    path = tmp_path / "x.h5"
    attrs = {"config": {"text": {"prefix": "sst2 sentence: ", "window": 2}, "datasets": ("mosi", "meld")},
             "source_sha256": {"mosi/label.csv": "ab" * 32}, "counts": {"train": np.int64(3)},
             "feature_dim": 64, "note": "ünïcode", "nothing": None, "ratio": 0.25}
    write_h5(path, {"train": sample()}, attrs)
    got = read_attrs(path)
    assert got["schema_version"] == 1
    assert got["config"] == {"text": {"prefix": "sst2 sentence: ", "window": 2}, "datasets": ["mosi", "meld"]}
    assert got["source_sha256"] == attrs["source_sha256"] and got["counts"] == {"train": 3}
    assert got["feature_dim"] == 64 and got["note"] == "ünïcode" and got["nothing"] is None and got["ratio"] == 0.25
    assert got["groups"]["train"] == {"rows": 3, "datasets": {"mosi": 1, "meld": 1, "iemocap": 1},
                                      "audio_frames": 6, "audio_dim": 3, "video_frames": 4, "video_dim": 2}
    versions = got["library_versions"]
    assert {"python", "numpy", "h5py", "hdf5", "unimse_core"} <= set(versions)
    assert versions["numpy"] == np.__version__ and versions["h5py"] == h5py.__version__


def test_bad_attrs_and_group_names_are_refused(tmp_path):
    path = tmp_path / "x.h5"
    with pytest.raises(ValueError, match="'schema_version' is set by the writer"):
        write_h5(path, {"train": sample()}, {"schema_version": 2})
    with pytest.raises(ValueError, match="'ratio' cannot be stored as JSON"):
        write_h5(path, {"train": sample()}, {"ratio": float("nan")})
    with pytest.raises(ValueError, match="'test' would hold data and the group 'test/mosi'"):
        write_h5(path, {"test": sample(), "test/mosi": sample()}, {})
    for name in ("", "/train", "test//mosi", "test/"):
        with pytest.raises(ValueError, match="group name"):
            write_h5(path, {name: sample()}, {})
    with pytest.raises(ValueError, match="no groups"):
        write_h5(path, {}, {})
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "out" / "x.h5"

    def boom(group, arrays):
        raise RuntimeError("disk full")

    monkeypatch.setattr(hdf5, "_write_group", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_h5(path, {"train": sample()}, {})
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_rewrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.h5"
    write_h5(path, {"train": sample()}, {"run": 1})
    monkeypatch.setattr(hdf5, "_write_group", lambda group, arrays: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_h5(path, {"train": sample("b")}, {"run": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["x.h5"]
    assert read_attrs(path)["run"] == 1 and read_h5(path, "train").ids == sample().ids


def test_schema_errors_name_file_and_group(tmp_path):
    path = tmp_path / "x.h5"
    with pytest.raises(SchemaError, match=r"x\.h5: file not found"):
        read_h5(path, "train")
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(SchemaError, match="not a readable HDF5 file"):
        read_attrs(path)
    with h5py.File(path, "w") as f:
        f.create_group("train")
    with pytest.raises(SchemaError, match="no schema_version attribute"):
        list_groups(path)
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = 2
    with pytest.raises(SchemaError, match="schema_version 2, this code reads 1"):
        read_h5(path, "train")

    write_h5(path, {"train": sample(), "test/mosi": sample()}, {})
    with pytest.raises(SchemaError, match=r"group 'valid': not found; split groups present: train, test/mosi"):
        read_h5(path, "valid")
    with pytest.raises(SchemaError, match="group 'test': holds no split data"):
        read_h5(path, "test")
    assert issubclass(SchemaError, RawDataError)


def test_inconsistent_file_is_a_schema_error(tmp_path):
    path = tmp_path / "x.h5"
    write_h5(path, {"train": sample()}, {})
    with h5py.File(path, "a") as f:
        del f["train/target"]
        f["train"].create_dataset("target", data=np.array(["a", "b"], dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(SchemaError, match=r"x\.h5: group 'train': inconsistent data: targets: 2 rows, but ids has 3"):
        read_h5(path, "train")
    with h5py.File(path, "a") as f:
        del f["train/video_length"]
    with pytest.raises(SchemaError, match="group 'train': missing dataset.s. video_length"):
        read_h5(path, "train")


def test_memory_map_equals_reading_into_memory(tmp_path):
    path = tmp_path / "x.h5"
    big = SplitArrays.concat([sample("a"), sample("b")])
    write_h5(path, {"train": big, "valid": sample("c").take([])}, {})
    in_ram = read_h5(path, "train")
    # audio: 12 x 3 float32 = 144 bytes, video: 8 x 2 = 64 bytes; a threshold of 100 maps audio only.
    mapped = read_h5(path, "train", mmap_over_bytes=100)
    assert isinstance(mapped.audio, np.memmap) and not isinstance(mapped.video, np.memmap)
    assert not isinstance(in_ram.audio, np.memmap)
    assert not mapped.audio.flags.writeable
    assert_same(mapped, in_ram)
    np.testing.assert_array_equal(np.asarray(mapped.audio), big.audio)
    # Everything mapped; an empty array has no storage to map and is read instead.
    everything = read_h5(path, "train", mmap_over_bytes=0)
    assert isinstance(everything.video, np.memmap)
    assert_same(everything, in_ram)
    assert read_h5(path, "valid", mmap_over_bytes=0).audio.shape == (0, 3)
    # take and concat of mapped arrays give ordinary arrays in memory.
    assert_same(mapped.take([5, 0]), in_ram.take([5, 0]))
