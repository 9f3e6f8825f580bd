"""Universal labels (docs/labels.md): each sample borrows the label slots its dataset lacks.

Every utterance gets three slots: a sentiment `score` (MOSI/MOSEI), a `meld_emotion` word and an
`iemocap_emotion` code. Its own dataset fills one slot. Samples are split into polarity pools
(MOSI/MOSEI by `annotation`, MELD by `Sentiment`, IEMOCAP neu -> neutral, hap/exc -> positive,
any other code -> negative). Inside the positive pool and inside the negative pool, a sample takes
each slot it lacks from its cosine-nearest sample of that slot's source datasets:

    sample from   | score slot          | MELD-emotion slot | IEMOCAP-emotion slot
    MOSI/MOSEI    | own                 | nearest MELD      | nearest IEMOCAP
    MELD          | nearest MOSI+MOSEI  | own               | nearest IEMOCAP
    IEMOCAP       | nearest MOSI+MOSEI  | nearest MELD      | own

Neutral samples are never matched: score 0.0, emotions neutral / neu. Nearest means argmax of the
cosine with no threshold; ties go to the candidate that comes first in the input table, as
`np.argmax` over the reference's per-pair similarity matrix does.

Three fixes over the reference, none changing the rule above:
- the caller's ids must be unique (the reference's MELD `dia_utt` ids collide across splits);
- neighbours come only from the splits in `labels.neighbour_splits` (default [train]: no test label
  leaks into a training target; [train, valid, test] is the paper's search);
- chunked matrix products + argmax instead of ~289 million Python calls to scipy's cosine; the
  block of similarities between two groups' candidates is computed once and read both ways.
Ties stay exact: float32 products find the best, and whatever float32 cannot separate (values
within its error bound) is re-scored in float64, the first maximum winning.

A slot whose source dataset is absent, or has no candidate in the pool and allowed splits, keeps
its neutral default; the status arrays and `transfer_summary` count every such case.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from unimse_core import datasets
from unimse_core.config import LabelsConfig
from unimse_core.datasets import POLARITIES, SPLITS
from unimse_core.universal import DEFAULT_SCHEMA, LabelSchema

MATCHED_POOLS: tuple[str, ...] = ("positive", "negative")
# The paper's layout (unimse_core.universal.DEFAULT_SCHEMA); a run's own comes from data.datasets.
SLOTS: tuple[str, ...] = DEFAULT_SCHEMA.slots
SLOT_SOURCES: Mapping[str, tuple[str, ...]] = DEFAULT_SCHEMA.slot_sources
STATUSES: tuple[str, ...] = ("own", "matched", "neutral", "no_candidate")
"""Per sample and slot: its dataset's label, a neighbour's, the neutral pool's default, or the
default because no candidate exists (source dataset absent, or none in the pool and splits)."""


def columns_of(schema: LabelSchema) -> tuple[str, ...]:
    """The per-dataset audit table's columns, in order (the caller adds `text`)."""
    return ("id", "split", "polarity", "pool", *schema.slots,
            *(f"{slot}_{what}" for slot in schema.slots for what in ("neighbour", "cosine")))


COLUMNS: tuple[str, ...] = columns_of(DEFAULT_SCHEMA)
"""The audit table of the paper's layout."""


class LabelError(ValueError):
    """An input record the transfer cannot accept; the message names it."""


def polarity_pool(dataset: str, sentiment: str, emotion: str) -> str:
    """The polarity pool of one sample: positive, negative or neutral (raises ValueError on unknown values)."""
    return datasets.get(dataset).pool(sentiment, emotion)


@dataclass(frozen=True, eq=False)
class Samples:
    """The utterances of every dataset and split taken into the transfer, one row each, as columns.

    sentiment: the column a dataset's pool comes from (MOSI/MOSEI `annotation`, MELD `Sentiment`, any
    case); unused where the pool comes from the emotion.
    score: a score dataset's own score; unused (NaN) elsewhere.
    emotion: an emotion dataset's own code (any case); unused for score datasets.
    Row order matters: it is the candidate order that breaks ties.
    """

    id: Sequence[str]
    dataset: Sequence[str]
    split: Sequence[str]
    sentiment: Sequence[str]
    score: Sequence[float]
    emotion: Sequence[str]
    # Derived and checked in __post_init__.
    pool: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.id)
        for name in ("dataset", "split", "sentiment", "score", "emotion"):
            if len(getattr(self, name)) != n:
                raise LabelError(f"column {name} has {len(getattr(self, name))} rows, id has {n}")
        columns = {name: np.asarray(list(getattr(self, name)), dtype=object)
                   for name in ("id", "dataset", "split", "sentiment", "emotion")}
        columns["score"] = np.asarray(list(self.score), dtype=np.float64)
        pools = np.empty(n, dtype=object)
        seen: dict[str, int] = {}
        for i in range(n):
            ident, name, split = columns["id"][i], columns["dataset"][i], columns["split"][i]
            where = f"record {ident!r} (row {i})"
            if not isinstance(ident, str) or not ident:
                raise LabelError(f"row {i}: id must be a non-empty string, got {ident!r}")
            if ident in seen:
                raise LabelError(f"{where}: duplicate id, first at row {seen[ident]}")
            seen[ident] = i
            if name not in datasets.REGISTRY:
                raise LabelError(f"{where}: unknown dataset {name!r} (expected one of {', '.join(datasets.NAMES)})")
            if split not in SPLITS:
                raise LabelError(f"{where}: unknown split {split!r} (expected one of {', '.join(SPLITS)})")
            dataset = datasets.get(name)
            sentiment, emotion = columns["sentiment"][i], columns["emotion"][i]
            try:
                dataset.check_transfer_row(sentiment, float(columns["score"][i]), emotion)
                pools[i] = dataset.pool(sentiment if isinstance(sentiment, str) else "",
                                        emotion if isinstance(emotion, str) else "")
            except ValueError as err:
                raise LabelError(f"{where}, {name}/{split}: {err}") from None
            if dataset.kind == "emotion":
                columns["emotion"][i] = emotion.strip().lower()
        for name, column in columns.items():
            object.__setattr__(self, name, column)
        object.__setattr__(self, "pool", pools)

    def __len__(self) -> int:
        return len(self.id)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Samples:
        """From mappings with keys id, dataset, split and, as the dataset needs, sentiment, score, emotion."""
        rows = list(records)
        return cls(id=[r["id"] for r in rows], dataset=[r["dataset"] for r in rows],
                   split=[r["split"] for r in rows], sentiment=[r.get("sentiment", "") for r in rows],
                   score=[r.get("score", math.nan) for r in rows], emotion=[r.get("emotion", "") for r in rows])


@dataclass(frozen=True, eq=False)
class Transfer:
    """The transfer's result, one entry per input row (same order).

    polarity: sign of the own score for score datasets (docs/labels.md), the pool otherwise; it
    differs from `pool` only where a MOSI/MOSEI annotation disagrees with its score's sign.
    values[slot]: the slot's value per row (also readable as `.score`, `.meld_emotion`, ...).
    neighbour[slot]: row index of the sample the slot was copied from, -1 where not matched.
    cosine[slot]: that neighbour's cosine similarity, NaN where not matched.
    status[slot]: one of STATUSES.
    """

    samples: Samples
    schema: LabelSchema
    neighbour_splits: tuple[str, ...]
    polarity: np.ndarray
    values: Mapping[str, np.ndarray]
    neighbour: Mapping[str, np.ndarray]
    cosine: Mapping[str, np.ndarray]
    status: Mapping[str, np.ndarray]
    zero_vectors: int

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(name)

    def columns(self, dataset: str | None = None) -> dict[str, list[Any]]:
        """The audit table (`columns_of(schema)`) of one dataset, or of every row; neighbour ids are '' where none."""
        rows = np.arange(len(self.samples)) if dataset is None else np.flatnonzero(self.samples.dataset == dataset)
        out: dict[str, list[Any]] = {
            "id": self.samples.id[rows].tolist(), "split": self.samples.split[rows].tolist(),
            "polarity": self.polarity[rows].tolist(), "pool": self.samples.pool[rows].tolist(),
            **{slot: self.values[slot][rows].tolist() for slot in self.schema.slots}}
        for slot in self.schema.slots:
            index = self.neighbour[slot][rows]
            out[f"{slot}_neighbour"] = [self.samples.id[j] if j >= 0 else "" for j in index]
            out[f"{slot}_cosine"] = self.cosine[slot][rows].tolist()
        return out


def transfer(samples: Samples, embeddings: np.ndarray | sp.spmatrix | sp.sparray,
             config: LabelsConfig, schema: LabelSchema = DEFAULT_SCHEMA) -> Transfer:
    """Universal labels for `samples` from their `embeddings` (one row each, any scale; zero rows allowed).

    `schema` (the run's `LabelSchema.of(data.datasets)`) gives the slots; every sample's dataset must be in it."""
    n = len(samples)
    outside = sorted(set(samples.dataset.tolist()) - set(schema.datasets))
    if outside:
        raise LabelError(f"samples of {', '.join(outside)}, which the label layout "
                         f"({', '.join(schema.datasets)}: data.datasets) does not list")
    search = _search(_checked_rows(embeddings, samples), config.chunk_size)
    slots, sources = schema.slots, schema.slot_sources

    values = {slot: np.empty(n, dtype=np.float64 if slot == "score" else object) for slot in slots}
    status = {slot: np.empty(n, dtype=object) for slot in slots}
    neighbour = {slot: np.full(n, -1, dtype=np.int64) for slot in slots}
    cosine = {slot: np.full(n, np.nan) for slot in slots}
    own = {slot: samples.score if slot == "score" else samples.emotion for slot in slots}
    for slot in slots:
        mine = np.isin(samples.dataset, sources[slot])
        values[slot][:] = schema.neutral_default[slot]
        values[slot][mine] = own[slot][mine]
        status[slot][:] = "neutral"
        status[slot][mine] = "own"

    allowed = np.isin(samples.split, config.neighbour_splits)
    for pool in MATCHED_POOLS:
        in_pool = samples.pool == pool
        # The rows of each slot's source group in this pool: a group's rows lack the other slots.
        group = {slot: np.flatnonzero(in_pool & np.isin(samples.dataset, sources[slot])) for slot in slots}
        for slot_a, slot_b in itertools.combinations(slots, 2):
            a, b = group[slot_a], group[slot_b]
            if len(a) == 0 or len(b) == 0:
                continue
            # One similarity block serves both directions: a's rows take slot_b, b's rows take slot_a.
            best_for_a, best_for_b = search.pair(a, allowed[a], b, allowed[b])
            for slot, queries, best in ((slot_b, a, best_for_a), (slot_a, b, best_for_b)):
                neighbour[slot][queries] = best
                status[slot][queries] = np.where(best >= 0, "matched", "no_candidate")
        for slot in slots:
            # A slot whose source group is empty in this pool: nothing to copy.
            lacking = np.flatnonzero(in_pool & ~np.isin(samples.dataset, sources[slot]))
            status[slot][lacking[neighbour[slot][lacking] < 0]] = "no_candidate"

    for slot in slots:
        matched = np.flatnonzero(neighbour[slot] >= 0)
        values[slot][matched] = own[slot][neighbour[slot][matched]]
        cosine[slot][matched] = search.cosine(matched, neighbour[slot][matched])

    polarity = samples.pool.copy()
    scored = np.isin(samples.dataset, sources["score"])
    score = samples.score[scored]
    polarity[scored] = np.where(score > 0, "positive", np.where(score < 0, "negative", "neutral"))
    return Transfer(samples=samples, schema=schema, neighbour_splits=tuple(config.neighbour_splits),
                    polarity=polarity, values=values, neighbour=neighbour, cosine=cosine, status=status,
                    zero_vectors=search.zero_vectors)


def _search(rows: np.ndarray | sp.csr_matrix, chunk_size: int) -> _DenseSearch | _SparseSearch:
    return _SparseSearch(rows, chunk_size) if sp.issparse(rows) else _DenseSearch(rows, chunk_size)


class _DenseSearch:
    """Exact cosine argmax over dense rows: float32 matrix products, float64 where float32 cannot tell.

    Two rows whose float32 similarities lie within the float32 error bound of each other are
    re-scored in float64 and the first maximum wins; identical rows are searched once, as their
    first occurrence, so exact copies tie exactly whatever the GEMM kernel's rounding by position.
    """

    def __init__(self, rows: np.ndarray, chunk_size: int):
        self.rows = rows
        self.chunk_size = chunk_size
        self.norms = np.empty(rows.shape[0])
        self.unit32 = np.empty(rows.shape, dtype=np.float32)
        for start in range(0, rows.shape[0], 4096):
            block = rows[start:start + 4096].astype(np.float64)
            self.norms[start:start + 4096] = np.linalg.norm(block, axis=1)
            self.unit32[start:start + 4096] = block / np.where(self.norms[start:start + 4096] == 0, 1.0,
                                                               self.norms[start:start + 4096])[:, None]
        self.zero_vectors = int(np.sum(self.norms == 0))
        # |float32 dot - exact| <= (D + 3) 2^-24 for unit vectors: two values within twice that may
        # be in either order exactly.
        self.tolerance = 2.0 * (rows.shape[1] + 3) * 2.0**-24

    def exact(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """float64 cosine of each (query, candidate) pair of rows; 0 where either row is all zero."""
        out = np.empty(len(queries))
        for start in range(0, len(queries), 1024):
            q, c = queries[start:start + 1024], candidates[start:start + 1024]
            dots = np.einsum("ij,ij->i", self.rows[q].astype(np.float64), self.rows[c].astype(np.float64))
            scale = self.norms[q] * self.norms[c]
            out[start:start + len(q)] = dots / np.where(scale == 0, 1.0, scale)
        return out

    cosine = exact

    def distinct(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the first row of each distinct vector among `index`, in order; for each row, its vector's position).

        Rows are compared bit for bit: grouped by their first 16 values, every group then verified
        whole (and, should two different rows share those 16 values, grouped by all their bytes).
        """
        block = np.ascontiguousarray(self.rows[index])
        bits = block.view(np.dtype(f"u{block.dtype.itemsize}"))                           # [n, D]
        for width in (min(16, block.shape[1]), block.shape[1]):
            keys = np.ascontiguousarray(bits[:, :width]).view(np.dtype((np.void, bits.itemsize * width))).ravel()
            _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            inverse = inverse.ravel()
            if width == block.shape[1] or np.array_equal(bits, bits[first[inverse]]):
                break
        order = np.argsort(first)                        # distinct vectors by first occurrence
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return index[first[order]], rank[inverse]

    def pair(self, a: np.ndarray, a_ok: np.ndarray, b: np.ndarray, b_ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest allowed b row of every a row and nearest allowed a row of every b row (-1: none allowed).

        The block allowed-a x allowed-b is computed once and read along rows and columns; the rows
        that are not candidates (other splits) are searched on their own.
        """
        best_a = np.full(len(a), -1, dtype=np.int64)
        best_b = np.full(len(b), -1, dtype=np.int64)
        ua, inv_a = self.distinct(a[a_ok])
        ub, inv_b = self.distinct(b[b_ok])
        if len(ua) and len(ub):
            rows_best, cols_best = self.both(ua, ub)
            best_a[a_ok] = ub[rows_best[inv_a]]
            best_b[b_ok] = ua[cols_best[inv_b]]
        if len(ub) and not a_ok.all():
            best_a[~a_ok] = ub[self.along_rows(a[~a_ok], ub)]
        if len(ua) and not b_ok.all():
            best_b[~b_ok] = ua[self.along_rows(b[~b_ok], ua)]
        return best_a, best_b

    def along_rows(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Position in `candidates` of each query's nearest (first maximum)."""
        c32 = self.unit32[candidates]                                 # [C, D]
        best = np.empty(len(queries), dtype=np.int64)
        for start in range(0, len(queries), self.chunk_size):
            q = queries[start:start + self.chunk_size]
            sims = self.unit32[q] @ c32.T                              # [B, C]
            best[start:start + len(q)] = self._row_argmax(sims, q, candidates)
        return best

    def both(self, ua: np.ndarray, ub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position in ub of each ua row's nearest, and position in ua of each ub row's nearest.

        Rows of the block come chunk by chunk: the row side is settled inside each chunk; each
        column keeps its running float32 maximum (ties keep the earlier row) and a flag raised when
        another value came within the tolerance of it. Flagged columns are recomputed whole at the
        end and settled like rows.
        """
        a32, b32 = self.unit32[ua], self.unit32[ub]                   # [A, D], [B, D]
        tol = self.tolerance
        rows_best = np.empty(len(ua), dtype=np.int64)
        col_top = np.full(len(ub), -np.inf, dtype=np.float32)          # running float32 maximum
        col_arg = np.zeros(len(ub), dtype=np.int64)
        col_unsure = np.zeros(len(ub), dtype=bool)                      # another row within tol of it
        for start in range(0, len(ua), self.chunk_size):
            q = ua[start:start + self.chunk_size]
            sims = a32[start:start + len(q)] @ b32.T                    # [b, B]
            rows_best[start:start + len(q)] = self._row_argmax(sims, q, ub)
            top = sims.max(axis=0)                                      # [B]
            rr, cc = np.divmod(np.flatnonzero(sims >= top - tol), len(ub))   # near-maxima, row-major
            _, first = np.unique(cc, return_index=True)                # every column has its maximum
            arg = rr[first] + start                                     # right wherever count == 1
            unsure = np.bincount(cc, minlength=len(ub)) > 1
            better = top > col_top                                      # strictly: a tie keeps the earlier row
            near = np.abs(top - col_top) <= tol
            col_unsure = near | np.where(better, unsure, col_unsure)
            col_arg = np.where(better, arg, col_arg)
            col_top = np.where(better, top, col_top)
        unsure_cols = np.flatnonzero(col_unsure)
        for start in range(0, len(unsure_cols), self.chunk_size):
            cols = unsure_cols[start:start + self.chunk_size]
            sims = b32[cols] @ a32.T                                    # [k, A], recomputed whole
            col_arg[cols] = self._row_argmax(sims, ub[cols], ua)
        return rows_best, col_arg

    def _row_argmax(self, sims: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """First maximum of each row of `sims` (queries x candidates), exact where float32 is unsure.

        `sims` is modified in place and restored.
        """
        r = np.arange(len(sims))
        top = sims.argmax(axis=1)
        value = sims[r, top]
        sims[r, top] = -np.inf
        second = sims.max(axis=1)
        sims[r, top] = value
        for i in np.flatnonzero(second >= value - self.tolerance):
            shortlist = np.flatnonzero(sims[i] >= value[i] - self.tolerance)
            exact = self.exact(np.repeat(queries[i], len(shortlist)), candidates[shortlist])
            top[i] = shortlist[np.argmax(exact)]
        return top


class _SparseSearch:
    """Cosine argmax over CSR rows in float64. Each similarity sums the query's terms in the query's
    own order, so identical candidate rows get bitwise-identical values and argmax keeps the first."""

    def __init__(self, rows: sp.csr_matrix, chunk_size: int):
        norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        self.unit = sp.csr_matrix(sp.diags(1.0 / np.where(norms == 0, 1.0, norms)) @ rows)
        self.chunk_size = chunk_size
        self.zero_vectors = int(np.sum(norms == 0))

    def cosine(self, queries: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
        return np.asarray(self.unit[queries].multiply(self.unit[neighbours]).sum(axis=1)).ravel()

    def pair(self, a: np.ndarray, a_ok: np.ndarray, b: np.ndarray, b_ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        best_a = np.full(len(a), -1, dtype=np.int64)
        best_b = np.full(len(b), -1, dtype=np.int64)
        if b_ok.any():
            best_a[:] = b[b_ok][self.along_rows(a, b[b_ok])]
        if a_ok.any():
            best_b[:] = a[a_ok][self.along_rows(b, a[a_ok])]
        return best_a, best_b

    def along_rows(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        candidates_t = sp.csr_matrix(self.unit[candidates].T)                    # [D, C]
        best = np.empty(len(queries), dtype=np.int64)
        for start in range(0, len(queries), self.chunk_size):
            sims = (self.unit[queries[start:start + self.chunk_size]] @ candidates_t).toarray()   # [B, C]
            best[start:start + len(sims)] = sims.argmax(axis=1)
        return best


def _checked_rows(embeddings: Any, samples: Samples) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(embeddings):
        rows = sp.csr_matrix(embeddings, dtype=np.float64)
        bad_values = ~np.isfinite(rows.data)
        bad_rows = np.unique(np.searchsorted(rows.indptr, np.flatnonzero(bad_values), side="right") - 1)
    else:
        rows = np.asarray(embeddings)
        if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.floating):
            raise LabelError(f"embeddings must be a 2-D float array, got shape {rows.shape} of {rows.dtype}")
        bad_rows = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    if rows.shape[0] != len(samples):
        raise LabelError(f"{rows.shape[0]} embedding rows for {len(samples)} samples")
    if rows.shape[1] == 0:
        raise LabelError("embeddings have no columns")
    if len(bad_rows):
        i = int(bad_rows[0])
        raise LabelError(f"record {samples.id[i]!r} (row {i}): embedding has NaN or infinite values "
                         f"({len(bad_rows)} such rows)")
    return rows


def transfer_summary(result: Transfer) -> dict[str, Any]:
    """JSON-ready counts: pools, label values, slot statuses, neighbour splits and cosine quantiles."""
    samples = result.samples
    listed = result.schema.datasets
    present = [d for d in listed if np.any(samples.dataset == d)]
    out: dict[str, Any] = {
        "neighbour_splits": list(result.neighbour_splits),
        "datasets": present,
        "absent_datasets": [d for d in listed if d not in present],
        "rows": {d: int(np.sum(samples.dataset == d)) for d in present},
        "zero_vectors": result.zero_vectors,
        "pools": {}, "empty_pools": [], "pool_polarity_mismatch": {}, "labels": {}, "status": {},
        "neighbour_splits_used": {}, "cosine": {}}
    values = result.values
    for d in present:
        mine = samples.dataset == d
        out["pools"][d] = {p: int(np.sum(mine & (samples.pool == p))) for p in POLARITIES}
        out["empty_pools"] += [f"{d}/{p}" for p in MATCHED_POOLS if out["pools"][d][p] == 0]
        out["pool_polarity_mismatch"][d] = int(np.sum(mine & (samples.pool != result.polarity)))
        out["labels"][d] = {}
        out["status"][d] = {}
        out["neighbour_splits_used"][d] = {}
        out["cosine"][d] = {}
        for slot in result.schema.slots:
            column = values[slot][mine]
            if slot == "score":
                # Scores are continuous: count them by the Acc-7 class round(clip(x, -3, 3)).
                column = [f"{int(c):+d}" for c in np.round(np.clip(column.astype(np.float64), -3, 3))]
            out["labels"][d][slot] = dict(sorted(Counter(column).items()))
            out["status"][d][slot] = {s: int(np.sum(result.status[slot][mine] == s)) for s in STATUSES}
            matched = result.neighbour[slot][mine]
            matched = matched[matched >= 0]
            if len(matched):
                out["neighbour_splits_used"][d][slot] = dict(sorted(Counter(samples.split[matched]).items()))
                out["cosine"][d][slot] = _quantiles(result.cosine[slot][mine])
    return out


def _quantiles(values: np.ndarray) -> dict[str, float]:
    values = values[~np.isnan(values)]
    qs = np.quantile(values, [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    names = ("min", "q05", "q25", "median", "q75", "q95", "max")
    return {"count": int(len(values)), "mean": round(float(values.mean()), 6),
            **{name: round(float(q), 6) for name, q in zip(names, qs)}}
