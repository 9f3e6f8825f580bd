"""Universal-label transfer: the vectorised search against a plain per-pair loop, and hand-worked cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

from unimse_core.config import LabelsConfig
from unimse_core.labels import (COLUMNS, SLOTS, LabelError, Samples, Transfer, polarity_pool, transfer_summary,
                                transfer)



def labels_config(neighbour_splits=("train",), chunk_size=1024) -> LabelsConfig:
    return LabelsConfig(neighbour_splits=tuple(neighbour_splits), chunk_size=chunk_size, iemocap_other_codes="exclude")


TRAIN = labels_config()
ALL = labels_config(("train", "valid", "test"))
NAN = math.nan

# ----------------------------------------------------------------------------------------------
# the reference algorithm, written out plainly


SOURCES = {"score": {"mosi", "mosei"}, "meld_emotion": {"meld"}, "iemocap_emotion": {"iemocap"}}


def loop_pool(record):
    if record["dataset"] == "iemocap":
        code = record["emotion"]
        return "neutral" if code == "neu" else "positive" if code in ("hap", "exc") else "negative"
    return record["sentiment"].lower()


def loop_cosine(u, v):
    """1 - scipy.spatial.distance.cosine(u, v), on Python floats."""
    dot = sum(a * b for a, b in zip(u, v))
    nu = math.sqrt(sum(a * a for a in u))
    nv = math.sqrt(sum(b * b for b in v))
    return dot / (nu * nv) if nu and nv else 0.0


def loop_neighbours(records, vectors, splits):
    """{slot: [row of the neighbour or -1]}: every query against every candidate, first maximum kept."""
    out = {slot: [-1] * len(records) for slot in SLOTS}
    for i, query in enumerate(records):
        pool = loop_pool(query)
        if pool == "neutral":
            continue
        for slot in SLOTS:
            if query["dataset"] in SOURCES[slot]:
                continue
            best, best_sim = -1, -math.inf
            for j, cand in enumerate(records):
                if cand["dataset"] in SOURCES[slot] and cand["split"] in splits and loop_pool(cand) == pool:
                    sim = loop_cosine(vectors[i], vectors[j])
                    if sim > best_sim:  # strictly greater: a tie keeps the lower index
                        best, best_sim = j, sim
            out[slot][i] = best
    return out


# ----------------------------------------------------------------------------------------------
# random tables with deliberate ties


SENTIMENTS = {"mosi": ["Positive", "Negative", "Neutral"], "mosei": ["Positive", "Negative", "Neutral"],
              "meld": ["positive", "negative", "neutral"]}
MELD_BY_SENTIMENT = {"positive": ["joy", "surprise"], "negative": ["anger", "sadness", "disgust", "fear", "surprise"],
                     "neutral": ["neutral"]}
IEMOCAP = ["hap", "sad", "neu", "fru", "ang", "exc", "sur", "xxx"]


def random_records(rng, n, datasets=("mosi", "mosei", "meld", "iemocap")):
    records = []
    for i in range(n):
        dataset = datasets[rng.integers(len(datasets))]
        record = {"id": f"{dataset}/{i}", "dataset": dataset,
                  "split": ["train", "train", "valid", "test"][rng.integers(4)]}
        if dataset in ("mosi", "mosei"):
            record["sentiment"] = SENTIMENTS[dataset][rng.integers(3)]
            sign = {"Positive": 1, "Negative": -1, "Neutral": 0}[record["sentiment"]]
            record["score"] = round(sign * rng.uniform(0.2, 3.0), 4)
        elif dataset == "meld":
            record["sentiment"] = SENTIMENTS["meld"][rng.integers(3)]
            options = MELD_BY_SENTIMENT[record["sentiment"]]
            record["emotion"] = options[rng.integers(len(options))]
        else:
            record["emotion"] = IEMOCAP[rng.integers(len(IEMOCAP))]
        records.append(record)
    return records


def random_vectors(rng, n, dim, *, copies):
    """float32 rows; `copies` rows are exact (or power-of-two scaled) copies of earlier rows: exact ties."""
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    for _ in range(copies):
        src, dst = sorted(rng.choice(n, size=2, replace=False))
        vectors[dst] = vectors[src] * np.float32([1.0, 2.0, 0.5][rng.integers(3)])
    return vectors


def neighbours_of(result: Transfer):
    return {slot: result.neighbour[slot].tolist() for slot in SLOTS}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("splits", [("train",), ("train", "valid", "test")])
def test_vectorised_transfer_equals_the_per_pair_loop(seed, splits):
    rng = np.random.default_rng(seed)
    records = random_records(rng, 160)
    vectors = random_vectors(rng, 160, 12, copies=40)
    expected = loop_neighbours(records, vectors.astype(np.float64).tolist(), splits)
    result = transfer(Samples.from_records(records), vectors, labels_config(splits, 7))
    assert neighbours_of(result) == expected
    # The copied values are the neighbour's own labels; the cosine is the neighbour's similarity.
    for i, record in enumerate(records):
        for slot in SLOTS:
            j = expected[slot][i]
            if j < 0:
                continue
            own = records[j]["score"] if slot == "score" else records[j]["emotion"]
            assert getattr(result, slot)[i] == own
            assert result.cosine[slot][i] == pytest.approx(loop_cosine(vectors[i].tolist(), vectors[j].tolist()),
                                                           abs=1e-12)


def test_ties_between_copies_go_to_the_first_candidate_at_every_position():
    # One query and 300 identical candidates: a float32 GEMM may round them differently by
    # column; the first must win anyway. A slightly better candidate later still wins.
    rng = np.random.default_rng(5)
    base = rng.normal(size=64).astype(np.float32)
    records = [{"id": "q", "dataset": "mosi", "split": "train", "sentiment": "Positive", "score": 1.0}]
    records += [{"id": f"m{k}", "dataset": "meld", "split": "train", "sentiment": "positive", "emotion": "joy"}
                for k in range(300)]
    vectors = np.tile(base, (301, 1)) + rng.normal(scale=0.05, size=(301, 64)).astype(np.float32)
    vectors[1:] = vectors[1]  # every candidate identical
    result = transfer(Samples.from_records(records), vectors, TRAIN)
    assert result.neighbour["meld_emotion"][0] == 1
    vectors[200] = vectors[0]  # an exact match wins over the tied crowd
    result = transfer(Samples.from_records(records), vectors, TRAIN)
    assert result.neighbour["meld_emotion"][0] == 200
    assert result.cosine["meld_emotion"][0] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_sparse_embeddings_equal_the_loop(seed):
    rng = np.random.default_rng(seed)
    records = random_records(rng, 120)
    dense = sp.random(120, 40, density=0.15, random_state=seed, format="csr").toarray()
    dense[rng.choice(120, size=10, replace=False)] = 0.0  # texts without a known token: zero rows
    for _ in range(25):
        src, dst = sorted(rng.choice(120, size=2, replace=False))
        dense[dst] = dense[src]
    expected = loop_neighbours(records, dense.tolist(), ("train",))
    result = transfer(Samples.from_records(records), sp.csr_matrix(dense), TRAIN)
    assert neighbours_of(result) == expected
    assert result.zero_vectors == int(np.sum(~dense.any(axis=1)))
    # The dense path on the same rows agrees too.
    assert neighbours_of(transfer(Samples.from_records(records), dense, TRAIN)) == expected


def test_chunk_size_does_not_change_the_result():
    rng = np.random.default_rng(7)
    records = random_records(rng, 200)
    vectors = random_vectors(rng, 200, 16, copies=30)
    one = transfer(Samples.from_records(records), vectors, labels_config(("train",), 1))
    big = transfer(Samples.from_records(records), vectors, labels_config(("train",), 10**6))
    for name, column in one.columns().items():
        np.testing.assert_array_equal(np.asarray(column), np.asarray(big.columns()[name]), err_msg=name)
    for slot in SLOTS:
        np.testing.assert_array_equal(one.neighbour[slot], big.neighbour[slot])
        np.testing.assert_array_equal(one.cosine[slot], big.cosine[slot])


@pytest.mark.parametrize("chunk_size", [1, 2, 1000])
def test_float64_decides_where_float32_cannot(chunk_size):
    # Two candidates equal in float32 but not in float64: the later one is truly closer and must
    # win, along rows (MOSI query, MELD candidates) and along columns of the shared block (MELD
    # query, MOSI candidates, which fall in different chunks when chunk_size < 3).
    rng = np.random.default_rng(21)
    q_msa, q_meld, noise_a, noise_b = rng.normal(size=(4, 24))
    base_msa, base_meld = q_meld + 0.3 * noise_a, q_msa + 0.3 * noise_b    # nearest to the other query
    vectors = np.array([q_msa, base_msa, base_msa + 1e-9 * q_meld,          # rows 0-2: MOSI
                        q_meld, base_meld, base_meld + 1e-9 * q_msa])       # rows 3-5: MELD
    assert (vectors[1].astype(np.float32) == vectors[2].astype(np.float32)).all()
    records = [{"id": f"m{k}", "dataset": "mosi", "split": "train", "sentiment": "Positive", "score": k + 1.0}
               for k in range(3)]
    records += [{"id": f"e{k}", "dataset": "meld", "split": "train", "sentiment": "positive", "emotion": e}
                for k, e in enumerate(["joy", "joy", "surprise"])]
    config = labels_config(("train",), chunk_size)
    result = transfer(Samples.from_records(records), vectors, config)
    expected = loop_neighbours(records, vectors.tolist(), ("train",))
    assert neighbours_of(result) == expected
    assert expected["meld_emotion"][0] == 5 and expected["score"][3] == 2


@pytest.mark.parametrize(("seed", "splits", "chunk_size"),
                         [(30, ("train",), 64), (31, ("train", "valid", "test"), 100)])
def test_larger_tables_match_a_float64_brute_force(seed, splits, chunk_size):
    # Too big for the pure-Python loop: every query row against all its candidates in float64.
    rng = np.random.default_rng(seed)
    records = random_records(rng, 1500)
    vectors = random_vectors(rng, 1500, 32, copies=300)
    samples = Samples.from_records(records)
    result = transfer(samples, vectors, labels_config(splits, chunk_size))
    unit = vectors.astype(np.float64) / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    allowed = np.isin(samples.split, splits)
    for slot in SLOTS:
        source = np.isin(samples.dataset, sorted(SOURCES[slot]))
        for i in np.flatnonzero((samples.pool != "neutral") & ~source):
            candidates = np.flatnonzero(source & allowed & (samples.pool == samples.pool[i]))
            sims = (unit[candidates] * unit[i]).sum(axis=1)
            assert result.neighbour[slot][i] == candidates[np.argmax(sims)]


# ----------------------------------------------------------------------------------------------
# a case worked out by hand


def hand_table():
    # 2-D vectors; the positive pool holds m0, m1, e0, e1, e2, i0.
    #   m0 mosi  (1, 0)     score 2.0          e0 meld (0.6, 0.8)  joy       (train)
    #   m1 mosei (0, 3)     score 1.0          e1 meld (0.6, -0.8) surprise  (train)
    #   i0 iemocap (-1, 0)  hap                e2 meld (1, 0)      surprise  (TEST: same direction as m0)
    # Cosines: m0.e0 = m0.e1 = 0.6 (a tie between different vectors), m0.e2 = 1, m1.e0 = 0.8,
    # m1.e1 = -0.8, m0.i0 = -1, m1.i0 = 0, e0.i0 = e1.i0 = -0.6, e2.i0 = -1.
    # Train-only neighbours:
    #   m0 -> MELD: e0 (tie with e1 -> first); IEMOCAP: i0 (the only one, cosine -1: no threshold)
    #   m1 -> MELD: e0 (0.8);                  IEMOCAP: i0 (0)
    #   e0 -> score: m1 (0.8 > 0.6) = 1.0;     IEMOCAP: i0
    #   e1 -> score: m0 (0.6 > -0.8) = 2.0;    IEMOCAP: i0
    #   e2 -> score: m0 (1.0) = 2.0;           IEMOCAP: i0   (test rows are still queries)
    #   i0 -> score: m1 (0 > -1) = 1.0;        MELD: e0 (tie -0.6 with e1 -> first; e2 is test)
    # With every split allowed: m0 -> MELD e2 (cosine 1, the test label leaks); i0 -> MELD stays e0
    # (e2 gives -1). n0, a negative MELD sample identical to m0, finds no negative MOSI/MOSEI or
    # IEMOCAP sample: defaults. u0, a neutral MELD sample identical to m0, is never matched.
    records = [
        {"id": "m0", "dataset": "mosi", "split": "train", "sentiment": "Positive", "score": 2.0},
        {"id": "m1", "dataset": "mosei", "split": "valid", "sentiment": "positive", "score": 1.0},
        {"id": "e0", "dataset": "meld", "split": "train", "sentiment": "positive", "emotion": "joy"},
        {"id": "e1", "dataset": "meld", "split": "train", "sentiment": "positive", "emotion": "Surprise"},
        {"id": "e2", "dataset": "meld", "split": "test", "sentiment": "positive", "emotion": "surprise"},
        {"id": "i0", "dataset": "iemocap", "split": "train", "emotion": "hap"},
        {"id": "n0", "dataset": "meld", "split": "train", "sentiment": "negative", "emotion": "anger"},
        {"id": "u0", "dataset": "meld", "split": "train", "sentiment": "neutral", "emotion": "neutral"},
    ]
    vectors = np.array([[1, 0], [0, 3], [0.6, 0.8], [0.6, -0.8], [1, 0], [-1, 0], [1, 0], [1, 0]], dtype=np.float32)
    return Samples.from_records(records), vectors


def test_hand_worked_example_train_only():
    samples, vectors = hand_table()
    table = transfer(samples, vectors, TRAIN).columns()
    assert table["meld_emotion"] == ["joy", "joy", "joy", "surprise", "surprise", "joy", "anger", "neutral"]
    assert table["meld_emotion_neighbour"] == ["e0", "e0", "", "", "", "e0", "", ""]
    # m1 is a valid-split sample: never a neighbour with neighbour_splits [train].
    assert table["score"] == [2.0, 1.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.0]
    assert table["score_neighbour"] == ["", "", "m0", "m0", "m0", "m0", "", ""]
    assert table["iemocap_emotion"] == ["hap", "hap", "hap", "hap", "hap", "hap", "neu", "neu"]
    assert table["iemocap_emotion_neighbour"] == ["i0", "i0", "i0", "i0", "i0", "", "", ""]
    cos = table["meld_emotion_cosine"]
    assert cos[0] == pytest.approx(0.6) and cos[1] == pytest.approx(0.8) and cos[5] == pytest.approx(-0.6)
    assert math.isnan(cos[2]) and math.isnan(cos[6])
    assert table["polarity"] == ["positive"] * 6 + ["negative", "neutral"]
    assert list(table) == list(COLUMNS)


def test_hand_worked_example_all_splits_reproduces_the_leak():
    samples, vectors = hand_table()
    table = transfer(samples, vectors, ALL).columns()
    assert table["meld_emotion_neighbour"] == ["e2", "e0", "", "", "", "e0", "", ""]
    assert table["meld_emotion"][0] == "surprise"
    assert table["meld_emotion_cosine"][0] == pytest.approx(1.0)
    # m1 (valid) may now be a neighbour: e0 -> m1 (0.8), i0 -> m1 (0 > -1).
    assert table["score_neighbour"] == ["", "", "m1", "m0", "m0", "m1", "", ""]
    assert table["score"] == [2.0, 1.0, 1.0, 2.0, 2.0, 1.0, 0.0, 0.0]


def test_neighbours_come_only_from_the_allowed_splits():
    rng = np.random.default_rng(11)
    records = random_records(rng, 300)
    vectors = random_vectors(rng, 300, 8, copies=0)
    samples = Samples.from_records(records)
    for config, allowed in ((TRAIN, {"train"}), (labels_config(("train", "valid"), 64), {"train", "valid"})):
        result = transfer(samples, vectors, config)
        used = {samples.split[j] for slot in SLOTS for j in result.neighbour[slot] if j >= 0}
        assert used == allowed
    leaked = transfer(samples, vectors, ALL)
    assert "test" in {samples.split[j] for slot in SLOTS for j in leaked.neighbour[slot] if j >= 0}


def test_neutral_samples_are_never_matched_and_never_neighbours():
    rng = np.random.default_rng(12)
    records = random_records(rng, 250)
    samples = Samples.from_records(records)
    result = transfer(samples, random_vectors(rng, 250, 8, copies=20), ALL)
    neutral = np.flatnonzero(samples.pool == "neutral")
    assert len(neutral) > 20
    for slot in SLOTS:
        assert not np.isin(result.neighbour[slot], neutral).any()
        assert (result.neighbour[slot][neutral] == -1).all()
        assert set(result.status[slot][neutral]) <= {"own", "neutral"}
    not_msa = neutral[~np.isin(samples.dataset[neutral], ["mosi", "mosei"])]
    assert (result.score[not_msa] == 0.0).all()
    assert set(result.meld_emotion[neutral]) == {"neutral"}
    assert set(result.iemocap_emotion[neutral]) == {"neu"}


def test_an_absent_dataset_keeps_the_neutral_default_and_is_counted():
    rng = np.random.default_rng(13)
    records = random_records(rng, 120, datasets=("mosi", "mosei", "meld"))
    samples = Samples.from_records(records)
    result = transfer(samples, random_vectors(rng, 120, 8, copies=0), TRAIN)
    assert set(result.iemocap_emotion) == {"neu"}
    assert (result.neighbour["iemocap_emotion"] == -1).all()
    matched_pools = samples.pool != "neutral"
    assert set(result.status["iemocap_emotion"][matched_pools]) == {"no_candidate"}
    summary = transfer_summary(result)
    assert summary["absent_datasets"] == ["iemocap"]
    assert summary["status"]["mosi"]["iemocap_emotion"]["no_candidate"] == int(np.sum(
        (samples.dataset == "mosi") & matched_pools))
    json.dumps(summary)  # JSON-ready


def test_an_empty_pool_is_counted_not_an_error():
    records = [{"id": "m0", "dataset": "mosi", "split": "train", "sentiment": "Positive", "score": 1.0},
               {"id": "e0", "dataset": "meld", "split": "train", "sentiment": "negative", "emotion": "anger"}]
    result = transfer(Samples.from_records(records), np.eye(2, dtype=np.float32), TRAIN)
    assert result.meld_emotion.tolist() == ["neutral", "anger"] and result.score.tolist() == [1.0, 0.0]
    assert result.status["meld_emotion"][0] == "no_candidate" and result.status["score"][1] == "no_candidate"
    summary = transfer_summary(result)
    assert summary["empty_pools"] == ["mosi/negative", "meld/positive"]


def test_msa_polarity_follows_the_score_but_the_pool_follows_the_annotation():
    # MOSI has one clip annotated Neutral with a negative score: it stays in the neutral pool.
    records = [{"id": "m0", "dataset": "mosi", "split": "train", "sentiment": "Neutral", "score": -0.4},
               {"id": "e0", "dataset": "meld", "split": "train", "sentiment": "negative", "emotion": "anger"}]
    result = transfer(Samples.from_records(records), np.ones((2, 3), dtype=np.float32), TRAIN)
    assert result.polarity[0] == "negative" and result.samples.pool[0] == "neutral"
    assert result.meld_emotion[0] == "neutral" and result.neighbour["meld_emotion"][0] == -1
    assert transfer_summary(result)["pool_polarity_mismatch"]["mosi"] == 1


def test_summary_counts_labels_statuses_and_cosines():
    samples, vectors = hand_table()
    summary = transfer_summary(transfer(samples, vectors, TRAIN))
    assert summary["rows"] == {"mosi": 1, "mosei": 1, "meld": 5, "iemocap": 1}
    assert summary["pools"]["meld"] == {"positive": 3, "negative": 1, "neutral": 1}
    assert summary["labels"]["meld"]["score"] == {"+0": 2, "+2": 3}
    assert summary["labels"]["meld"]["meld_emotion"] == {"anger": 1, "joy": 1, "neutral": 1, "surprise": 2}
    assert summary["status"]["meld"]["score"] == {"own": 0, "matched": 3, "neutral": 1, "no_candidate": 1}
    assert summary["neighbour_splits_used"]["iemocap"] == {"score": {"train": 1}, "meld_emotion": {"train": 1}}
    assert summary["cosine"]["mosei"]["meld_emotion"]["median"] == pytest.approx(0.8)
    assert summary["cosine"]["iemocap"]["score"]["count"] == 1


# ----------------------------------------------------------------------------------------------
# bad input


def good_records():
    return [{"id": "m0", "dataset": "mosi", "split": "train", "sentiment": "Positive", "score": 1.0},
            {"id": "e0", "dataset": "meld", "split": "valid", "sentiment": "positive", "emotion": "joy"},
            {"id": "i0", "dataset": "iemocap", "split": "test", "emotion": "exc"}]


@pytest.mark.parametrize(("change", "message"), [
    ({"id": "m0"}, "record 'm0' (row 1): duplicate id, first at row 0"),
    ({"sentiment": "happy"}, "record 'e0' (row 1), meld/valid: unknown Sentiment 'happy'"),
    ({"emotion": "happy"}, "record 'e0' (row 1), meld/valid: unknown MELD emotion 'happy'"),
    ({"split": "dev"}, "record 'e0' (row 1): unknown split 'dev'"),
    ({"dataset": "sst"}, "record 'e0' (row 1): unknown dataset 'sst'"),
    ({"dataset": "iemocap", "emotion": "joy"}, "record 'e0' (row 1), iemocap/valid: unknown IEMOCAP label 'joy'"),
    ({"dataset": "mosei", "sentiment": "Positive", "score": NAN}, "record 'e0' (row 1), mosei/valid: score must be"),
    ({"id": ""}, "row 1: id must be a non-empty string"),
])
def test_bad_records_fail_naming_the_record(change, message):
    records = good_records()
    records[1] = {**records[1], **change}
    with pytest.raises(LabelError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Samples.from_records(records)


def test_bad_embeddings_fail_naming_the_record():
    samples = Samples.from_records(good_records())
    vectors = np.ones((3, 4), dtype=np.float32)
    vectors[2, 1] = np.nan
    with pytest.raises(LabelError, match=r"record 'i0' \(row 2\): embedding has NaN"):
        transfer(samples, vectors, TRAIN)
    bad_sparse = sp.csr_matrix(vectors)
    with pytest.raises(LabelError, match=r"record 'i0' \(row 2\): embedding has NaN"):
        transfer(samples, bad_sparse, TRAIN)
    with pytest.raises(LabelError, match="2 embedding rows for 3 samples"):
        transfer(samples, np.ones((2, 4), dtype=np.float32), TRAIN)
    with pytest.raises(LabelError, match="2-D float array"):
        transfer(samples, np.ones(3), TRAIN)


def test_mismatched_columns_fail():
    with pytest.raises(LabelError, match="column split has 1 rows, id has 2"):
        Samples(id=["a", "b"], dataset=["mosi", "mosi"], split=["train"], sentiment=["Positive"] * 2,
                score=[1.0, 1.0], emotion=["", ""])


def test_polarity_pool_rules():
    assert polarity_pool("mosi", "Positive", "") == "positive"
    assert polarity_pool("meld", " neutral ", "neutral") == "neutral"
    assert [polarity_pool("iemocap", "", c) for c in ("neu", "hap", "exc", "sad", "fru", "ang", "xxx")] == [
        "neutral", "positive", "positive", "negative", "negative", "negative", "negative"]
