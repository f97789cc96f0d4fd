"""Training data on the workers: checks, one summary a chunk, the kernels' layout.

A fit's rows stay where Dask computes them. The client sees the chunking
(known from the collections' metadata), one small summary a chunk (its row
count, whether its values are finite, its labels and their counts) and,
once the chunks are encoded, each chunk's sample-weight sum. Everything
else (the rows, targets and weights in the kernels' layout) lives in
futures the fit holds, recomputed from the graph if a worker is lost.

The encoding of a chunk is the in-memory fit's, row by row: X in the
network's dtype and C order, the targets binarised against the classes of
the whole fit (or cast, for regression), the sample weights checked as
scikit-learn checks them and multiplied by the class weights, then cast.
So the rows a kernel reads are the bits the in-memory fit's kernels read.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target

from .._mlp import _kernel_X
from .._network import kernel_data


def is_dask_collection(obj):
    """Whether obj is a dask collection (array, DataFrame or Series)."""
    try:
        from dask.base import is_dask_collection as check
    except ImportError:
        return False
    return check(obj)


def _as_array(obj, name, lengths):
    """A dask array from a dask array, DataFrame or Series (with lengths=True
    a DataFrame's partition lengths are computed, so the chunking is known)."""
    import dask.array as da

    if isinstance(obj, da.Array):
        return obj
    if hasattr(obj, "to_dask_array"):
        return obj.to_dask_array(lengths=lengths)
    raise TypeError(f"{name} must be a dask array, DataFrame or Series; "
                    f"got {type(obj).__name__}.")


def feature_names(X):
    """The column names of a dask DataFrame (all strings), else None: what
    scikit-learn records as feature_names_in_."""
    columns = getattr(X, "columns", None)
    if columns is None or getattr(X, "ndim", 2) != 2:
        return None
    names = np.asarray(columns, dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def scipy_block(block):
    """A pydata-sparse block (COO, GCXS: dask's usual sparse blocks) as the
    SciPy sparse matrix it converts to; any other block unchanged."""
    if not sp.issparse(block) and hasattr(block, "to_scipy_sparse"):
        return block.to_scipy_sparse()
    return block


def _describe(chunks, limit=6):
    chunks = tuple(chunks)
    if len(chunks) <= limit:
        return str(chunks)
    return "(%s, ... %d chunks)" % (", ".join(map(str, chunks[:limit])), len(chunks))


def _known_chunks(arr, name):
    if any(np.isnan(c) for c in arr.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes (rows per chunk); call "
            f"{name}.compute_chunk_sizes() first, or pass the DataFrame itself "
            "(its partitions' lengths are then computed).")


def row_chunked(X, y, sample_weight):
    """(X, y, sample_weight) as dask arrays with the same known row chunks,
    X in one column chunk: ValueError (before anything is computed but a
    DataFrame's partition lengths) for input a fit cannot take."""
    import dask.array as da

    X = _as_array(X, "X", True)
    _known_chunks(X, "X")
    if not is_dask_collection(y):
        # NumPy targets (in the client's memory already) go into the graph,
        # chunked as X's rows
        y = np.asarray(y)
        if y.shape[:1] != X.shape[:1]:
            raise ValueError(f"X has {X.shape[0]} rows, y {y.shape[:1] or 'none'}.")
        y = da.from_array(y, chunks=(X.chunks[0],) + y.shape[1:])
    y = _as_array(y, "y", True)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-d (rows, features); got {X.ndim} dimensions.")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-d or 2-d; got {y.ndim} dimensions.")
    _known_chunks(y, "y")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"X must hold numbers; got dtype {X.dtype}.")
    meta = getattr(X, "_meta", None)
    if not (isinstance(meta, np.ndarray) or sp.issparse(scipy_block(meta))):
        raise TypeError("bpfast.dask fits NumPy, SciPy sparse or pydata-sparse chunks; "
                        f"X's blocks are {type(meta).__name__}.")
    if X.chunks[0] != y.chunks[0]:
        raise ValueError(
            "X and y must be chunked alike along the rows: X's row chunks are "
            f"{_describe(X.chunks[0])}, y's {_describe(y.chunks[0])}.")
    if sample_weight is not None:
        if not is_dask_collection(sample_weight):
            sample_weight = np.asarray(sample_weight)
            if sample_weight.ndim == 0:
                sample_weight = np.full(X.shape[0], sample_weight.item())
            sample_weight = da.from_array(sample_weight, chunks=(X.chunks[0],))
        sample_weight = _as_array(sample_weight, "sample_weight", True)
        if sample_weight.ndim != 1 or sample_weight.chunks[0] != X.chunks[0]:
            raise ValueError(
                "sample_weight must be 1-d and chunked as X's rows: X's row chunks "
                f"are {_describe(X.chunks[0])}, sample_weight's "
                f"{_describe(sample_weight.chunks[0]) if sample_weight.ndim else '()'}.")
    empty = [i for i, n in enumerate(X.chunks[0]) if n < 1]
    if empty:
        raise ValueError(f"chunk {empty[0]} of X has no rows (chunks {empty[:6]} are "
                         "empty); every chunk needs at least one row: rechunk X, y "
                         "and sample_weight.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if y.ndim == 2 and len(y.chunks[1]) > 1:
        y = y.rechunk({1: -1})
    return X, y, sample_weight


def blocks(X, y, sample_weight):
    """Each row chunk as a one-block dask array: a list of (X, y, sw) triples
    (sw None without sample weights). A task given a block computes it
    first. (Not `to_delayed()`: dask 2025.1's delayed blocks of a persisted
    array hand the tasks the blocks' keys, not their data.)"""
    n = X.numblocks[0]
    xs = [X.blocks[i] for i in range(n)]
    ys = [y.blocks[i] for i in range(n)]
    sws = ([sample_weight.blocks[i] for i in range(n)] if sample_weight is not None
           else [None] * n)
    return list(zip(xs, ys, sws))


def fit_dtype(X):
    """The in-memory fit's dtype for X: float32 stays, anything else is
    float64 (validate_data with dtype=(float64, float32))."""
    return np.dtype(np.float32 if X.dtype == np.float32 else np.float64)


# --------------------------------------------------------------------------
# On the workers
# --------------------------------------------------------------------------
@dataclass
class RawChunk:
    """A chunk's rows in the network's dtype (C-ordered, or the kernels'
    CSR for SciPy or pydata-sparse blocks), its targets and its sample
    weights as given."""
    X: np.ndarray
    y: np.ndarray
    sample_weight: "np.ndarray | None"


def raw_chunk(X, y, sample_weight, dtype):
    X = _kernel_X(scipy_block(X), dtype)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:     # a column: one output (column_or_1d)
        y = y.reshape(-1)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
    return RawChunk(X, y, sample_weight)


def summarize(chunk, classifier):
    """What the client learns of a chunk before training: a dict of its row
    count, whether X (and, for regression, y; and the sample weights) are
    finite, and for classification its labels' type, distinct labels and
    their counts."""
    values = chunk.X.data if sp.issparse(chunk.X) else chunk.X
    summary = {"rows": chunk.X.shape[0], "x_finite": bool(np.isfinite(values).all())}
    y = chunk.y
    if classifier:
        summary["target_type"] = type_of_target(y)
        if y.ndim == 1:
            summary["labels"], summary["counts"] = np.unique(y, return_counts=True)
        elif summary["target_type"] == "multilabel-indicator":
            # 0/1 indicators only (type_of_target also calls two other
            # integers "multilabel"), and each label's count of ones
            summary["indicators"] = bool(np.isin(y, (0, 1)).all())
            summary["labels"] = y.shape[1]
            summary["ones"] = (y == 1).sum(axis=0)
    else:
        summary["y_numeric"] = y.dtype.kind in "fiub"
        summary["y_finite"] = (not summary["y_numeric"]
                               or bool(np.isfinite(y.astype(np.float64)).all()))
        summary["n_outputs"] = 1 if y.ndim == 1 else y.shape[1]
    sw = chunk.sample_weight
    summary["sw_finite"] = (sw is None or sw.dtype.kind in "iub"
                            or bool(np.isfinite(sw).all()))
    return summary


@dataclass
class Encoding:
    """How every chunk's targets and weights are encoded: the fit's classes
    (None: regression) and one weight a class (None: no class weights). A
    multilabel fit's classes are its label indices and its class weights a
    (labels, 2) table: the weight of 0 and of 1 in each label's column."""
    classes: "np.ndarray | None"
    class_weights: "np.ndarray | None"
    multilabel: bool = False


@dataclass
class Chunk:
    """A chunk in the kernels' layout: X (C order, or CSR), Y (rows x outputs) and
    the sample weights (None: all 1), all of the network's dtype; sw_sum is
    the weights' sum as the kernels compute it (the row count without)."""
    X: np.ndarray
    Y: np.ndarray
    sample_weight: "np.ndarray | None"
    sw_sum: float

    @property
    def rows(self):
        return self.X.shape[0]

    def data(self):
        """The kernels' Data of this chunk."""
        return kernel_data(self.X, self.Y, self.sample_weight)


def encode(raw, encoding):
    """The Chunk of a RawChunk: targets encoded and weights combined as the
    in-memory fit does it (see _mlp._BaseMLP._prepare)."""
    dtype = raw.X.dtype
    y, sw = raw.y, raw.sample_weight
    if sw is not None:
        # _check_sample_weight's conversion (float32 and float64 kept, any
        # other dtype as float64), without its refusal of a chunk whose
        # weights are all zero (only the whole fit's may not be)
        sw = np.asarray(sw)
        if sw.dtype not in (np.float32, np.float64):
            sw = sw.astype(np.float64)
    if encoding.multilabel:
        Y = y == 1
        if encoding.class_weights is not None:
            # compute_sample_weight's product over the labels of each one's
            # weight, as the in-memory fit forms it
            weights = np.prod([table[column] for table, column
                               in zip(encoding.class_weights, Y.T.astype(int))],
                              axis=0, dtype=np.float64)
            sw = weights if sw is None else sw * weights
    elif encoding.classes is not None:
        classes = encoding.classes
        index = np.searchsorted(classes, y)
        if classes.shape[0] == 2:
            Y = (index == 1).reshape(-1, 1)
        else:
            Y = np.zeros((y.shape[0], classes.shape[0]), dtype=bool)
            Y[np.arange(y.shape[0]), index] = True
        if encoding.class_weights is not None:
            weights = encoding.class_weights[index]
            sw = weights if sw is None else sw * weights
    else:
        Y = y.reshape(y.shape[0], -1)
    Y = np.ascontiguousarray(Y, dtype=dtype)
    if sw is not None:
        sw = np.ascontiguousarray(sw, dtype=dtype)
    chunk = Chunk(raw.X, Y, sw, 0.0)
    chunk.sw_sum = float(chunk.data().sw_sum)
    return chunk


def chunk_weight(chunk):
    """(rows, sample-weight sum) of an encoded chunk."""
    return chunk.rows, chunk.sw_sum


# --------------------------------------------------------------------------
# On the client
# --------------------------------------------------------------------------
def check_summaries(summaries, classifier):
    """ValueError naming the first chunk with values a fit cannot take."""
    for i, s in enumerate(summaries):
        if not s["x_finite"]:
            raise ValueError(f"Input X contains NaN or infinity (in chunk {i}).")
        if not s["sw_finite"]:
            raise ValueError(f"sample_weight contains NaN or infinity (in chunk {i}).")
        if classifier:
            if s["target_type"] not in ("binary", "multiclass", "multilabel-indicator"):
                raise ValueError(
                    f"Unknown label type: {s['target_type']!r} (in chunk {i}); "
                    "bpfast.dask's classifiers take 1-d class labels or a 0/1 "
                    "label indicator matrix.")
            if s["target_type"] == "multilabel-indicator" and not s["indicators"]:
                raise ValueError(
                    f"y is a 2-d label matrix whose values in chunk {i} are not all "
                    "0 or 1; a multilabel fit takes 0/1 indicators.")
        else:
            if not s["y_numeric"]:
                raise ValueError(f"y must hold numbers (chunk {i} does not).")
            if not s["y_finite"]:
                raise ValueError(f"Input y contains NaN or infinity (in chunk {i}).")
    if not classifier and len({s["n_outputs"] for s in summaries}) > 1:
        raise ValueError("y has different numbers of outputs in different chunks.")


def classes_and_counts(summaries):
    """The fit's classes (sorted, as np.unique gives them) and each one's
    count over all chunks."""
    classes = np.unique(np.concatenate([s["labels"] for s in summaries]))
    counts = np.zeros(classes.shape[0], dtype=np.int64)
    for s in summaries:
        counts[np.searchsorted(classes, s["labels"])] += s["counts"]
    return classes, counts


def multilabel_counts(summaries):
    """(rows, each label's count of ones) over all chunks of a multilabel fit."""
    rows = sum(s["rows"] for s in summaries)
    ones = np.zeros(summaries[0]["labels"], dtype=np.int64)
    for s in summaries:
        ones += s["ones"]
    return rows, ones


def multilabel_class_weights(class_weight, rows, ones):
    """The (labels, 2) table of the weights of 0 and 1 in each label's
    column, those compute_sample_weight gives a multilabel y: each column
    weighted as a 1-d target of the values present in it, 'balanced' for
    all of them or one dict a column."""
    if class_weight is None:
        return None
    n_labels = ones.shape[0]
    if isinstance(class_weight, dict):
        raise ValueError("For multi-output, class_weight should be a list of dicts, "
                         "or the string 'balanced'.")
    if not isinstance(class_weight, str) and len(class_weight) != n_labels:
        raise ValueError(
            "For multi-output, number of elements in class_weight should match number "
            f"of outputs. Got {len(class_weight)} element(s) while having {n_labels} "
            "outputs.")
    table = np.ones((n_labels, 2), dtype=np.float64)
    for k in range(n_labels):
        counts = np.array([rows - ones[k], ones[k]])
        present = np.flatnonzero(counts)
        weight_k = class_weight if isinstance(class_weight, str) else class_weight[k]
        table[k, present] = class_weights(weight_k, present, counts[present])
    return table


def class_weights(class_weight, classes, counts):
    """One float64 weight a class, those compute_sample_weight would give the
    whole y: 'balanced' is n_samples / (n_classes * count) from the counts
    of all chunks; a dict is looked up as scikit-learn looks it up."""
    if class_weight is None:
        return None
    if isinstance(class_weight, str):   # "balanced"
        counts = counts.astype(np.float64)
        return counts.sum() / (classes.shape[0] * counts)
    if isinstance(class_weight, dict):
        return np.asarray(compute_class_weight(class_weight, classes=classes, y=classes),
                          dtype=np.float64)
    raise ValueError("bpfast.dask takes class_weight as None, 'balanced' or a dict "
                     "(a list is for multi-output targets, which it does not take).")
