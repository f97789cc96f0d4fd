"""Explain predictions by backpropagation: input gradients, integrated
gradients and gradient SHAP (expected gradients).

Backpropagation carries a delta from the output down to the first hidden
layer; one more product with the first layer's weights gives the gradient
of an output with respect to the input features. Every function here takes
a fitted :class:`bpfast.MLPClassifier` / :class:`bpfast.MLPRegressor`, or a
fitted scikit-learn ``MLPClassifier`` / ``MLPRegressor`` (read through
:func:`bpfast.from_sklearn`, a copy), and never modifies it. The gradients
are computed by the compiled kernels (the forward pass and BP2 of
training), in blocks of bounded memory, on the threads a prediction would
use, and are the same bits on any thread count. docs/explain.md has the
maths.

What is differentiated (the "output"):

- a classifier: the predicted probability of a class, as ``predict_proba``
  gives it (a binary classifier's first class: 1 - p);
- a regressor: the prediction (one output, or each of several).

``target`` picks the output: a class label (classifiers) or an output index
(multi-output regressors), or one of those a row, or None for all of them
(an extra last axis). A single-output regressor has one output, so None and
0 are the same and there is no extra axis.
"""

from contextlib import nullcontext
from functools import lru_cache
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from . import _kernels
from ._mlp import MLPClassifier, MLPRegressor, _kernel_X, _predict_dtype
from ._network import kernel_input
from ._threads import claim_threads, kernel_threads, single_threaded_blas

__all__ = ["input_gradients", "integrated_gradients", "gradient_shap",
           "shap_explanation"]

# points per chunk of the kernels' workspace: memory is bounded by this many
# points times twice the features plus the widest layer, a thread
CHUNK_POINTS = 1024


# ----------------------------------------------------------------------------
# The model and its outputs
# ----------------------------------------------------------------------------
def _bpfast_model(model):
    """The fitted bpfast estimator behind `model`: itself, or a converted
    copy of a scikit-learn MLP (never the model itself modified)."""
    if isinstance(model, (MLPClassifier, MLPRegressor)):
        check_is_fitted(model, "coefs_")
        return model
    try:
        from sklearn.neural_network import MLPClassifier as SkC, MLPRegressor as SkR
    except ImportError:   # pragma: no cover - scikit-learn is a dependency
        SkC = SkR = ()
    if isinstance(model, (SkC, SkR)):
        check_is_fitted(model, "coefs_")
        from ._convert import from_sklearn

        return from_sklearn(model)
    raise TypeError("explanations take a fitted MLPClassifier or MLPRegressor of bpfast "
                    f"or scikit-learn, not {type(model).__name__}")


def _output_columns(model, net, target, n_rows):
    """(positions, cols, squeeze) for `target`: the columns of the outputs
    (predict_proba's, or predict's) explained, one row of them or one a row
    of input; the same as the kernels' output columns (-(c + 1): 1 - y_c,
    a binary classifier's first class); and whether the target axis goes
    (one target asked for, or a single-output regressor)."""
    K = int(net.units[-1])
    if is_classifier(model):
        class_list = np.asarray(model.classes_).tolist()
        binary = K == 1 and len(class_list) == 2
        kernel_cols = np.array([-1, 0] if binary else list(range(K)), dtype=np.intp)

        def position(label):
            hits = [k for k, c in enumerate(class_list) if _same(c, label)]
            if len(hits) != 1:
                raise ValueError(f"target {label!r} is not one of the classes "
                                 f"{class_list}")
            return hits[0]
    else:
        kernel_cols = np.arange(K, dtype=np.intp)

        def position(index):
            if (not isinstance(index, (Integral, np.integer)) or isinstance(index, bool)
                    or not 0 <= index < K):
                raise ValueError(f"target {index!r} is not an output index of a "
                                 f"regressor with {K} output(s)")
            return int(index)
    if target is None:
        positions = np.arange(len(kernel_cols), dtype=np.intp)[None, :]
        squeeze = not is_classifier(model) and K == 1
        return positions, kernel_cols[positions], squeeze
    arr = np.asarray(target)
    if arr.ndim == 0:
        labels = [arr.item()]
    elif arr.ndim == 1 and arr.shape[0] == n_rows:
        labels = arr.tolist()
    else:
        raise ValueError(f"target must be one label, one a row ({n_rows}), or None; got "
                         f"shape {arr.shape}")
    positions = np.array([[position(v)] for v in labels], dtype=np.intp)
    return positions, kernel_cols[positions], True


def _same(a, b):
    """a == b as a truth value, False where they do not compare."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------
def _rows(model, X):
    """X validated as predict validates it (feature count, names), then
    checked finite, with scikit-learn's own error."""
    X = model._validate_X(X)
    check_array(X, accept_sparse=["csr", "csc"], ensure_all_finite=True,
                estimator=model, input_name="X", dtype=None)
    return X


def _reference_rows(rows, name, n_features):
    """Baseline or background rows: 2-d (a 1-d row is one row), the model's
    feature count, finite; dense (they are few, and interpolation makes
    dense points of them anyway)."""
    if sp.issparse(rows):
        rows = rows.toarray()
    arr = np.asarray(rows)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_features or arr.shape[0] < 1:
        raise ValueError(f"{name} must be one row or a 2-d array of rows of {n_features} "
                         f"features, got shape {np.shape(rows)}")
    return check_array(arr, ensure_all_finite=True, input_name=name, dtype="numeric")


# ----------------------------------------------------------------------------
# The kernel call
# ----------------------------------------------------------------------------
def _attributions(model, X, base, bidx, alpha, weight, target, difference):
    """The kernels' attributions (see _kernels.attributions) of X's rows,
    arranged as the public functions return them:
    (n_rows, n_features[, n_targets])."""
    net = model._get_network()
    n_rows, d = X.shape
    _, cols, squeeze = _output_columns(model, net, target, n_rows)
    dtype = _predict_dtype(X, net)
    params = net.params if dtype == net.dtype else net.params.astype(dtype)
    Xk = _kernel_X(X, dtype)
    base = np.ascontiguousarray(base, dtype=dtype)
    bidx = np.ascontiguousarray(bidx, dtype=np.intp)
    alpha = np.ascontiguousarray(alpha, dtype=np.float64)
    weight = np.ascontiguousarray(weight, dtype=np.float64)
    S = weight.shape[0]
    capacity = max(1, min(CHUNK_POINTS, n_rows * S))
    layout = net.layout(capacity, 2 * d)
    n_units = _kernels.explain_units(n_rows, S, capacity)[0]
    out = np.empty((n_rows, cols.shape[1], d), dtype=dtype)
    data = _kernels.Data(*kernel_input(Xk))
    # one unit: one thread, nothing to claim (as predict's single row unit)
    threads = claim_threads(kernel_threads()) if n_units > 1 else nullcontext(1)
    with single_threaded_blas(), threads as n_threads:
        work = np.empty(max(1, min(n_threads, n_units)) * layout.work_len, dtype)
        _kernels.attributions(layout, data, params, work, base, bidx, alpha, weight, cols,
                              out, n_threads, difference)
    out = np.moveaxis(out, 1, 2)      # (n_rows, n_features, n_targets), a view
    return np.ascontiguousarray(out[:, :, 0] if squeeze else out)


def _check_count(value, name):
    if not isinstance(value, (Integral, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------
# The three methods
# ----------------------------------------------------------------------------
def input_gradients(model, X, target=None):
    """The gradient of the model's output with respect to each input row.

    Parameters
    ----------
    model : fitted MLPClassifier or MLPRegressor, of bpfast or scikit-learn
        The model; it is not modified (a scikit-learn model is converted).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows, as ``predict`` takes them (dense or CSR/CSC). The
        gradients are computed in the dtype ``predict`` would use.
    target : class label, output index, array of shape (n_samples,) or None
        The output differentiated: for a classifier the probability of
        class ``target`` (as ``predict_proba`` gives it), for a regressor
        output ``target``; one a row; or None for every output.

    Returns
    -------
    ndarray of shape (n_samples, n_features) or (n_samples, n_features, n_outputs)
        ``d output / d x``: the last axis (classes, or a multi-output
        regressor's outputs) only where ``target`` is None, in the order
        of ``classes_`` (``predict_proba``'s columns).

    Raises
    ------
    ValueError
        For a wrong feature count, NaN or infinity in X, or a target that
        is not a class (or an output index).

    See Also
    --------
    bpfast.explain.integrated_gradients : Attributions that add up to the output's change.

    Examples
    --------
    >>> import numpy as np
    >>> from bpfast import MLPRegressor
    >>> from bpfast.explain import input_gradients
    >>> X = np.random.RandomState(0).rand(50, 3)
    >>> y = 2 * X[:, 0] - X[:, 1]
    >>> model = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs",
    ...                      random_state=0).fit(X, y)
    >>> input_gradients(model, X[:2]).shape
    (2, 3)
    """
    model = _bpfast_model(model)
    X = _rows(model, X)
    n_rows, d = X.shape
    zero = np.zeros((1, d))
    return _attributions(model, X, zero, np.zeros((1, 1), np.intp), np.ones((1, 1)),
                         np.ones(1), target, difference=False)


@lru_cache(maxsize=16)
def _gauss_legendre(steps):
    """Gauss-Legendre nodes and weights on [0, 1] (the weights add up to 1),
    by SciPy's roots_legendre (O(steps) for many nodes, where numpy's
    leggauss solves a dense eigenproblem: 15 s for 2,048)."""
    from scipy.special import roots_legendre

    nodes, weights = roots_legendre(steps)
    nodes, weights = (nodes + 1) / 2, weights / 2
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


def integrated_gradients(model, X, baseline=None, target=None, steps=50):
    """Integrated gradients (Sundararajan et al., 2017) of each input row.

    ``(x - b) * integral over a in [0, 1] of grad f(b + a (x - b)) da``,
    by Gauss-Legendre quadrature with `steps` nodes: exact for an output
    that is a polynomial of degree up to 2 steps - 1 along the path, and
    converging fast for smooth activations (tanh, logistic, elu, identity).
    Completeness: each row's attributions add up to ``f(x) - f(b)``, to
    the quadrature's accuracy. For relu (and leaky_relu) networks the
    output is piecewise linear along the path: its gradient jumps where a
    unit switches, and the quadrature converges more slowly, as about
    1 / steps; use more steps there.

    Parameters
    ----------
    model : fitted MLPClassifier or MLPRegressor, of bpfast or scikit-learn
        The model; it is not modified.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows to explain.
    baseline : None, array of shape (n_features,), (1, n_features) or (n_samples, n_features)
        The reference point: all zeros by default, one row for all, or
        one a row of X.
    target : class label, output index, array of shape (n_samples,) or None
        The output explained (see :func:`input_gradients`).
    steps : int, default=50
        Quadrature nodes along the path (gradient evaluations a row).

    Returns
    -------
    ndarray of shape (n_samples, n_features) or (n_samples, n_features, n_outputs)
        The attributions, shaped as :func:`input_gradients`' result.

    Raises
    ------
    ValueError
        For a wrong feature count, NaN or infinity in X or the baseline, a
        baseline of the wrong shape, a target that is not a class, or
        steps < 1.

    See Also
    --------
    bpfast.explain.gradient_shap : Expected gradients over a background sample.
    bpfast.explain.shap_explanation : A ``shap.Explanation`` of these attributions.

    Examples
    --------
    >>> import numpy as np
    >>> from bpfast import MLPRegressor
    >>> from bpfast.explain import integrated_gradients
    >>> X = np.random.RandomState(0).rand(50, 3)
    >>> y = 2 * X[:, 0] - X[:, 1]
    >>> model = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh",
    ...                      solver="lbfgs", random_state=0).fit(X, y)
    >>> attr = integrated_gradients(model, X[:5], steps=64)
    >>> change = model.predict(X[:5]) - model.predict(np.zeros((1, 3)))
    >>> bool(np.allclose(attr.sum(axis=1), change, rtol=1e-6))
    True
    """
    model = _bpfast_model(model)
    steps = _check_count(steps, "steps")
    X = _rows(model, X)
    n_rows, d = X.shape
    if baseline is None:
        base = np.zeros((1, d))
    else:
        base = _reference_rows(baseline, "baseline", d)
        if base.shape[0] not in (1, n_rows):
            raise ValueError(f"baseline must have one row or one a row of X ({n_rows}), "
                             f"got {base.shape[0]}")
    nodes, weights = _gauss_legendre(steps)
    if base.shape[0] == 1:
        bidx = np.zeros((1, steps), dtype=np.intp)
    else:
        bidx = np.repeat(np.arange(n_rows, dtype=np.intp)[:, None], steps, axis=1)
    return _attributions(model, X, base, bidx, nodes[None, :], weights, target,
                         difference=True)


def gradient_shap(model, X, background, target=None, n_samples=50, random_state=None):
    """Gradient SHAP: expected gradients (Erion et al.) over a background sample.

    For each row x, `n_samples` draws of a background row b and of
    ``a ~ U(0, 1)``; the attribution is the mean of ``(x - b) * grad
    f(b + a (x - b))``, whose expectation adds up to ``f(x) - E[f(b)]``
    (SHAP values of the model linearised along the paths). The draws come
    from `random_state` alone: the same result on any thread count.

    Parameters
    ----------
    model : fitted MLPClassifier or MLPRegressor, of bpfast or scikit-learn
        The model; it is not modified.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows to explain.
    background : array of shape (n_background, n_features)
        The reference rows (training rows, or a summary of them such as
        k-means centres).
    target : class label, output index, array of shape (n_samples,) or None
        The output explained (see :func:`input_gradients`).
    n_samples : int, default=50
        Draws (gradient evaluations) a row.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws.

    Returns
    -------
    ndarray of shape (n_samples, n_features) or (n_samples, n_features, n_outputs)
        The attributions, shaped as :func:`input_gradients`' result.

    Raises
    ------
    ValueError
        For a wrong feature count, NaN or infinity in X or the background,
        a background of the wrong shape, a target that is not a class, or
        n_samples < 1.

    See Also
    --------
    bpfast.explain.integrated_gradients : The same path integral from one baseline.

    Examples
    --------
    >>> import numpy as np
    >>> from bpfast import MLPClassifier
    >>> from bpfast.explain import gradient_shap
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(60, 4)
    >>> y = (X[:, 0] > X[:, 1]).astype(int)
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
    ...                     random_state=0).fit(X, y)
    >>> gradient_shap(clf, X[:3], X[10:40], target=1, random_state=0).shape
    (3, 4)
    """
    model = _bpfast_model(model)
    n_samples = _check_count(n_samples, "n_samples")
    X = _rows(model, X)
    n_rows, d = X.shape
    base = _reference_rows(background, "background", d)
    rng = check_random_state(random_state)
    bidx = rng.randint(0, base.shape[0], size=(n_rows, n_samples)).astype(np.intp)
    alpha = rng.uniform(0.0, 1.0, size=(n_rows, n_samples))
    weights = np.full(n_samples, 1.0 / n_samples)
    return _attributions(model, X, base, bidx, alpha, weights, target, difference=True)


# ----------------------------------------------------------------------------
# shap
# ----------------------------------------------------------------------------
def _outputs(model, X):
    """The outputs differentiated, as (n_rows, n_outputs): predict_proba's
    columns, or the predictions."""
    if is_classifier(model):
        return model.predict_proba(X)
    out = model.predict(X)
    return out.reshape(out.shape[0], -1)


def shap_explanation(model, X, method="integrated_gradients", target=None,
                     feature_names=None, *, baseline=None, steps=50, background=None,
                     n_samples=50, random_state=None):
    """A ``shap.Explanation`` of the attributions, for shap's plots.

    Needs shap (``pip install "bpfast[explain]"``). The values add up, row
    by row, with the base values to the model's output (to the accuracy of
    the method): the beeswarm, waterfall and bar plots read them as SHAP
    values.

    Parameters
    ----------
    model : fitted MLPClassifier or MLPRegressor, of bpfast or scikit-learn
        The model; it is not modified.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows to explain.
    method : {"integrated_gradients", "gradient_shap", "input_gradients"}
        The attributions: :func:`integrated_gradients` (base values
        ``f(baseline)``), :func:`gradient_shap` (base values the mean of
        ``f`` over the background), or gradient times input (base values
        ``f(x)`` less the row's values: the remainder of the first-order
        expansion at 0).
    target : class label, output index, array of shape (n_samples,) or None
        The output explained (see :func:`input_gradients`); None: every
        output, as an extra last axis of values and base values.
    feature_names : list of str, optional
        The features' names (default: the model's ``feature_names_in_``,
        if it has them).
    baseline : array-like, optional
        integrated_gradients' baseline (default: zeros).
    steps : int, default=50
        integrated_gradients' quadrature nodes.
    background : array-like of shape (n_background, n_features)
        gradient_shap's background rows (required there).
    n_samples : int, default=50
        gradient_shap's draws a row.
    random_state : int, RandomState instance or None, default=None
        gradient_shap's seed.

    Returns
    -------
    shap.Explanation
        values (n_samples, n_features[, n_outputs]), base_values, data (X
        as a dense array) and feature names.

    Raises
    ------
    ImportError
        Where shap is not installed.
    ValueError
        For an unknown method, gradient_shap without a background, or what
        the method raises.

    See Also
    --------
    bpfast.explain.integrated_gradients : The default method.
    bpfast.explain.gradient_shap : Expected gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from bpfast import MLPRegressor
    >>> from bpfast.explain import shap_explanation
    >>> X = np.random.RandomState(0).rand(50, 3)
    >>> y = 2 * X[:, 0] - X[:, 1]
    >>> model = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh",
    ...                      solver="lbfgs", random_state=0).fit(X, y)
    >>> exp = shap_explanation(model, X[:5], steps=64, feature_names=["a", "b", "c"])
    >>> exp.values.shape
    (5, 3)
    >>> bool(np.allclose(exp.values.sum(axis=1) + exp.base_values,
    ...                  model.predict(X[:5])))
    True
    """
    try:
        import shap
    except ImportError as exc:
        raise ImportError("shap_explanation needs shap: pip install shap (or "
                          "'bpfast[explain]')") from exc
    if method not in ("integrated_gradients", "gradient_shap", "input_gradients"):
        raise ValueError("method must be 'integrated_gradients', 'gradient_shap' or "
                         f"'input_gradients', got {method!r}")
    if method == "gradient_shap" and background is None:
        raise ValueError("method='gradient_shap' needs a background")
    bp_model = _bpfast_model(model)
    X = _rows(bp_model, X)
    if method == "integrated_gradients":
        values = integrated_gradients(bp_model, X, baseline=baseline, target=target,
                                      steps=steps)
    elif method == "gradient_shap":
        values = gradient_shap(bp_model, X, background, target=target,
                               n_samples=n_samples, random_state=random_state)
    else:
        values = input_gradients(bp_model, X, target=target)
    n_rows, d = X.shape
    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    positions, _, squeeze = _output_columns(bp_model, bp_model._get_network(), target,
                                            n_rows)
    if method == "integrated_gradients":
        ref = np.zeros((1, d)) if baseline is None else _reference_rows(
            baseline, "baseline", d)
        ref_out = _outputs(bp_model, ref)
    elif method == "gradient_shap":
        ref_out = _outputs(bp_model, _reference_rows(background, "background", d))
        ref_out = ref_out.mean(axis=0, keepdims=True)
    else:   # gradient times input; the base values are the remainder
        values = values * (dense[:, :, None] if values.ndim == 3 else dense)
    if method == "input_gradients":
        base_values = (_picked(_outputs(bp_model, X), positions, squeeze, target)
                       - values.sum(axis=1))
    else:
        base_values = _picked(np.broadcast_to(ref_out, (n_rows, ref_out.shape[1])),
                              positions, squeeze, target)
    return shap.Explanation(values=values, base_values=base_values, data=dense,
                            feature_names=_names(bp_model, feature_names, d))


def _picked(outputs, positions, squeeze, target):
    """The outputs the values explain: the target's column a row, or every
    column (target None; a single-output regressor's one column, flat)."""
    if target is None:
        return outputs[:, 0] if squeeze else outputs
    rows = np.arange(outputs.shape[0])
    return outputs[rows, np.broadcast_to(positions[:, 0], rows.shape)]


def _names(model, feature_names, d):
    if feature_names is not None:
        names = list(feature_names)
        if len(names) != d:
            raise ValueError(f"feature_names has {len(names)} names for {d} features")
        return names
    names = getattr(model, "feature_names_in_", None)
    return list(names) if names is not None else None
