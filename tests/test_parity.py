"""bpfast against the installed scikit-learn: same draws, same sample order,
same loss curve, same predictions."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

import bpfast

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
SOLVERS = {
    "adam": dict(solver="adam", learning_rate_init=0.001),
    "sgd-nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True,
                         learning_rate_init=0.01),
}
RTOL = {np.float64: 1e-6, np.float32: 1e-3}


def _fit_both(sk_cls, bp_cls, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = sk_cls(**params).fit(X, y)
        bp = bp_cls(**params).fit(X, y)
    return sk, bp


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_classifier_loss_curve_matches_sklearn(digits, activation, solver, dtype):
    X, y = digits
    X = X.astype(dtype)
    X_tr, X_te, y_tr = X[:1500], X[1500:], y[:1500]
    sk, bp = _fit_both(SkClassifier, bpfast.MLPClassifier, X_tr, y_tr,
                       hidden_layer_sizes=(40,), activation=activation, max_iter=20,
                       random_state=0, **SOLVERS[solver])
    assert len(bp.loss_curve_) == len(sk.loss_curve_) == 20
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=RTOL[dtype])
    agree = np.mean(bp.predict(X_te) == sk.predict(X_te))
    assert agree >= 0.999
    assert bp.coefs_[0].dtype == dtype
    assert bp.predict_proba(X_te).dtype == dtype
    for a, b in zip(bp.coefs_ + bp.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype] * 100, atol=RTOL[dtype] * 10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_regressor_loss_curve_matches_sklearn(regression, activation, solver, dtype):
    X, y = regression
    X, y = X.astype(dtype), y.astype(dtype)
    X_tr, X_te, y_tr = X[:500], X[500:], y[:500]
    sk, bp = _fit_both(SkRegressor, bpfast.MLPRegressor, X_tr, y_tr,
                       hidden_layer_sizes=(30, 20), activation=activation, max_iter=20,
                       batch_size=50, random_state=1, **SOLVERS[solver])
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=RTOL[dtype])
    close = np.isclose(bp.predict(X_te), sk.predict(X_te), rtol=1e-3, atol=1e-3)
    assert close.mean() >= 0.999


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
def test_logistic_outputs_match_sklearn(kind):
    rng = np.random.RandomState(0)
    X = rng.randn(300, 6)
    if kind == "binary":
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
    else:
        y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < 0.5], axis=1).astype(int)
    sk, bp = _fit_both(SkClassifier, bpfast.MLPClassifier, X, y, hidden_layer_sizes=(8,),
                       max_iter=20, random_state=0)
    assert bp.out_activation_ == sk.out_activation_ == "logistic"
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(bp.predict_proba(X), sk.predict_proba(X), rtol=1e-6)


def test_sgd_schedules_and_sample_weight_match_sklearn(digits):
    X, y = digits
    w = np.random.RandomState(3).uniform(0.2, 2.0, X.shape[0])
    for extra in (dict(learning_rate="invscaling", learning_rate_init=0.1, power_t=0.3),
                  dict(learning_rate="adaptive", nesterovs_momentum=False, momentum=0.5),
                  dict(learning_rate="constant", momentum=0.0, shuffle=False)):
        params = dict(hidden_layer_sizes=(20,), solver="sgd", max_iter=15, random_state=2,
                      **extra)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk = SkClassifier(**params).fit(X, y, sample_weight=w)
            bp = bpfast.MLPClassifier(**params).fit(X, y, sample_weight=w)
        np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=1e-6)


def test_poisson_matches_sklearn():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 5)
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    sk, bp = _fit_both(SkRegressor, bpfast.MLPRegressor, X, y, loss="poisson",
                       hidden_layer_sizes=(10,), max_iter=20, random_state=0)
    assert bp.out_activation_ == "exp"
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(bp.predict(X), sk.predict(X), rtol=1e-6)


def test_fitted_attributes_match_sklearn(digits):
    X, y = digits
    sk, bp = _fit_both(SkClassifier, bpfast.MLPClassifier, X, y, hidden_layer_sizes=(16, 8),
                       max_iter=5, random_state=0)
    for name in ("loss_", "best_loss_", "t_", "n_iter_", "n_layers_", "n_outputs_",
                 "out_activation_", "n_features_in_", "validation_scores_",
                 "best_validation_score_"):
        a, b = getattr(bp, name), getattr(sk, name)
        if isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-6), name
        else:
            assert a == b, name
    np.testing.assert_array_equal(bp.classes_, sk.classes_)
    assert [c.shape for c in bp.coefs_] == [c.shape for c in sk.coefs_]
    assert [c.shape for c in bp.intercepts_] == [c.shape for c in sk.intercepts_]
    ours, theirs = bp.get_params(), sk.get_params()
    assert {k: ours[k] for k in theirs} == theirs
    assert set(ours) - set(theirs) == {"rho", "rmsprop_momentum", "dropout", "l1_ratio",
                                       "negative_slope", "elu_alpha", "class_weight"}
    assert bp.score(X, y) == pytest.approx(sk.score(X, y))
    np.testing.assert_allclose(bp.predict_log_proba(X), sk.predict_log_proba(X),
                               rtol=1e-6, atol=1e-9)
