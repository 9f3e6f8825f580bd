"""The data loader: tokenization once, collate padding, the bucketing / distributed batch sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from unimse_core.config import ConfigError, LoaderConfig, from_dict
from unimse_core.data import LABEL_PAD, LengthBucketSampler, UniMSEDataset, collate, make_loader
from unimse_core.io.hdf5 import SplitArrays, pack_sequences

WORDS = "sst2 sentence : ross i am fine you are not ok positive negative neutral joy anger , . 0 1 2".split()
TEXTS = ["sst2 sentence : i am fine", "sst2 sentence : </s> ross : you are not ok </s> i am",
         "fine", "", "sst2 sentence : you you you you you you you you you you you you", "ok ok"]
TARGETS = ["positive , 1 . 2 , joy", "negative , 0 . 0", "neutral", "joy", "anger , anger", ""]

LOADER = {"batch_size": 2, "eval_batch_size": 4, "max_input_tokens": 8, "max_target_tokens": 5,
          "bucket_size": 0, "drop_last": False, "num_workers": 0, "mmap_over_mib": 0}


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer built offline: pad 0, </s> 1 (appended like T5's EOS), unk 2."""
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(["<pad>", "</s>", "<unk>"])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def arrays(n: int = len(TEXTS)) -> SplitArrays:
    """n rows (texts cycled); row i has i % 4 audio frames of width 3 valued i + 1, and 2 video frames."""
    audio = pack_sequences([np.full((i % 4, 3), i + 1, dtype=np.float32) for i in range(n)], 3)
    video = pack_sequences([np.full((2, 2), -(i + 1), dtype=np.float32) for i in range(n)], 2)
    return SplitArrays(ids=[f"id{i}" for i in range(n)], dataset=["mosi"] * n,
                       inputs=[TEXTS[i % len(TEXTS)] for i in range(n)],
                       targets=[TARGETS[i % len(TARGETS)] for i in range(n)],
                       gold_score=np.zeros(n, dtype=np.float32), gold_emotion=[""] * n, polarity=["neutral"] * n,
                       audio=audio[0], audio_offset=audio[1], audio_length=audio[2],
                       video=video[0], video_offset=video[1], video_length=video[2])


def config(**changes) -> LoaderConfig:
    return from_dict(LoaderConfig, {**LOADER, **changes}, "loader")


# ----------------------------------------------------------------------------------------------
# tokenization and items


def test_the_test_tokenizer_behaves_like_t5(tokenizer):
    ids = tokenizer("ross </s> fine")["input_ids"]
    assert ids == [WORDS.index("ross") + 3, 1, WORDS.index("fine") + 3, 1]
    assert tokenizer("zzz")["input_ids"] == [2, 1]
    assert tokenizer.pad_token_id == 0 and tokenizer.eos_token_id == 1


def test_dataset_tokenizes_once_into_flat_arrays(tokenizer):
    data = arrays()
    ds = UniMSEDataset(data, tokenizer, max_input_tokens=8, max_target_tokens=5)
    assert len(ds) == len(TEXTS)
    assert all(isinstance(v, np.ndarray) for v in vars(ds).values())  # no per-item Python objects
    assert ds.input_ids.dtype == np.int32 and ds.input_offset.dtype == np.int64
    for i in range(len(ds)):
        item = ds[i]
        assert item["index"] == i
        assert item["input_ids"].tolist() == tokenizer(TEXTS[i], truncation=True, max_length=8)["input_ids"]
        assert item["labels"].tolist() == tokenizer(TARGETS[i], truncation=True, max_length=5)["input_ids"]
        np.testing.assert_array_equal(item["audio"], data.audio_of(i))
        np.testing.assert_array_equal(item["video"], data.video_of(i))
    # Truncation keeps the EOS; an empty text is EOS alone.
    assert ds[4]["input_ids"].tolist()[-1] == 1 and len(ds[4]["input_ids"]) == 8
    assert ds[3]["input_ids"].tolist() == [1] and ds[5]["labels"].tolist() == [1]
    assert ds.input_length.tolist() == [len(ds[i]["input_ids"]) for i in range(len(ds))]
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_tokenization_in_chunks_equals_one_call(tokenizer, monkeypatch):
    import unimse_core.data as data_module

    whole = UniMSEDataset(arrays(13), tokenizer, max_input_tokens=8, max_target_tokens=5)
    monkeypatch.setattr(data_module, "TOKENIZE_CHUNK", 4)
    chunked = UniMSEDataset(arrays(13), tokenizer, max_input_tokens=8, max_target_tokens=5)
    for name in ("input_ids", "input_offset", "input_length", "label_ids", "label_offset", "label_length"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(chunked, name))


# ----------------------------------------------------------------------------------------------
# collate


def item(index, input_ids, labels, audio_frames, video_frames, audio_dim=3, video_dim=2):
    return {"index": index, "input_ids": np.array(input_ids, dtype=np.int32),
            "labels": np.array(labels, dtype=np.int32),
            "audio": np.arange(audio_frames * audio_dim, dtype=np.float32).reshape(audio_frames, audio_dim) + 1,
            "video": np.full((video_frames, video_dim), 7, dtype=np.float32)}


def test_collate_pads_on_the_right():
    batch = collate([item(5, [4, 5, 1], [9, 1], 2, 0), item(2, [6, 1], [8, 7, 6, 1], 0, 0),
                     item(9, [1], [1], 3, 1)], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[4, 5, 1], [6, 1, 0], [1, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0], [1, 0, 0]]
    assert batch["labels"].tolist() == [[9, 1, -100, -100], [8, 7, 6, 1], [1, -100, -100, -100]]
    assert LABEL_PAD == -100
    assert batch["index"].tolist() == [5, 2, 9]
    assert batch["audio"].shape == (3, 3, 3) and batch["audio"].dtype == torch.float32
    assert batch["audio"][0].tolist() == [[1, 2, 3], [4, 5, 6], [0, 0, 0]]
    assert batch["audio"][1].tolist() == [[0, 0, 0]] * 3
    assert batch["audio"][2].tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert batch["audio_lengths"].tolist() == [2, 0, 3]
    assert batch["video"].tolist() == [[[0, 0]], [[0, 0]], [[7, 7]]]
    assert batch["video_lengths"].tolist() == [0, 0, 1]
    for key in ("input_ids", "attention_mask", "labels", "index", "audio_lengths", "video_lengths"):
        assert batch[key].dtype == torch.int64, key


def test_collate_of_text_only_items_keeps_one_zero_frame():
    batch = collate([item(0, [3, 1], [1], 0, 0, 64, 64), item(1, [1], [2, 1], 0, 0, 64, 64)], pad_token_id=5)
    assert batch["input_ids"].tolist() == [[3, 1], [1, 5]]
    assert batch["audio"].shape == (2, 1, 64) and not batch["audio"].any()
    assert batch["video"].shape == (2, 1, 64) and batch["video_lengths"].tolist() == [0, 0]
    with pytest.raises(ValueError, match="empty batch"):
        collate([], pad_token_id=0)


# ----------------------------------------------------------------------------------------------
# sampler


def epoch_batches(sampler: LengthBucketSampler, epoch: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_sampler_is_deterministic_for_seed_and_epoch():
    lengths = np.arange(50)
    a = LengthBucketSampler(lengths, batch_size=4, shuffle=True, seed=3)
    b = LengthBucketSampler(lengths, batch_size=4, shuffle=True, seed=3)
    assert epoch_batches(a, 0) == epoch_batches(b, 0)
    assert epoch_batches(a, 1) == epoch_batches(b, 1)
    assert epoch_batches(a, 0) != epoch_batches(a, 1)
    other = LengthBucketSampler(lengths, batch_size=4, shuffle=True, seed=4)
    assert epoch_batches(other, 0) != epoch_batches(a, 0)
    for epoch in range(3):
        batches = epoch_batches(a, epoch)
        assert len(batches) == len(a) == 13
        assert [len(x) for x in batches] == [4] * 12 + [2]
        assert sorted(i for x in batches for i in x) == list(range(50))


def test_sampler_without_shuffle_keeps_order_and_drop_last():
    s = LengthBucketSampler(np.zeros(7), batch_size=3, shuffle=False)
    assert list(s) == [[0, 1, 2], [3, 4, 5], [6]]
    d = LengthBucketSampler(np.zeros(7), batch_size=3, shuffle=False, drop_last=True)
    assert list(d) == [[0, 1, 2], [3, 4, 5]] and len(d) == 2
    shuffled = epoch_batches(LengthBucketSampler(np.zeros(7), batch_size=3, shuffle=True, drop_last=True), 2)
    assert [len(x) for x in shuffled] == [3, 3] and len(set(shuffled[0] + shuffled[1])) == 6
    with pytest.raises(ValueError, match="no batch to sample: 2 rows"):
        LengthBucketSampler(np.zeros(2), batch_size=3, shuffle=True, drop_last=True)
    with pytest.raises(ValueError, match="rank"):
        LengthBucketSampler(np.zeros(9), batch_size=3, shuffle=True, rank=2, world_size=2)


def test_bucketing_groups_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=203)
    s = LengthBucketSampler(lengths, batch_size=8, shuffle=True, seed=1, bucket_size=5)
    plain = LengthBucketSampler(lengths, batch_size=8, shuffle=True, seed=1)
    for epoch in range(2):
        batches = epoch_batches(s, epoch)
        assert sorted(i for x in batches for i in x) == list(range(203))  # every row once
        assert sum(len(x) < 8 for x in batches) == 1 and len(batches) == 26
        spread = np.mean([np.ptp(lengths[x]) for x in batches])
        plain_spread = np.mean([np.ptp(lengths[x]) for x in epoch_batches(plain, epoch)])
        assert spread < plain_spread / 3
    # Within each chunk of 5 batches' rows the batches are sorted: with one chunk covering
    # everything and no shuffling, the batches come out in length order.
    ordered = LengthBucketSampler(lengths, batch_size=8, shuffle=False, bucket_size=100)
    flat = [i for x in ordered for i in x]
    assert lengths[flat].tolist() == sorted(lengths.tolist())
    # Batches are shuffled after sorting: the first batch of an epoch is not always the shortest.
    firsts = {int(lengths[epoch_batches(s, e)[0]].max()) for e in range(5)}
    assert len(firsts) > 1


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("bucket_size", [0, 2])
def test_distributed_shares_are_equal_disjoint_and_cover_everything(world_size, bucket_size):
    n, batch_size = 23, 4  # 6 batches, the last of 3 rows
    lengths = np.arange(n)[::-1]
    samplers = [LengthBucketSampler(lengths, batch_size=batch_size, shuffle=True, seed=7, bucket_size=bucket_size,
                                    rank=r, world_size=world_size) for r in range(world_size)]
    for epoch in range(2):
        shares = [epoch_batches(s, epoch) for s in samplers]
        steps = -(-6 // world_size)
        assert all(len(share) == len(s) == steps for share, s in zip(shares, samplers))
        global_batches = [b.tolist() for b in samplers[0].global_batches()]
        # Step k of rank r is batch k * world_size + r of the global order, padded by repeating its start.
        padded = (global_batches * 2)[:steps * world_size]
        for r, share in enumerate(shares):
            assert share == padded[r::world_size]
        real = [b for k, b in enumerate(padded) if k < len(global_batches)]
        rows = [i for b in real for i in b]
        assert sorted(rows) == list(range(n))  # the unpadded batches: disjoint and complete
        owners = {i: r for r, share in enumerate(shares) for k, b in enumerate(share)
                  if k * world_size + r < len(global_batches) for i in b}
        assert len(owners) == n
    # world_size 3 pads 6 batches to 6 (none repeated); world_size 4 would pad to 8.
    four = [LengthBucketSampler(lengths, batch_size=batch_size, shuffle=True, seed=7, rank=r, world_size=4)
            for r in range(4)]
    shares = [list(s) for s in four]
    assert [len(x) for x in shares] == [2, 2, 2, 2]
    assert shares[2][1] == shares[0][0] and shares[3][1] == shares[1][0]


def test_more_ranks_than_batches_repeat_batches():
    shares = [list(LengthBucketSampler(np.zeros(5), batch_size=4, shuffle=False, rank=r, world_size=3))
              for r in range(3)]
    assert shares == [[[0, 1, 2, 3]], [[4]], [[0, 1, 2, 3]]]


# ----------------------------------------------------------------------------------------------
# loader


def test_loader_config_from_yaml():
    c = config(mmap_over_mib=256)
    assert c.mmap_over_bytes == 256 * 2**20 and config().mmap_over_bytes is None
    with pytest.raises(ConfigError, match="loader.batch_size: must be >= 1, got 0"):
        config(batch_size=0)
    with pytest.raises(ConfigError, match="loader.num_workers: must be >= 0"):
        config(num_workers=-1)
    with pytest.raises(ConfigError, match="loader.drop_last: missing key"):
        from_dict(LoaderConfig, {k: v for k, v in LOADER.items() if k != "drop_last"}, "loader")


def test_eval_loader_sees_every_row_once_in_order(tokenizer):
    data = arrays(11)
    loader = make_loader(data, tokenizer, config(), train=False, seed=0)
    batches = list(loader)
    assert [len(b["index"]) for b in batches] == [4, 4, 3]
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(11))
    for b in batches:
        for row, i in enumerate(b["index"].tolist()):
            ids = tokenizer(data.inputs[i], truncation=True, max_length=8)["input_ids"]
            assert b["input_ids"][row, :len(ids)].tolist() == ids
            assert b["attention_mask"][row].sum().item() == len(ids)
            n = data.audio_length[i]
            assert b["audio_lengths"][row].item() == n
            assert (b["audio"][row, :n] == i + 1).all() and not b["audio"][row, n:].any()


def test_train_loader_shuffles_per_epoch_and_workers_agree(tokenizer):
    data = arrays(21)
    cfg = config(drop_last=True, bucket_size=2)
    loader = make_loader(data, tokenizer, cfg, train=True, seed=5)
    orders = []
    for epoch in (0, 1, 0):
        loader.batch_sampler.set_epoch(epoch)
        batches = list(loader)
        assert [len(b["index"]) for b in batches] == [2] * 10
        orders.append(torch.cat([b["index"] for b in batches]).tolist())
    assert orders[0] == orders[2] != orders[1]
    assert len(set(orders[0])) == 20
    with_workers = make_loader(data, tokenizer, config(drop_last=True, bucket_size=2, num_workers=2),
                               train=True, seed=5)
    with_workers.batch_sampler.set_epoch(1)
    assert torch.cat([b["index"] for b in with_workers]).tolist() == orders[1]


def test_loader_ranks_split_the_epoch(tokenizer):
    data = arrays(10)
    shares = [make_loader(data, tokenizer, config(), train=True, seed=2, rank=r, world_size=2) for r in range(2)]
    seen = [torch.cat([b["index"] for b in loader]).tolist() for loader in shares]
    assert len(shares[0]) == len(shares[1]) == 3  # 5 batches of 2, padded to 6
    assert set(seen[0]) | set(seen[1]) == set(range(10))
