"""Prediction's fast path (a 2-d numpy array of numbers validated directly,
labels decoded directly, the fitted check made cheaply) against the path it
stands in for (validate_data, LabelBinarizer.inverse_transform,
check_is_fitted) and against scikit-learn's own estimators with the same
weights: same outputs, warnings and errors, input by input."""
import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.utils.validation import check_is_fitted, validate_data

import bpfast
from bpfast import _mlp

N_FEATURES = 5
HIDDEN = (7, 4)


def _data(seed=0, n=60):
    rng = np.random.RandomState(seed)
    return rng.uniform(-2, 2, size=(n, N_FEATURES))


def _targets(kind, X):
    X = np.asarray(X)
    s = X[:, 0] + X[:, 1] * X[:, 2]
    if kind == "binary":
        return (s > 0).astype(int)
    if kind == "binary-str":
        return np.where(s > 0, "yes", "no")
    if kind == "multiclass-str":
        return np.array(["cat", "dog", "emu"])[np.digitize(s, [-0.5, 0.5])]
    if kind == "multiclass-int":
        return np.digitize(s, [-0.5, 0.5]) * 7 - 3
    if kind == "multilabel":
        return np.column_stack([s > 0, X[:, 3] > 0, X[:, 4] > 0.5]).astype(int)
    if kind == "regression":
        return s
    if kind == "regression-multi":
        return np.column_stack([s, X[:, 3] - X[:, 4]])
    raise ValueError(kind)


CLASSIFIER_KINDS = ["binary", "binary-str", "multiclass-str", "multiclass-int",
                    "multilabel"]
REGRESSOR_KINDS = ["regression", "regression-multi"]


def _fit_pair(kind, X, dtype=np.float64):
    """(bpfast, scikit-learn) estimators of `kind`, the latter given the
    former's weights."""
    y = _targets(kind, X)
    is_clf = kind not in REGRESSOR_KINDS
    bp_cls, sk_cls = ((bpfast.MLPClassifier, SkClassifier) if is_clf
                      else (bpfast.MLPRegressor, SkRegressor))
    params = dict(hidden_layer_sizes=HIDDEN, activation="tanh", solver="lbfgs",
                  max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bp = bp_cls(**params).fit(X.astype(dtype) if isinstance(X, np.ndarray) else X, y)
        sk = sk_cls(**{**params, "max_iter": 1}).fit(X, y)
    sk.coefs_ = [c.copy() for c in bp.coefs_]
    sk.intercepts_ = [b.copy() for b in bp.intercepts_]
    return bp, sk


def _methods(est):
    if isinstance(est, (SkClassifier, bpfast.MLPClassifier)):
        return ["predict", "predict_proba", "predict_log_proba"]
    return ["predict"]


def _outcome(fn, X):
    """(result, error, warnings) of fn(X): error as (type, message),
    warnings as (category, message) in order."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            result, error = fn(X), None
        except Exception as e:  # noqa: BLE001 - compared below
            result, error = None, (type(e), str(e))
    return result, error, [(w.category, str(w.message)) for w in record]


def _slow(monkeypatch):
    """The paths the fast ones stand in for, patched back in."""
    def validate(self, X):
        return validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                             ensure_all_finite=False)

    monkeypatch.setattr(_mlp._BaseMLP, "_validate_X", validate)
    monkeypatch.setattr(_mlp._BaseMLP, "_check_fitted",
                        lambda self: check_is_fitted(self))
    monkeypatch.setattr(_mlp, "_decode",
                        lambda binarizer, Y: binarizer.inverse_transform(Y))


def _assert_same_exactly(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.flags.c_contiguous == b.flags.c_contiguous
    assert a.flags.f_contiguous == b.flags.f_contiguous
    np.testing.assert_array_equal(a, b)


def _assert_like_sklearn(bp_result, sk_result, method):
    if bp_result is None or sk_result is None:
        assert bp_result is None and sk_result is None
        return
    assert type(bp_result) is type(sk_result)
    assert bp_result.dtype == sk_result.dtype and bp_result.shape == sk_result.shape
    if method == "predict" and bp_result.dtype.kind not in "f":
        np.testing.assert_array_equal(bp_result, sk_result)
    else:
        np.testing.assert_allclose(bp_result, sk_result, rtol=1e-4, atol=1e-6)


def _check(bp, sk, X, monkeypatch, methods=None):
    """Fast path == slow path exactly; both == scikit-learn (warnings and
    errors exactly, values to rounding). Returns the fast outcomes."""
    outcomes = {}
    for method in methods or _methods(bp):
        fast = _outcome(getattr(bp, method), X)
        with monkeypatch.context() as m:
            _slow(m)
            slow = _outcome(getattr(bp, method), X)
        theirs = _outcome(getattr(sk, method), X)
        _assert_same_exactly(fast[0], slow[0])
        assert fast[1:] == slow[1:], method
        assert fast[1] == theirs[1], method
        assert fast[2] == theirs[2], method
        _assert_like_sklearn(fast[0], theirs[0], method)
        outcomes[method] = fast
    return outcomes


# -- inputs --------------------------------------------------------------------

def _inputs():
    X = _data(seed=1, n=40)
    wide = np.empty((40, 2 * N_FEATURES))
    wide[:, ::2] = X
    tall = np.empty((80, N_FEATURES))
    tall[::2] = X
    return {
        "float64-1row": X[:1].copy(),
        "float64-10rows": X[:10].copy(),
        "float64": X,
        "float32": X.astype(np.float32),
        "float16": X.astype(np.float16),
        "int64": np.round(X * 3).astype(np.int64),
        "int32": np.round(X * 3).astype(np.int32),
        "uint8": np.abs(np.round(X * 3)).astype(np.uint8),
        "bool": X > 0,
        "fortran": np.asfortranarray(X),
        "fortran-1row": np.asfortranarray(X[:1]),
        "column-slice": wide[:, ::2],
        "row-slice": tall[::2],
        "row-view-1row": X[3:4],
        "big-endian": X.astype(">f8"),
        "readonly": np.require(X, requirements="C").copy().view(),
        "list": X[:3].tolist(),
        "csr": sp.csr_matrix(X),
        "csc": sp.csc_matrix(X),
        "csr_array": sp.csr_array(X),
        "object-numbers": X.astype(object),
    }


INPUTS = _inputs()
INPUTS["readonly"].flags.writeable = False


def _bad_inputs():
    X = _data(seed=2, n=10)
    nan, inf, neg_inf = X.copy(), X.copy(), X.astype(np.float32)
    nan[3, 2] = np.nan
    inf[0, 0] = np.inf
    neg_inf[9, 4] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        matrix = np.asmatrix(X)
    return {
        "1d": X[0],
        "1d-list": list(X[0]),
        "scalar": np.float64(1.0),
        "3d": X.reshape(2, 5, N_FEATURES),
        "too-few-features": X[:, :-1],
        "too-many-features": np.hstack([X, X]),
        "one-feature-1row": X[:1, :1],
        "no-rows": X[:0],
        "no-features": X[:, :0],
        "nan": nan,
        "inf": inf,
        "neg-inf-float32": neg_inf,
        "nan-1row": nan[3:4],
        "nan-fortran": np.asfortranarray(nan),
        "nan-list": nan.tolist(),
        "nan-csr": sp.csr_matrix(nan),
        "strings": X.astype(str),
        "complex": X.astype(complex),
        "matrix": matrix,   # scikit-learn's TypeError
    }


BAD_INPUTS = _bad_inputs()


@pytest.fixture(scope="module")
def pairs():
    X = _data()
    return {kind: _fit_pair(kind, X) for kind in CLASSIFIER_KINDS + REGRESSOR_KINDS}


@pytest.mark.parametrize("name", list(INPUTS))
@pytest.mark.parametrize("kind", CLASSIFIER_KINDS + REGRESSOR_KINDS)
def test_inputs_same_as_slow_path_and_sklearn(pairs, kind, name, monkeypatch):
    bp, sk = pairs[kind]
    outcomes = _check(bp, sk, INPUTS[name], monkeypatch)
    for method, (result, error, warns) in outcomes.items():
        assert error is None and warns == [], (method, error, warns)
        assert result.shape[0] == (3 if name == "list" else 1 if "1row" in name else
                                   10 if "10rows" in name else 40)


@pytest.mark.parametrize("name", list(BAD_INPUTS))
@pytest.mark.parametrize("kind", ["binary", "multiclass-str", "multilabel", "regression",
                                  "regression-multi"])
def test_bad_inputs_same_errors_as_slow_path_and_sklearn(pairs, kind, name, monkeypatch):
    bp, sk = pairs[kind]
    outcomes = _check(bp, sk, BAD_INPUTS[name], monkeypatch)
    for method, (result, error, warns) in outcomes.items():
        assert error is not None, method
        expected = TypeError if name == "matrix" else ValueError
        assert error[0] is expected, (method, error)


def test_error_messages_are_sklearns(pairs):
    bp, _ = pairs["binary"]
    bad = BAD_INPUTS
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        bp.predict(bad["1d"])
    with pytest.raises(ValueError, match="X has 4 features, but MLPClassifier is "
                                         "expecting 5 features as input."):
        bp.predict_proba(bad["too-few-features"])
    with pytest.raises(ValueError, match="Input X contains NaN.\nMLPClassifier does not "
                                         "accept missing values encoded as NaN"):
        bp.predict(bad["nan-1row"])
    with pytest.raises(ValueError, match=r"Input X contains infinity or a value too "
                                         r"large for dtype\('float32'\)."):
        bp.predict_log_proba(bad["neg-inf-float32"])
    reg, _ = pairs["regression"]
    with pytest.raises(ValueError, match="Input X contains infinity or a value too "
                                         "large for dtype"):
        reg.predict(bad["inf"])


@pytest.mark.parametrize("kind", ["binary-str", "multiclass-int", "multilabel",
                                  "regression-multi"])
def test_float32_model(kind, monkeypatch):
    X = _data()
    bp, sk = _fit_pair(kind, X, dtype=np.float32)
    assert bp.coefs_[0].dtype == np.float32
    sk.coefs_ = [c.astype(np.float32) for c in sk.coefs_]
    sk.intercepts_ = [b.astype(np.float32) for b in sk.intercepts_]
    for name in ["float32", "float64-1row", "float64-10rows", "int64", "uint8", "fortran",
                 "column-slice", "list", "csr"]:
        outcomes = _check(bp, sk, INPUTS[name], monkeypatch)
        for method, (result, error, warns) in outcomes.items():
            assert error is None and warns == []
    for name in ["nan", "neg-inf-float32", "1d", "too-many-features"]:
        outcomes = _check(bp, sk, BAD_INPUTS[name], monkeypatch)
        assert all(error is not None for _, error, _ in outcomes.values())


def test_labels_and_probabilities(pairs):
    """The decoded labels against the probabilities, kind by kind."""
    X = INPUTS["float64"]
    for kind in ["binary", "binary-str", "multiclass-str", "multiclass-int"]:
        bp, _ = pairs[kind]
        proba = bp.predict_proba(X)
        labels = bp.predict(X)
        assert labels.dtype == bp.classes_.dtype
        np.testing.assert_array_equal(labels, bp.classes_[proba.argmax(axis=1)])
        np.testing.assert_array_equal(labels[:1], bp.predict(X[:1]))
    bp, _ = pairs["multilabel"]
    labels = bp.predict(X)
    assert labels.dtype == np.asarray(0).dtype and labels.shape == (40, 3)
    np.testing.assert_array_equal(labels, (bp.predict_proba(X) > 0.5).astype(int))
    # binary: predict_proba's layout is scikit-learn's (a transposed 2 x n)
    bp, _ = pairs["binary"]
    proba = bp.predict_proba(X)
    assert proba.shape == (40, 2) and proba.flags.f_contiguous
    np.testing.assert_array_equal(proba[:, 0], 1 - proba[:, 1])


def test_decode_equals_inverse_transform():
    from sklearn.preprocessing import LabelBinarizer
    rng = np.random.RandomState(0)
    cases = [
        (np.array([3, 9]), rng.rand(20)),
        (np.array(["a", "b"]), rng.rand(20).astype(np.float32)),
        (np.array([0, 1, 5]), rng.rand(20, 3)),
        (np.array(["x", "y", "z", "w"]), rng.rand(20, 4).astype(np.float32)),
        (np.array([[1, 0, 1], [0, 1, 0]]), rng.rand(20, 3)),
        (np.array([7]), rng.rand(20)),       # one class: inverse_transform itself
        (np.array([1, 2]), np.array([0.5, np.nan, 0.5000001, 0.4999999])),
        (np.array([1, 2, 3]), np.array([[np.nan, 1, 0], [0, 0, 0], [0, 1, 1]])),
    ]
    for y, Y in cases:
        binarizer = LabelBinarizer().fit(y)
        expected = binarizer.inverse_transform(Y)
        got = _mlp._decode(binarizer, Y)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    # fitted on sparse targets: inverse_transform's sparse output
    binarizer = LabelBinarizer().fit(sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]])))
    Y = rng.rand(5, 3)
    got, expected = _mlp._decode(binarizer, Y), binarizer.inverse_transform(Y)
    assert type(got) is type(expected)
    np.testing.assert_array_equal(got.toarray(), expected.toarray())


# -- feature names -----------------------------------------------------------------

def _frame(X, names=None):
    names = names or [f"f{i}" for i in range(X.shape[1])]
    return pd.DataFrame(X, columns=names)


@pytest.mark.parametrize("kind", ["binary", "multiclass-str", "regression"])
def test_feature_names_both_ways(kind, monkeypatch):
    X = _data()
    Xq = INPUTS["float64-10rows"]
    # fitted with names
    bp, sk = _fit_pair(kind, _frame(X))
    assert list(bp.feature_names_in_) == list(sk.feature_names_in_)
    for X_in, expect_warn, expect_error in [
            (Xq, True, False),                          # ndarray: warns
            (Xq[:1], True, False),
            (np.asfortranarray(Xq).astype(np.float32), True, False),
            (_frame(Xq), False, False),                 # same names
            (_frame(Xq, ["f1", "f0", "f2", "f3", "f4"]), False, True),  # order
            (_frame(Xq, ["a", "b", "c", "d", "e"]), False, True),       # other names
            (_frame(Xq[:, :4]), False, True),
            (Xq.tolist(), True, False),
            (BAD_INPUTS["nan"], True, True),            # one warning, then the error
            (BAD_INPUTS["too-many-features"], True, True),
            (_frame(BAD_INPUTS["inf"]), False, True)]:
        outcomes = _check(bp, sk, X_in, monkeypatch)
        for method, (result, error, warns) in outcomes.items():
            assert (error is not None) == expect_error, (method, error)
            expected = ([(UserWarning, "X does not have valid feature names, but "
                          f"{type(bp).__name__} was fitted with feature names")]
                        if expect_warn else [])
            assert warns == expected, method
    # fitted without names, predicted with
    bp, sk = _fit_pair(kind, X)
    assert not hasattr(bp, "feature_names_in_")
    for X_in in [_frame(Xq), _frame(Xq[:1])]:
        outcomes = _check(bp, sk, X_in, monkeypatch)
        for method, (result, error, warns) in outcomes.items():
            assert error is None
            assert warns == [(UserWarning, "X has feature names, but "
                              f"{type(bp).__name__} was fitted without feature names")]
    for X_in in [Xq, Xq[:1]]:
        for method, (result, error, warns) in _check(bp, sk, X_in, monkeypatch).items():
            assert error is None and warns == []


# -- configuration, fitted check, the path taken ------------------------------------

@pytest.mark.parametrize("kind", ["binary", "multiclass-str", "multilabel", "regression",
                                  "regression-multi"])
def test_assume_finite(pairs, kind, monkeypatch):
    bp, sk = pairs[kind]
    with sklearn.config_context(assume_finite=True):
        for name in ["float64-1row", "float64-10rows", "float32", "list", "csr"]:
            _check(bp, sk, INPUTS[name], monkeypatch)
        # non-finite input: no error (scikit-learn does not look); bpfast
        # warns of its non-finite outputs, on both paths alike
        for name in ["nan", "nan-1row", "inf", "nan-csr"]:
            X = BAD_INPUTS[name]
            for method in _methods(bp):
                fast = _outcome(getattr(bp, method), X)
                with monkeypatch.context() as m:
                    _slow(m)
                    slow = _outcome(getattr(bp, method), X)
                theirs = _outcome(getattr(sk, method), X)
                assert fast[1] is None and theirs[1] is None
                _assert_same_exactly(fast[0], slow[0])
                assert fast[2] == slow[2]
                assert all(category is RuntimeWarning for category, _ in fast[2])
                if method == "predict":
                    assert fast[0].dtype == theirs[0].dtype
        # errors other than finiteness are still raised
        for name in ["1d", "too-few-features", "strings"]:
            _check(bp, sk, BAD_INPUTS[name], monkeypatch)


@pytest.mark.parametrize("est", [bpfast.MLPClassifier(), bpfast.MLPRegressor()])
def test_not_fitted(est, monkeypatch):
    sk = (SkClassifier() if isinstance(est, bpfast.MLPClassifier) else SkRegressor())
    for method in _methods(est):
        fast = _outcome(getattr(est, method), INPUTS["float64-1row"])
        theirs = _outcome(getattr(sk, method), INPUTS["float64-1row"])
        assert fast[1][0] is NotFittedError and fast[1:] == theirs[1:]
        # an attribute ending in '_' is what check_is_fitted looks for
        other = copy.deepcopy(est)
        other.something_ = 1
        with pytest.raises(AttributeError):
            getattr(other, method)(INPUTS["float64-1row"])


def test_fast_path_skips_validate_data(pairs, monkeypatch):
    """An ndarray of numbers never reaches validate_data or
    inverse_transform; any other input does."""
    calls = []
    real = _mlp.validate_data

    def counting(*args, **kwargs):
        calls.append(type(args[1]).__name__)
        return real(*args, **kwargs)

    monkeypatch.setattr(_mlp, "validate_data", counting)
    for kind in ["binary", "multiclass-str", "multilabel", "regression"]:
        bp, _ = pairs[kind]
        for name in ["float64-1row", "float64-10rows", "float32", "int64", "fortran",
                     "column-slice", "bool"]:
            for method in _methods(bp):
                getattr(bp, method)(INPUTS[name])
        assert calls == []
        bp.predict(INPUTS["list"])
        bp.predict(INPUTS["csr"])
        assert calls == ["list", "csr_matrix"]
        calls.clear()
    from sklearn.preprocessing import LabelBinarizer
    monkeypatch.setattr(LabelBinarizer, "inverse_transform", None)
    for kind in ["binary", "multiclass-str", "multilabel"]:
        pairs[kind][0].predict(INPUTS["float64-10rows"])


# -- the network behind coefs_ -------------------------------------------------------

def test_replaced_and_copied_weights_are_seen(pairs):
    bp, sk = pairs["multiclass-str"]
    X = INPUTS["float64-10rows"]
    bp = copy.deepcopy(bp)
    sk = copy.deepcopy(sk)
    np.testing.assert_allclose(bp.predict_proba(X), sk.predict_proba(X), rtol=1e-6)
    # in place: seen through the views
    bp.coefs_[0] *= 0.5
    sk.coefs_[0] *= 0.5
    np.testing.assert_allclose(bp.predict_proba(X), sk.predict_proba(X), rtol=1e-6)
    # an array replaced: the network is rebuilt from the arrays
    bp.coefs_[1] = bp.coefs_[1] * -1.0
    sk.coefs_[1] = sk.coefs_[1] * -1.0
    np.testing.assert_allclose(bp.predict_proba(X), sk.predict_proba(X), rtol=1e-6)
    assert bp._get_network().is_view(bp.coefs_, bp.intercepts_)
    # copies have parameters of their own
    for twin in [copy.deepcopy(bp), pickle.loads(pickle.dumps(bp))]:
        net = twin._get_network()
        assert all(np.shares_memory(c, net.params) for c in twin.coefs_)
        assert not np.shares_memory(net.params, bp._get_network().params)
        twin.intercepts_[-1] += 3.0
        before = bp.predict_proba(X)
        changed = twin.predict_proba(X)
        sk_twin = copy.deepcopy(sk)
        sk_twin.intercepts_[-1] += 3.0
        np.testing.assert_allclose(changed, sk_twin.predict_proba(X), rtol=1e-6)
        np.testing.assert_array_equal(before, bp.predict_proba(X))
    # a view's dtype changed in place: no longer a view
    net = bp._get_network()
    assert net.is_view(bp.coefs_, bp.intercepts_)
    arrays = [c.copy() for c in bp.coefs_]
    assert not net.is_view(arrays, bp.intercepts_)
    assert net.is_view(bp.coefs_, bp.intercepts_)
    assert not net.is_view(bp.coefs_[:-1], bp.intercepts_)


def test_is_view_knows_its_views_only():
    """is_view recognises arrays it has checked by identity; a copy of the
    network (with the arrays, as one deepcopy or pickle) checks again, and
    an array whose dtype or layout was changed in place is no view."""
    bp, _ = _fit_pair("multiclass-int", _data())
    net = bp._get_network()
    coefs, intercepts = bp.coefs_, bp.intercepts_
    assert net.is_view(coefs, intercepts) and net.is_view(coefs, intercepts)
    for net2, coefs2, intercepts2 in [
            copy.deepcopy((net, coefs, intercepts)),
            pickle.loads(pickle.dumps((net, coefs, intercepts)))]:
        assert not np.shares_memory(net2.params, net.params)
        assert not net2.is_view(coefs2, intercepts2)
        assert net2.is_view(net2.coef_views(), net2.intercept_views())
    layer = coefs[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            layer.dtype = np.int64
        except (AttributeError, TypeError):
            pytest.skip("numpy refuses to change an array's dtype in place")
    try:
        assert not net.is_view(coefs, intercepts)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer.dtype = np.float64
    assert net.is_view(coefs, intercepts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            layer.strides = (8, layer.shape[0] * 8)
            layer.shape = layer.shape[::-1]
        except (AttributeError, TypeError, ValueError):
            return
    assert not net.is_view(coefs, intercepts)
