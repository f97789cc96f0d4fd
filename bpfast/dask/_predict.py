"""Prediction and scoring on dask collections, block by block on the workers.

The fitted model (bpfast's in-memory estimator, a few arrays) goes into the
graph once, as one delayed object every block's task depends on; each task
is that model's own predict / predict_proba on its block of rows, so the
results are those of the in-memory model on the same rows.
"""

import numpy as np

import dask
import dask.array as da


def _rows(X):
    """X as a dask array chunked by rows only (its chunk sizes may be
    unknown: each block is predicted where it is)."""
    if not isinstance(X, da.Array):
        if not hasattr(X, "to_dask_array"):
            raise TypeError(f"X must be a dask array or DataFrame; got {type(X).__name__}")
        X = X.to_dask_array()
    if X.ndim != 2:
        raise ValueError(f"X must be 2-d (rows, features); got {X.ndim} dimensions.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def _block(X, model, method):
    return getattr(model, method)(X)


def predict(model, X, method):
    """model.<method> on each row block of X, as a dask array."""
    X = _rows(X)
    if X.shape[1] == X.shape[1] and not np.isnan(X.shape[1]) \
            and X.shape[1] != model.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(model).__name__} is "
                         f"expecting {model.n_features_in_} features as input.")
    one = np.zeros((1, model.n_features_in_), dtype=X.dtype)
    sample = getattr(model, method)(one)      # the output's dtype and width
    held = dask.delayed(model, pure=True)
    if sample.ndim == 1:
        return X.map_blocks(_block, held, method, dtype=sample.dtype, drop_axis=1,
                            meta=np.empty((0,), dtype=sample.dtype))
    return X.map_blocks(_block, held, method, dtype=sample.dtype,
                        chunks=(X.chunks[0], (sample.shape[1],)),
                        meta=np.empty((0, 0), dtype=sample.dtype))


def _weighted_sum(values, weights):
    if weights is None:
        return values.sum(axis=0)
    if values.ndim == 2:
        weights = weights[:, None]
    return (values * weights).sum(axis=0)


def score(model, X, y, sample_weight, classifier):
    """Accuracy (classifier) or R^2 averaged over the outputs (regressor),
    as scikit-learn's accuracy_score / r2_score define them, reduced on the
    workers; a float."""
    X = _rows(X)
    if not isinstance(y, da.Array):
        y = y.to_dask_array() if hasattr(y, "to_dask_array") else da.from_array(
            np.asarray(y), chunks=(X.chunks[0],) + np.asarray(y).shape[1:])
    if sample_weight is not None and not isinstance(sample_weight, da.Array):
        sample_weight = (sample_weight.to_dask_array()
                         if hasattr(sample_weight, "to_dask_array")
                         else da.from_array(np.asarray(sample_weight),
                                            chunks=(X.chunks[0],)))
    pred = predict(model, X, "predict")
    if classifier:
        correct = (pred == y).astype(np.float64)
        total = (sample_weight.sum() if sample_weight is not None
                 else da.asarray(correct.shape[0], dtype=np.float64))
        hits, total = dask.compute(_weighted_sum(correct, sample_weight), total)
        return float(hits / total)
    y = y.astype(np.float64)
    pred = pred.astype(np.float64)
    if y.ndim == 1:
        y, pred = y[:, None], pred[:, None] if pred.ndim == 1 else pred
    w_sum = (sample_weight.sum() if sample_weight is not None
             else da.asarray(y.shape[0], dtype=np.float64))
    y_sum = _weighted_sum(y, sample_weight)
    residual = _weighted_sum((y - pred) ** 2, sample_weight)
    w_sum, y_sum, residual = dask.compute(w_sum, y_sum, residual)
    mean = y_sum / w_sum
    total = dask.compute(_weighted_sum((y - mean) ** 2, sample_weight))[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(total != 0, 1.0 - residual / np.where(total != 0, total, 1.0),
                          np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))
