"""What the backprop texts teach beyond scikit-learn: RMSProp, dropout, L1 /
elastic-net, and the user-facing gradient check."""

import numpy as np
import pytest
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from bpfast import MLPClassifier, MLPRegressor, check_gradients
from bpfast._network import Network

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def split_digits(digits, train_size):
    X, y = digits
    return train_test_split(X, y, train_size=train_size, random_state=0, stratify=y)


# -- gradient checks ----------------------------------------------------------------
@pytest.mark.parametrize("config", [
    dict(alpha=0.3, l1_ratio=0.6),
    dict(alpha=0.1, l1_ratio=1.0, activation="tanh"),
    dict(dropout=0.3),
    dict(dropout=0.5, activation="logistic", alpha=0.05, l1_ratio=0.5),
    dict(activation="leaky_relu", negative_slope=0.1),
    dict(activation="elu", elu_alpha=0.7, dropout=0.2),
    dict(class_weight="balanced", alpha=0.2),
])
def test_check_gradients_covers_the_options(digits, config):
    X, y = digits
    clf = MLPClassifier((9,), random_state=0, **config)
    assert check_gradients(clf, X[:80], y[:80]) < 1e-6


def test_check_gradients_on_a_fitted_regressor_and_detects_a_wrong_gradient(regression):
    X, y = regression
    reg = MLPRegressor(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, y)
    assert check_gradients(reg, X[:50], y[:50], max_params=40) < 1e-6
    # A broken gradient must be seen: compare against a loss that differs.
    from bpfast import _gradcheck

    original = Network.loss_gradient

    def skewed(self, *args, **kwargs):
        value = original(self, *args, **kwargs)
        return value * 1.01
    try:
        Network.loss_gradient = skewed
        assert _gradcheck.check_gradients(reg, X[:50], y[:50], max_params=40) > 1e-3
    finally:
        Network.loss_gradient = original


@pytest.mark.parametrize("activation,slope", [("leaky_relu", 0.01), ("leaky_relu", 0.3),
                                              ("elu", 1.0), ("elu", 0.5)])
@pytest.mark.parametrize("n_out", [3, 1])
def test_new_activations_against_finite_differences(activation, slope, n_out):
    """Also with one output unit, whose delta reaches the last hidden layer
    through an outer product with the derivative fused in (and whose 21-unit
    layer's weight gradient is a matrix-vector product in register blocks)."""
    from tests.test_gradients import full_loss, max_relative_error, numeric_gradient

    rng = np.random.RandomState(1)
    net = Network([4, 6, 21, n_out], activation, "softmax" if n_out > 1 else "logistic",
                  np.float64, slope=slope)
    net.params[:] = rng.uniform(-0.9, 0.9, net.n_params)
    X = rng.randn(11, 4)
    Y = (np.eye(3)[rng.randint(0, 3, 11)] if n_out > 1
         else (rng.rand(11, 1) > 0.5).astype(float))
    grads = np.empty(net.n_params)
    params = net.params.copy()
    full_loss(net, X, Y, None, 0.1, params, grads)
    assert max_relative_error(grads, numeric_gradient(net, X, Y, None, 0.1, params)) < 1e-6


# -- RMSProp ---------------------------------------------------------------------------
def test_rmsprop_learns_digits(digits):
    X_tr, X_te, y_tr, y_te = split_digits(digits, 0.75)
    clf = MLPClassifier((100,), solver="rmsprop", learning_rate_init=0.001, max_iter=60,
                        random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) >= 0.95
    assert clf.loss_curve_[-1] < 0.1 * clf.loss_curve_[0]


def test_rmsprop_momentum_and_partial_fit(digits):
    X, y = digits
    plain = MLPClassifier((30,), solver="rmsprop", max_iter=5, random_state=0).fit(X, y)
    heavy = MLPClassifier((30,), solver="rmsprop", rmsprop_momentum=0.5, max_iter=5,
                          random_state=0).fit(X, y)
    assert plain.loss_curve_ != heavy.loss_curve_
    inc = MLPClassifier((30,), solver="rmsprop", random_state=0)
    for _ in range(3):
        inc.partial_fit(X, y, classes=np.arange(10))
    assert len(inc.loss_curve_) == 3 and inc.loss_curve_[2] < inc.loss_curve_[0]


# -- L1 / elastic net ---------------------------------------------------------------------
def test_l1_drives_irrelevant_weights_to_zero():
    rng = np.random.RandomState(0)
    X = rng.randn(600, 20)
    y = (X[:, 0] - 2 * X[:, 1] + X[:, 2] * X[:, 3] > 0).astype(int)  # features 0-3 matter
    params = dict(hidden_layer_sizes=(16,), max_iter=300, random_state=0, alpha=1.0)
    l1 = MLPClassifier(l1_ratio=1.0, **params).fit(X, y)
    l2 = MLPClassifier(l1_ratio=0.0, **params).fit(X, y)
    noise_l1 = np.abs(l1.coefs_[0][4:])
    noise_l2 = np.abs(l2.coefs_[0][4:])
    assert np.mean(noise_l1 < 1e-2) > 0.8
    assert np.median(noise_l1) < 0.1 * np.median(noise_l2)
    assert np.abs(l1.coefs_[0][:2]).max() > 0.3  # the relevant ones survive
    assert l1.score(X, y) > 0.85


def test_l1_ratio_zero_is_exactly_sklearns_penalty(digits):
    X, y = digits
    a = MLPClassifier((10,), max_iter=5, random_state=0, alpha=0.01).fit(X, y)
    b = MLPClassifier((10,), max_iter=5, random_state=0, alpha=0.01, l1_ratio=0.0).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    for p, q in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(p, q)


def test_l1_with_lbfgs(regression):
    X, y = regression
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", alpha=5.0, l1_ratio=1.0,
                       max_iter=200, random_state=0).fit(X, y)
    assert np.isfinite(reg.loss_)
    assert np.mean(np.abs(reg.coefs_[0]) < 1e-3) > 0.2


# -- dropout ---------------------------------------------------------------------------------
def test_dropout_is_reproducible_and_only_in_training(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(32, 16), dropout=0.4, max_iter=4, random_state=3)
    a = MLPClassifier(**params).fit(X, y)
    b = MLPClassifier(**params).fit(X, y)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(a.predict_proba(X), a.predict_proba(X))
    c = MLPClassifier(**{**params, "random_state": 4}).fit(X, y)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    # prediction is the deterministic network: no mask, no scaling
    plain = MLPClassifier((32, 16), max_iter=1, random_state=3).fit(X, y)
    plain.coefs_, plain.intercepts_ = a.coefs_, a.intercepts_
    np.testing.assert_array_equal(plain.predict_proba(X), a.predict_proba(X))


def test_dropout_masks_do_not_depend_on_threads(digits):
    from threadpoolctl import threadpool_limits

    X, y = digits
    params = dict(hidden_layer_sizes=(64,), dropout=0.5, max_iter=3, random_state=0)
    with threadpool_limits(1):
        a = MLPClassifier(**params).fit(X, y)
    with threadpool_limits(1, user_api="blas"):  # kernels' OpenMP on, BLAS single
        b = MLPClassifier(**params).fit(X, y)
    for p, q in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(p, q)


def test_dropout_reduces_the_overfitting_gap(digits):
    X_tr, X_te, y_tr, y_te = split_digits(digits, 150)

    def gap(dropout, seed):
        clf = MLPClassifier((256,), dropout=dropout, alpha=0.0, max_iter=200, tol=0,
                            n_iter_no_change=10**6, random_state=seed).fit(X_tr, y_tr)
        return (log_loss(y_te, clf.predict_proba(X_te))
                - log_loss(y_tr, clf.predict_proba(X_tr)))

    without = np.mean([gap(0.0, s) for s in (0, 1)])
    with_dropout = np.mean([gap(0.5, s) for s in (0, 1)])
    assert with_dropout < without


def test_dropout_needs_a_stochastic_solver(digits):
    X, y = digits
    with pytest.raises(ValueError, match="dropout is only available"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    with pytest.raises(ValueError):
        MLPClassifier(dropout=1.0).fit(X, y)


def test_check_gradients_documented_example_runs():
    import doctest

    import bpfast._gradcheck

    result = doctest.testmod(bpfast._gradcheck)
    assert result.attempted >= 5 and result.failed == 0
