"""Shared pieces of the asv suites: the network shapes, data and estimators.

Every suite is parameterised by ``library`` in ("bpfast", "sklearn"), so
scikit-learn's own estimator is measured beside bpfast's as a baseline.
"""
import warnings

import numpy as np
# Imported here, not in setup(): asv's forkserver imports the suites once and
# forks every benchmark from that process, so the imports are paid once.
import bpfast
from sklearn import neural_network
from sklearn.exceptions import ConvergenceWarning

LIBRARIES = ["bpfast", "sklearn"]
DTYPES = ["float64", "float32"]

# "in-hidden...-out bBATCH" -> (layer sizes, batch size, rows per epoch).
# Rows are a small number of minibatches so one epoch stays in the
# 10-100 ms range on a laptop.
SHAPES = {
    "20-32-2 b32": ((20, 32, 2), 32, 32 * 64),
    "64-100-10 b200": ((64, 100, 10), 200, 200 * 10),
    "100-64-64-5 b64": ((100, 64, 64, 5), 64, 64 * 32),
    "784-256-128-10 b200": ((784, 256, 128, 10), 200, 200 * 10),
}
SHAPE_NAMES = list(SHAPES)


def estimator_class(library):
    """MLPClassifier of ``library`` ("bpfast" or "sklearn")."""
    if library == "bpfast":
        return bpfast.MLPClassifier
    if library == "sklearn":
        return neural_network.MLPClassifier
    raise ValueError(library)


def make_data(shape, dtype, n_rows=None, seed=0):
    """Standard-normal X and labels from a random linear teacher.

    Returns (X, y, classes, hidden_layer_sizes, batch_size).
    """
    units, batch_size, rows = SHAPES[shape]
    n_rows = rows if n_rows is None else n_rows
    n_features, hidden, n_classes = units[0], units[1:-1], units[-1]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features)).astype(dtype)
    teacher = rng.standard_normal((n_features, n_classes))
    y = np.argmax(X @ teacher, axis=1)
    return X, y, np.arange(n_classes), tuple(hidden), batch_size


def make_estimator(library, hidden, batch_size, **params):
    """An estimator of ``library``; fit's ConvergenceWarning is silenced."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    params.setdefault("random_state", 0)
    return estimator_class(library)(hidden_layer_sizes=hidden, batch_size=batch_size,
                                    **params)
