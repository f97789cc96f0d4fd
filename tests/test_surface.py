"""The rest of scikit-learn's MLP surface, each against the installed
scikit-learn: lbfgs, early stopping, warm_start, partial_fit, multilabel,
multi-output, sample_weight, sparse input, feature names, verbose output,
errors."""
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from bpfast import MLPClassifier, MLPRegressor

SK_VERSION = tuple(int(part) for part in sklearn.__version__.split(".")[:2])
PAIRS = {"classifier": (SkClassifier, MLPClassifier), "regressor": (SkRegressor, MLPRegressor)}


def fit_pair(kind, X, y, fit_kw=None, **params):
    sk_cls, bp_cls = PAIRS[kind]
    fit_kw = fit_kw or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sk_cls(**params).fit(X, y, **fit_kw), bp_cls(**params).fit(X, y, **fit_kw)


@parametrize_with_checks([MLPClassifier(max_iter=50), MLPRegressor(max_iter=50)])
def test_sklearn_common_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# -- lbfgs --------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_lbfgs_digits_matches_sklearn(digits, activation):
    X, y = digits
    sk, bp = fit_pair("classifier", X, y, hidden_layer_sizes=(30,), solver="lbfgs",
                      activation=activation, max_iter=40, random_state=0)
    assert bp.n_iter_ == sk.n_iter_
    assert bp.loss_ == pytest.approx(sk.loss_, rel=1e-6)
    assert np.mean(bp.predict(X) == sk.predict(X)) >= 0.999
    assert not hasattr(bp, "loss_curve_") and not hasattr(sk, "loss_curve_")


def test_lbfgs_regression_matches_sklearn(regression):
    X, y = regression
    sk, bp = fit_pair("regressor", X, y, hidden_layer_sizes=(20, 10), solver="lbfgs",
                      max_iter=50, random_state=0, alpha=0.01)
    assert bp.loss_ == pytest.approx(sk.loss_, rel=1e-6)
    np.testing.assert_allclose(bp.predict(X), sk.predict(X), rtol=1e-5, atol=1e-6)


def test_lbfgs_max_fun_and_convergence_warning(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        bp = MLPClassifier((10,), solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    assert bp.n_iter_ == 3
    with pytest.warns(ConvergenceWarning):
        sk = SkClassifier((10,), solver="lbfgs", max_fun=5, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        bp = MLPClassifier((10,), solver="lbfgs", max_fun=5, random_state=0).fit(X, y)
    assert bp.n_iter_ == sk.n_iter_
    assert bp.loss_ == pytest.approx(sk.loss_, rel=1e-6)


def test_lbfgs_with_sample_weight_matches_sklearn(regression):
    X, y = regression
    w = np.random.RandomState(0).uniform(0.1, 2, X.shape[0])
    sk, bp = fit_pair("regressor", X, y, fit_kw=dict(sample_weight=w),
                      hidden_layer_sizes=(10,), solver="lbfgs", max_iter=30, random_state=0)
    assert bp.loss_ == pytest.approx(sk.loss_, rel=1e-6)


# -- early stopping, n_iter_no_change, adaptive ---------------------------------------
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_early_stopping_matches_sklearn(kind, digits, regression):
    X, y = digits if kind == "classifier" else regression
    w = np.random.RandomState(1).uniform(0.5, 1.5, X.shape[0])
    for fit_kw in ({}, {"sample_weight": w}):
        sk, bp = fit_pair(kind, X, y, fit_kw=fit_kw, hidden_layer_sizes=(20,),
                          early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                          max_iter=60, random_state=0, learning_rate_init=0.01)
        assert bp.n_iter_ == sk.n_iter_
        np.testing.assert_allclose(bp.validation_scores_, sk.validation_scores_, rtol=1e-6)
        assert bp.best_validation_score_ == pytest.approx(sk.best_validation_score_)
        assert bp.best_loss_ is None and sk.best_loss_ is None
        np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=1e-6)
        # best weights restored
        for a, b in zip(bp.coefs_, sk.coefs_):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_adaptive_learning_rate_matches_sklearn(digits):
    X, y = digits
    sk, bp = fit_pair("classifier", X, y, hidden_layer_sizes=(10,), solver="sgd",
                      learning_rate="adaptive", learning_rate_init=0.5, n_iter_no_change=2,
                      tol=1e-2, max_iter=40, random_state=0)
    assert bp.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=1e-6)
    assert bp._optimizer.learning_rate == pytest.approx(sk._optimizer.learning_rate)


def test_early_stopping_with_string_labels():
    """The one place where scikit-learn 1.7 and 1.8's MLPs differ from 1.9's:
    their early-stopping score asks np.isnan of the predicted labels, a
    TypeError for strings; 1.9 scores them. bpfast scores them under every
    version (it does not mirror the crash), as 1.9 does: the same fit as on
    the integer labels of the same order."""
    rng = np.random.RandomState(0)
    X = rng.randn(200, 4)
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    params = dict(hidden_layer_sizes=(8,), early_stopping=True, max_iter=10,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bp = MLPClassifier(**params).fit(X, y)
        if SK_VERSION < (1, 9):
            with pytest.raises(TypeError, match="isnan"):
                SkClassifier(**params).fit(X, y)
            sk = SkClassifier(**params).fit(X, (y == "yes").astype(int))
        else:
            sk = SkClassifier(**params).fit(X, y)
    assert bp.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(bp.validation_scores_, sk.validation_scores_, rtol=1e-6)
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=1e-6)
    np.testing.assert_array_equal(bp.classes_, ["no", "yes"])


def test_validation_set_too_small():
    X, y = np.random.RandomState(0).randn(10, 3), np.arange(10.0)
    for cls in (SkRegressor, MLPRegressor):
        with pytest.raises(ValueError, match="validation set is too small"):
            cls(early_stopping=True, validation_fraction=0.1).fit(X, y)
    X, y = np.random.RandomState(0).randn(10, 3), np.arange(10) % 2
    messages = []
    for cls in (SkClassifier, MLPClassifier):
        with pytest.raises(ValueError) as info:
            cls(early_stopping=True, validation_fraction=0.1).fit(X, y)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


# -- warm_start, partial_fit ----------------------------------------------------------
def test_warm_start_matches_sklearn(digits):
    X, y = digits
    models = []
    for cls in (SkClassifier, MLPClassifier):
        m = cls((15,), max_iter=5, warm_start=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(X, y)
            m.fit(X, y)
        models.append(m)
    np.testing.assert_allclose(models[1].loss_curve_, models[0].loss_curve_, rtol=1e-6)
    assert models[1].t_ == models[0].t_


def test_warm_start_class_mismatch_raises(digits):
    X, y = digits
    for cls in (SkClassifier, MLPClassifier):
        m = cls((5,), max_iter=2, warm_start=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(X, y)
        with pytest.raises(ValueError, match="warm_start can only be used"):
            m.fit(X[y < 5], y[y < 5])


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_matches_sklearn(digits, solver):
    X, y = digits
    classes = np.unique(y)
    models = []
    for cls in (SkClassifier, MLPClassifier):
        m = cls((20,), solver=solver, random_state=0, learning_rate_init=0.01)
        for start in range(0, 1500, 300):
            m.partial_fit(X[start:start + 300], y[start:start + 300], classes=classes)
        models.append(m)
    np.testing.assert_allclose(models[1].loss_curve_, models[0].loss_curve_, rtol=1e-6)
    assert models[1].n_iter_ == models[0].n_iter_ and models[1].t_ == models[0].t_
    np.testing.assert_array_equal(models[1].predict(X), models[0].predict(X))


def test_partial_fit_errors_as_sklearn(digits):
    X, y = digits
    for cls in (SkClassifier, MLPClassifier):
        with pytest.raises(ValueError, match="classes must be passed on the first call"):
            cls().partial_fit(X, y)
        m = cls((5,)).partial_fit(X[y < 5], y[y < 5], classes=np.arange(5))
        with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
            m.partial_fit(X, y)
        assert not hasattr(cls(solver="lbfgs"), "partial_fit")
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
            cls(early_stopping=True).partial_fit(X, y, classes=np.arange(10))


def test_partial_fit_after_fit_and_after_pickle(digits):
    X, y = digits
    models = []
    for cls in (SkClassifier, MLPClassifier):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = cls((20,), max_iter=3, random_state=0).fit(X, y)
        m = pickle.loads(pickle.dumps(m))
        m.partial_fit(X, y)
        m.partial_fit(X, y)
        models.append(m)
    np.testing.assert_allclose(models[1].loss_curve_, models[0].loss_curve_, rtol=1e-6)
    bp = models[1]
    assert bp._get_network().is_view(bp.coefs_, bp.intercepts_)


def test_regressor_partial_fit(regression):
    X, y = regression
    models = []
    for cls in (SkRegressor, MLPRegressor):
        m = cls(hidden_layer_sizes=(10,), random_state=0)
        for _ in range(3):
            m.partial_fit(X, y)
        models.append(m)
    np.testing.assert_allclose(models[1].loss_curve_, models[0].loss_curve_, rtol=1e-6)


# -- target encoding ---------------------------------------------------------------------
@pytest.mark.parametrize("labels", [
    np.arange(50) % 10, np.arange(30) % 2, np.array(["b", "a", "c", "a"]),
    np.array(["no", "yes", "no"]), (np.arange(40) % 6 - 3).astype(np.float64),
    np.array([True, False, True]), (np.arange(30) % 3).astype(np.uint8),
    np.array([-1, 1, 1, -1], dtype=np.int32)])
def test_binarize_equals_label_binarizer(labels):
    """The fit's direct encoding of 1-d labels is LabelBinarizer.transform's."""
    from sklearn.preprocessing import LabelBinarizer

    from bpfast._mlp import _binarize
    binarizer = LabelBinarizer().fit(labels)
    expected = binarizer.transform(labels).astype(bool)
    got = _binarize(binarizer, labels)
    assert got.dtype == bool and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("labels", [
    np.arange(50) % 10, np.arange(30) % 2, np.array([True, False, True]),
    np.array([False, False]), np.array([7, 7, 7]), (np.arange(30) % 3).astype(np.uint8),
    np.array([-1, 1, 1, -1], dtype=np.int32), np.array([2**40, -5, 0, 2**40]),
    np.array(["b", "a", "c", "a"]), (np.arange(40) % 6 - 3).astype(np.float64),
    np.array([[0, 1], [1, 1], [1, 0]]), np.zeros((3, 1), dtype=int)])
def test_fitted_binarizer_is_label_binarizer_fit(labels):
    """The fit's label binarizer, set directly for 1-d integer and bool
    labels, has LabelBinarizer.fit's type, classes (values and dtype) and
    transform; other labels go through fit itself."""
    from sklearn.preprocessing import LabelBinarizer

    from bpfast._mlp import _fitted_binarizer
    expected = LabelBinarizer().fit(labels)
    got = _fitted_binarizer(labels)
    assert type(got) is LabelBinarizer
    assert got.y_type_ == expected.y_type_
    assert got.sparse_input_ == expected.sparse_input_
    assert got.classes_.dtype == expected.classes_.dtype
    np.testing.assert_array_equal(got.classes_, expected.classes_)
    np.testing.assert_array_equal(got.transform(labels), expected.transform(labels))
    assert got.get_params() == expected.get_params()


def test_binarize_falls_back_where_labels_are_not_all_known():
    """Labels outside the fitted classes (and a fit on a superset of the
    labels, as partial_fit's classes make) encode as LabelBinarizer does."""
    from sklearn.preprocessing import LabelBinarizer

    from bpfast._mlp import _binarize
    binarizer = LabelBinarizer().fit([0, 1, 2, 3])
    for labels in (np.array([1, 2, 1]), np.array([5, 1, 0]), np.array([1.0, 3.0])):
        np.testing.assert_array_equal(_binarize(binarizer, labels),
                                      binarizer.transform(labels).astype(bool))


# -- multilabel, multi-output -----------------------------------------------------------
def test_multilabel_matches_sklearn():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 5)
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0.3, X[:, 2] + X[:, 3] > 0], 1).astype(int)
    sk, bp = fit_pair("classifier", X, Y, hidden_layer_sizes=(10,), max_iter=30,
                      random_state=0)
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=1e-6)
    np.testing.assert_array_equal(bp.predict(X), sk.predict(X))
    assert bp.predict_proba(X).shape == (200, 3)


def test_multi_output_regression_matches_sklearn(regression):
    X, y = regression
    Y = np.stack([y, 0.5 * y + X[:, 0]], axis=1)
    sk, bp = fit_pair("regressor", X, Y, hidden_layer_sizes=(10,), max_iter=20,
                      random_state=0)
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(bp.predict(X), sk.predict(X), rtol=1e-6, atol=1e-8)


# -- sparse input --------------------------------------------------------------------------
SPARSE = [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array,
          sp.coo_array]


@pytest.mark.parametrize("container", SPARSE)
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_equals_dense(digits, container, solver):
    X, y = digits
    Xs = container(X)
    params = dict(hidden_layer_sizes=(20,), solver=solver, max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**params).fit(X, y)
        sparse = MLPClassifier(**params).fit(Xs, y)
        sk = SkClassifier(**params).fit(Xs, y)
    assert sparse.loss_ == pytest.approx(dense.loss_, rel=1e-9)
    assert sparse.loss_ == pytest.approx(sk.loss_, rel=1e-6)
    for a, b in zip(sparse.coefs_, dense.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X),
                               rtol=1e-8, atol=1e-12)


def test_sparse_float32_and_regressor(regression):
    X, y = regression
    X = X.astype(np.float32)
    X[np.abs(X) < 0.8] = 0
    Xs = sp.csr_matrix(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
        sparse = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(Xs, y)
    assert sparse.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-5)


# -- sample_weight -----------------------------------------------------------------------------
def test_sample_weight_partial_fit_matches_sklearn(digits):
    X, y = digits
    w = np.random.RandomState(0).uniform(0, 3, X.shape[0])
    models = []
    for cls in (SkClassifier, MLPClassifier):
        m = cls((10,), random_state=0)
        m.partial_fit(X, y, sample_weight=w, classes=np.arange(10))
        m.partial_fit(X, y, sample_weight=w)
        models.append(m)
    np.testing.assert_allclose(models[1].loss_curve_, models[0].loss_curve_, rtol=1e-6)


def test_integer_sample_weight_equals_repetition():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    y = (X[:, 0] > 0).astype(int)
    w = rng.randint(1, 3, 60)
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0)
    a = MLPClassifier(**params).fit(X, y, sample_weight=w)
    b = MLPClassifier(**params).fit(np.repeat(X, w, 0), np.repeat(y, w))
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-5, atol=1e-8)


# -- feature names, verbose, errors --------------------------------------------------------------
def test_feature_names():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    df = pd.DataFrame(rng.randn(30, 3), columns=["a", "b", "c"])
    y = np.arange(30) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = MLPClassifier((4,), max_iter=5).fit(df, y)
    np.testing.assert_array_equal(m.feature_names_in_, ["a", "b", "c"])
    with pytest.warns(UserWarning, match="feature names"):
        m.predict(df.to_numpy())
    with pytest.raises(ValueError, match="feature names"):
        m.predict(df[["b", "a", "c"]])


def test_verbose_output_matches_sklearn(digits, capsys):
    X, y = digits
    outputs = []
    for cls in (SkClassifier, MLPClassifier):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cls((8,), max_iter=4, verbose=True, random_state=0, early_stopping=True,
                n_iter_no_change=1, tol=0.5).fit(X, y)
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert "Iteration 1, loss = " in outputs[1] and "Validation score:" in outputs[1]


@pytest.mark.parametrize("bad", [
    dict(hidden_layer_sizes=(0,)), dict(hidden_layer_sizes=-1), dict(activation="bad"),
    dict(solver="bad"), dict(alpha=-1.0), dict(batch_size=0), dict(learning_rate="bad"),
    dict(learning_rate_init=0.0), dict(max_iter=0), dict(momentum=2.0),
    dict(validation_fraction=1.0), dict(beta_1=1.0), dict(beta_2=-0.1), dict(epsilon=0.0),
    dict(n_iter_no_change=0), dict(max_fun=0), dict(shuffle="yes"),
])
def test_invalid_parameters_raise_like_sklearn(digits, bad):
    X, y = digits
    errors = []
    for cls in (SkClassifier, MLPClassifier):
        with pytest.raises(Exception) as info:
            cls(**bad).fit(X[:50], y[:50])
        errors.append(info.type)
    assert errors[0] is errors[1]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_input_raises_before_kernels(value):
    X = np.random.RandomState(0).randn(20, 3)
    y = np.arange(20) % 2
    Xb = X.copy()
    Xb[3, 1] = value
    for cls in (SkClassifier, MLPClassifier):
        with pytest.raises(ValueError):
            cls().fit(Xb, y)
    yb = X[:, 0].copy()
    yb[2] = value
    for cls in (SkRegressor, MLPRegressor):
        with pytest.raises(ValueError):
            cls().fit(X, yb)


def test_diverging_fit_raises_sklearns_error():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 3) * 1e150
    y = rng.randn(50) * 1e150
    for cls in (SkRegressor, MLPRegressor):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ValueError, match="Solver produced non-finite parameter"):
                cls(solver="sgd", learning_rate_init=10.0, max_iter=20).fit(X, y)


def test_predict_before_fit_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().predict(np.zeros((2, 2)))


def test_keyboard_interrupt_leaves_usable_model(digits, monkeypatch):
    X, y = digits
    from bpfast import _solvers

    calls = {"n": 0}
    original = _solvers.StochasticOptimizer.run_epoch

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_solvers.StochasticOptimizer, "run_epoch", interrupted)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        m = MLPClassifier((10,), max_iter=50, random_state=0).fit(X, y)
    assert m.n_iter_ == 2 and len(m.loss_curve_) == 2
    assert np.isfinite(m.predict_proba(X)).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("sparse", [False, True])
def test_non_finite_X_raises_sklearns_error_and_keeps_the_fitted_model(bad, sparse):
    """X's finiteness is checked by a threaded kernel; a failure raises
    scikit-learn's own error, before the estimator's state is touched."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 5), rng.randint(0, 3, 60)
    X_bad = X.copy()
    X_bad[17, 3] = bad
    X_bad = sp.csr_matrix(X_bad) if sparse else X_bad
    y_other = rng.randint(0, 5, 60)
    errors = {}
    for name, cls in (("bpfast", MLPClassifier), ("sklearn", SkClassifier)):
        model = cls(hidden_layer_sizes=(7,), max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        coefs = [c.copy() for c in model.coefs_]
        with pytest.raises(ValueError) as fit_err:
            model.fit(X_bad, y_other)
        with pytest.raises(ValueError) as predict_err:
            model.predict_proba(X_bad)
        errors[name] = (str(fit_err.value), str(predict_err.value))
        assert all(np.array_equal(a, b) for a, b in zip(model.coefs_, coefs))
        assert list(model.classes_) == [0, 1, 2]
    assert errors["bpfast"] == errors["sklearn"]
