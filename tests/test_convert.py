"""estimator.to_sklearn() and bpfast.from_sklearn(model): the converted model
predicts the same, carries the fitted attributes, and continues training
(warm_start, partial_fit) as the original would have; settings scikit-learn
lacks raise (leaky_relu, elu) or are dropped with a ConversionWarning."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import bpfast
from bpfast import ConversionWarning, MLPClassifier, MLPRegressor, from_sklearn
from bpfast._patch import sklearn_classes

SkClassifier, SkRegressor = sklearn_classes()

FITTED = ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_", "loss_",
          "best_loss_", "loss_curve_", "validation_scores_", "best_validation_score_",
          "n_iter_", "t_")


@pytest.fixture(autouse=True)
def no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def small_digits(digits):
    X, y = digits
    return X[:400], y[:400]


def assert_same_fit(a, b, rtol=0.0):
    """Same fitted attributes and weights (exactly, or to rtol)."""
    for name in FITTED:
        assert hasattr(a, name) == hasattr(b, name), name
        if hasattr(a, name):
            va, vb = getattr(a, name), getattr(b, name)
            if isinstance(va, (list, float, np.floating)) and rtol:
                np.testing.assert_allclose(va, vb, rtol=rtol, err_msg=name)
            else:
                assert va == vb or (va is None and vb is None), name
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert ca.dtype == cb.dtype
        np.testing.assert_allclose(ca, cb, rtol=rtol, atol=rtol * np.abs(ca).max())


def assert_same_predictions(a, b, X, rtol=1e-12):
    if hasattr(a, "predict_proba"):
        pa, pb = a.predict_proba(X), b.predict_proba(X)
        assert pa.dtype == pb.dtype
        np.testing.assert_allclose(pa, pb, rtol=rtol, atol=1e-300)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


# -- bpfast -> scikit-learn ------------------------------------------------------------
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_to_sklearn_classifier_predicts_the_same(small_digits, solver, activation):
    X, y = small_digits
    bp = MLPClassifier((12, 7), activation=activation, solver=solver, max_iter=8,
                       random_state=0).fit(X, y)
    sk = bp.to_sklearn()
    assert type(sk) is SkClassifier
    assert sk.get_params() == {k: v for k, v in bp.get_params().items()
                               if k in sk.get_params()}
    assert_same_fit(bp, sk)
    np.testing.assert_array_equal(sk.classes_, bp.classes_)
    assert sk._label_binarizer.y_type_ == "multiclass"
    assert_same_predictions(bp, sk, X)
    assert sk.score(X, y) == bp.score(X, y)
    # the converted weights are the model's own, not views into bpfast's vector
    bp.coefs_[0][0, 0] += 1.0
    assert sk.coefs_[0][0, 0] != bp.coefs_[0][0, 0]


@pytest.mark.parametrize("kind", ["binary", "multilabel", "strings"])
def test_to_sklearn_classifier_label_kinds(small_digits, kind):
    X, y = small_digits
    if kind == "binary":
        y = y % 2
    elif kind == "multilabel":
        y = np.column_stack([y % 2, y % 3 == 0, y > 5]).astype(int)
    else:
        y = np.array(["zero", "one", "two"])[y % 3]
    bp = MLPClassifier((10,), max_iter=10, random_state=0).fit(X, y)
    sk = bp.to_sklearn()
    assert sk.out_activation_ == bp.out_activation_
    assert_same_predictions(bp, sk, X)
    assert from_sklearn(sk).predict(X).tolist() == bp.predict(X).tolist()


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("outputs", [1, 2])
def test_to_sklearn_regressor_predicts_the_same(regression, loss, outputs):
    X, y = regression
    if outputs == 2:
        y = np.column_stack([y, -y])
    if loss == "poisson":
        y = np.exp(y / 2)
    bp = MLPRegressor(loss=loss, hidden_layer_sizes=(9,), max_iter=10,
                      random_state=0).fit(X, y)
    sk = bp.to_sklearn()
    assert type(sk) is SkRegressor and sk.loss == loss
    assert_same_fit(bp, sk)
    np.testing.assert_allclose(sk.predict(X), bp.predict(X), rtol=1e-12, atol=1e-14)


def test_to_sklearn_float32(small_digits, regression):
    X, y = small_digits
    X32 = X.astype(np.float32)
    bp = MLPClassifier((16,), max_iter=5, random_state=0).fit(X32, y)
    sk = bp.to_sklearn()
    assert all(c.dtype == np.float32 for c in sk.coefs_ + sk.intercepts_)
    proba = sk.predict_proba(X32)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, bp.predict_proba(X32), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(sk.predict(X32), bp.predict(X32))
    # float64 input to the float32 model: both compute in float64
    np.testing.assert_allclose(sk.predict_proba(X), bp.predict_proba(X), rtol=1e-12)

    Xr, yr = regression
    bp = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    bp.fit(Xr.astype(np.float32), yr)
    back = from_sklearn(bp.to_sklearn())
    assert back._get_network().dtype == np.float32
    np.testing.assert_array_equal(back.predict(Xr.astype(np.float32)),
                                  bp.predict(Xr.astype(np.float32)))


def test_to_sklearn_early_stopping_and_feature_names(small_digits):
    pd = pytest.importorskip("pandas")
    X, y = small_digits
    frame = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    bp = MLPClassifier((10,), early_stopping=True, max_iter=15, random_state=0,
                       n_iter_no_change=3).fit(frame, y)
    sk = bp.to_sklearn()
    np.testing.assert_array_equal(sk.feature_names_in_, bp.feature_names_in_)
    assert sk.validation_scores_ == bp.validation_scores_
    assert sk.best_validation_score_ == bp.best_validation_score_
    assert sk.best_loss_ is None
    assert_same_predictions(bp, sk, frame)
    with pytest.warns(UserWarning, match="feature names"):
        sk.predict(X)   # scikit-learn's own check of the names
    assert not hasattr(sk, "validation_loss_curve_")


def test_unfitted_estimators_convert_their_parameters():
    sk = MLPClassifier((5, 3), solver="sgd", momentum=0.5, random_state=3).to_sklearn()
    assert type(sk) is SkClassifier and not hasattr(sk, "coefs_")
    assert sk.hidden_layer_sizes == (5, 3) and sk.momentum == 0.5 and sk.random_state == 3
    bp = from_sklearn(SkRegressor(loss="poisson", alpha=0.5))
    assert type(bp) is MLPRegressor and bp.loss == "poisson" and bp.alpha == 0.5
    assert not hasattr(bp, "coefs_")


# -- scikit-learn -> bpfast ------------------------------------------------------------
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_from_sklearn_predicts_the_same(small_digits, regression, solver):
    X, y = small_digits
    sk = SkClassifier((12,), solver=solver, max_iter=8, random_state=0).fit(X, y)
    bp = from_sklearn(sk)
    assert type(bp) is MLPClassifier
    assert_same_fit(sk, bp)
    assert_same_predictions(sk, bp, X)
    # coefs_ and intercepts_ are views of bpfast's flat parameter vector
    assert bp._get_network().is_view(bp.coefs_, bp.intercepts_)
    # and round trip: bitwise the same model again
    again = bp.to_sklearn()
    assert_same_fit(sk, again)
    np.testing.assert_array_equal(again.predict_proba(X), sk.predict_proba(X))

    Xr, yr = regression
    sk = SkRegressor(hidden_layer_sizes=(7, 5), solver=solver, max_iter=8, random_state=0)
    sk.fit(Xr, yr)
    bp = from_sklearn(sk)
    assert_same_fit(sk, bp)
    np.testing.assert_allclose(bp.predict(Xr), sk.predict(Xr), rtol=1e-12, atol=1e-14)


def test_from_sklearn_float32(small_digits):
    X, y = small_digits
    X32 = X.astype(np.float32)
    sk = SkClassifier((16,), max_iter=5, random_state=0).fit(X32, y)
    bp = from_sklearn(sk)
    assert bp._get_network().dtype == np.float32
    proba = bp.predict_proba(X32)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, sk.predict_proba(X32), rtol=1e-5, atol=1e-7)


def test_from_sklearn_survives_pickle(small_digits):
    X, y = small_digits
    sk = SkClassifier((8,), max_iter=4, random_state=0).fit(X, y)
    bp = pickle.loads(pickle.dumps(from_sklearn(sk)))
    assert_same_predictions(sk, bp, X)


# -- continuing training ---------------------------------------------------------------
def continue_both(a, b, X, y, how):
    if how == "warm_start":
        a.set_params(warm_start=True, max_iter=4).fit(X, y)
        b.set_params(warm_start=True, max_iter=4).fit(X, y)
    else:
        for _ in range(3):
            a.partial_fit(X, y)
            b.partial_fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_bpfast_model_continues_in_sklearn_as_in_bpfast(small_digits, solver, how):
    """Continuing the converted model in scikit-learn gives bpfast's own
    continuation (same draws; the optimizer state carried over: adam's
    moments and step, sgd's velocities and step size)."""
    X, y = small_digits
    params = dict(hidden_layer_sizes=(12,), solver=solver, random_state=0,
                  learning_rate="invscaling" if solver == "sgd" else "constant",
                  learning_rate_init=0.05 if solver == "sgd" else 0.001)
    if how == "warm_start":
        bp = MLPClassifier(max_iter=4, **params).fit(X, y)
    else:
        bp = MLPClassifier(**params)
        bp.partial_fit(X, y, classes=np.unique(y))
        bp.partial_fit(X, y)
    sk = bp.to_sklearn()
    if how == "partial_fit":
        assert type(sk._optimizer).__name__ == ("AdamOptimizer" if solver == "adam"
                                                else "SGDOptimizer")
    continue_both(bp, sk, X, y, how)
    assert_same_fit(bp, sk, rtol=1e-9)
    np.testing.assert_allclose(sk.predict_proba(X), bp.predict_proba(X), rtol=1e-9)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_sklearn_model_continues_in_bpfast_as_in_sklearn(regression, solver, how):
    X, y = regression
    params = dict(hidden_layer_sizes=(10,), solver=solver, random_state=0,
                  learning_rate_init=0.01)
    if how == "warm_start":
        sk = SkRegressor(max_iter=4, **params).fit(X, y)
    else:
        sk = SkRegressor(**params)
        for _ in range(2):
            sk.partial_fit(X, y)
    bp = from_sklearn(sk)
    continue_both(sk, bp, X, y, how)
    assert_same_fit(sk, bp, rtol=1e-9)
    np.testing.assert_allclose(bp.predict(X), sk.predict(X), rtol=1e-9, atol=1e-12)


def test_optimizer_state_matters_for_the_continuation(small_digits):
    """Without adam's moments carried over the continuation would differ: the
    comparison above is not vacuous."""
    X, y = small_digits
    bp = MLPClassifier((12,), random_state=0)
    bp.partial_fit(X, y, classes=np.unique(y))
    sk = bp.to_sklearn()
    del sk._optimizer
    bp.partial_fit(X, y)
    sk.partial_fit(X, y)
    assert not np.allclose(sk.coefs_[0], bp.coefs_[0], rtol=1e-6)


def test_early_stopping_continuation_keeps_the_best_weights(small_digits):
    """warm_start with early stopping ends on the best weights seen, the ones
    from before the conversion included. (scikit-learn 1.9 itself does not:
    its fit leaves coefs_ and the saved best weights the same arrays, which
    the next fit then trains. The comparison is therefore with bpfast's own
    continuation, which both conversions reproduce.)"""
    X, y = small_digits
    params = dict(hidden_layer_sizes=(10,), early_stopping=True, random_state=0,
                  n_iter_no_change=2, max_iter=6, warm_start=True)
    sk = SkClassifier(**params).fit(X, y)
    bp = MLPClassifier(**params).fit(X, y)
    assert_same_fit(sk, bp, rtol=1e-12)
    from_sk = from_sklearn(sk)
    to_sk = bp.to_sklearn()
    np.testing.assert_array_equal(from_sk._best_params[:sk._best_coefs[0].size],
                                  sk._best_coefs[0].ravel())
    for model in (bp, from_sk, to_sk):
        model.fit(X, y)
    assert bp.validation_scores_[-1] < bp.best_validation_score_   # no new best
    assert_same_fit(bp, from_sk, rtol=1e-12)
    assert_same_fit(bp, to_sk, rtol=1e-12)
    assert_same_predictions(bp, to_sk, X, rtol=1e-9)


def test_lbfgs_continuation(regression):
    X, y = regression
    sk = SkRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5, random_state=0)
    sk.fit(X, y)
    bp = from_sklearn(sk)
    sk.set_params(warm_start=True).fit(X, y)
    bp.set_params(warm_start=True).fit(X, y)
    assert bp.loss_ == pytest.approx(sk.loss_, rel=1e-7)
    np.testing.assert_allclose(bp.predict(X), sk.predict(X), rtol=1e-6, atol=1e-9)


# -- what scikit-learn lacks -----------------------------------------------------------
@pytest.mark.parametrize("activation", ["leaky_relu", "elu"])
def test_activations_sklearn_lacks_raise(small_digits, activation):
    X, y = small_digits
    bp = MLPClassifier((6,), activation=activation, max_iter=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=f"activation='{activation}' has no scikit-learn"):
        bp.to_sklearn()
    with pytest.raises(ValueError, match="no scikit-learn counterpart"):
        MLPRegressor(activation=activation).to_sklearn()


@pytest.mark.parametrize("setting, match", [
    (dict(dropout=0.3), "dropout=0.3"),
    (dict(l1_ratio=0.5, alpha=0.01), "l1_ratio=0.5"),
    (dict(class_weight="balanced"), "class_weight='balanced'"),
    (dict(solver="rmsprop"), "solver='rmsprop' \\(now 'adam', its optimizer state"),
])
def test_training_only_settings_are_dropped_with_a_warning(small_digits, setting, match):
    X, y = small_digits
    bp = MLPClassifier((10,), max_iter=5, random_state=0, **setting).fit(X, y)
    with pytest.warns(ConversionWarning, match=match):
        sk = bp.to_sklearn()
    assert_same_predictions(bp, sk, X)
    if setting.get("solver") == "rmsprop":
        assert sk.solver == "adam" and not hasattr(sk, "_optimizer")
        sk.partial_fit(X, y)   # continues, as adam
        assert sk.n_iter_ == 1


def test_defaults_convert_without_warnings(small_digits):
    X, y = small_digits
    bp = MLPClassifier((6,), max_iter=3, random_state=0, rho=0.5,
                       negative_slope=0.2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConversionWarning)
        bp.to_sklearn()


def test_wrong_types_raise(small_digits):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="from_sklearn converts"):
        from_sklearn(LogisticRegression())
    with pytest.raises(TypeError, match="to_sklearn converts"):
        bpfast._convert.to_sklearn(SkClassifier())
    bp = MLPClassifier((4,), max_iter=2, random_state=0).fit(*small_digits)
    copied = from_sklearn(bp)
    assert copied is not bp
    np.testing.assert_array_equal(copied.predict_proba(small_digits[0]),
                                  bp.predict_proba(small_digits[0]))


def test_conversion_sees_through_the_patch(small_digits):
    """While scikit-learn's names are bpfast's (bpfast.patch_sklearn), the
    conversions still go to and from scikit-learn's own classes."""
    X, y = small_digits
    sk = SkClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    bpfast.patch_sklearn()
    try:
        import sklearn.neural_network
        assert sklearn.neural_network.MLPClassifier is MLPClassifier
        bp = from_sklearn(sk)
        assert type(bp) is MLPClassifier
        back = bp.to_sklearn()
        assert type(back) is SkClassifier
        np.testing.assert_array_equal(back.predict_proba(X), sk.predict_proba(X))
    finally:
        bpfast.unpatch_sklearn()
