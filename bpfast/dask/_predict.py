"""Prediction and scoring on dask collections, block by block on the workers.

The fitted model (bpfast's in-memory estimator, a few arrays) goes into the
graph once, as one delayed object every block's task depends on; each task
is that model's own predict / predict_proba on its block of rows, so each
block's result is the in-memory model's on those rows.
"""

import copy

import numpy as np

import dask
import dask.array as da

from . import _chunks


def _rows(X, lengths=False):
    """X as a dask array chunked by rows only. A DataFrame's partition
    lengths are computed only with `lengths` (scoring aligns them with y's);
    a prediction takes each block where it is."""
    if not isinstance(X, da.Array):
        if not hasattr(X, "to_dask_array"):
            raise TypeError(f"X must be a dask array or DataFrame; got {type(X).__name__}")
        X = X.to_dask_array(lengths=True if lengths else None)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-d (rows, features); got {X.ndim} dimensions.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def _block(X, model, method):
    return getattr(model, method)(_chunks.scipy_block(X))


def _checked_names(model, X):
    """scikit-learn's check of X's column names against the fit's, made once
    on the client; returns the model to ship, without feature_names_in_
    (its blocks are NumPy arrays, whose lack of names is then no news)."""
    from sklearn.utils.validation import _check_feature_names

    # a dask collection's _meta is an empty one of its type: a pandas
    # DataFrame with X's columns, or a NumPy array
    _check_feature_names(model, getattr(X, "_meta", X), reset=False)
    if getattr(model, "feature_names_in_", None) is None:
        return model
    model = copy.copy(model)
    del model.feature_names_in_
    return model


def predict(model, X, method):
    """model.<method> on each row block of X, as a dask array."""
    model = _checked_names(model, X)
    X = _rows(X)
    if not np.isnan(X.shape[1]) and X.shape[1] != model.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(model).__name__} is "
                         f"expecting {model.n_features_in_} features as input.")
    # the output's dtype and width, from one row of zeros
    sample = getattr(model, method)(np.zeros((1, model.n_features_in_), dtype=X.dtype))
    held = dask.delayed(model, pure=True)
    if sample.ndim == 1:
        return X.map_blocks(_block, held, method, dtype=sample.dtype, drop_axis=1,
                            meta=np.empty((0,), dtype=sample.dtype))
    return X.map_blocks(_block, held, method, dtype=sample.dtype,
                        chunks=(X.chunks[0], (sample.shape[1],)),
                        meta=np.empty((0, 0), dtype=sample.dtype))


def _like_rows(values, X):
    """values (a dask collection, or NumPy: then chunked as X's rows) as a
    dask array with X's row chunks."""
    if not isinstance(values, da.Array):
        if hasattr(values, "to_dask_array"):
            values = values.to_dask_array(lengths=True)
        else:
            values = np.asarray(values)
            return da.from_array(values, chunks=(X.chunks[0],) + values.shape[1:])
    if values.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows, y or sample_weight "
                         f"{values.shape[0]}.")
    if values.chunks[0] != X.chunks[0]:
        values = values.rechunk({0: X.chunks[0]})
    return values


def _weighted_sum(values, weights):
    """Sum over the rows, each weighted (None: by 1)."""
    if weights is not None:
        values = values * (weights[:, None] if values.ndim == 2 else weights)
    return values.sum(axis=0)


def score(model, X, y, sample_weight, classifier):
    """Accuracy (classifier; for multilabel, of whole rows) or R^2 averaged
    over the outputs (regressor), as scikit-learn's accuracy_score and
    r2_score define them, reduced on the workers: a float."""
    model = _checked_names(model, X)
    X = _rows(X, lengths=True)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    y = _like_rows(y, X)
    if sample_weight is not None:
        sample_weight = _like_rows(sample_weight, X).astype(np.float64)
    total = (sample_weight.sum() if sample_weight is not None
             else float(X.shape[0]))
    pred = predict(model, X, "predict")
    if classifier:
        hits = pred == y
        if hits.ndim == 2:      # multilabel: a row is a hit if all its labels are
            hits = hits.all(axis=1)
        hits = _weighted_sum(hits.astype(np.float64), sample_weight)
        hits, total = dask.compute(hits, total)
        return float(hits / total)
    y = y.astype(np.float64)
    pred = pred.astype(np.float64)
    if y.ndim == 1:
        y, pred = y[:, None], pred[:, None]
    y_sum, residual, total = dask.compute(
        _weighted_sum(y, sample_weight),
        _weighted_sum((y - pred) ** 2, sample_weight), total)
    spread, = dask.compute(_weighted_sum((y - y_sum / total) ** 2, sample_weight))
    # r2_score's force_finite: a constant target scores 1 if predicted
    # exactly, else 0
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(spread != 0, 1.0 - residual / spread,
                          np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))
