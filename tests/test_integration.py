"""bpfast inside scikit-learn's machinery: Pipeline, GridSearchCV (n_jobs=2,
worker processes), cross_val_score, clone, pandas input with feature names and
``set_output(transform="pandas")``.

Where scikit-learn's own MLPClassifier can stand in the same place, bpfast must
give the same answer (it follows scikit-learn's random draws and arithmetic).
"""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import bpfast

pd = pytest.importorskip("pandas")

PARAMS = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=60,
              random_state=0)


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5,
                               n_classes=3, random_state=0)
    X = X * np.array([1, 10, 100, 0.1, 1, 5, 50, 0.5]) + 3.0  # scaling matters
    return X, y


@pytest.fixture(scope="module")
def frame(data):
    X, y = data
    columns = [f"f{i}" for i in range(X.shape[1])]
    return pd.DataFrame(X, columns=columns), pd.Series(np.array(["a", "b", "c"])[y])


# -- Pipeline, search, cross-validation, clone ------------------------------------
def test_pipeline_with_scaler_matches_sklearn(data):
    X, y = data
    ours = make_pipeline(StandardScaler(), bpfast.MLPClassifier(**PARAMS)).fit(X, y)
    theirs = make_pipeline(StandardScaler(), SkMLPClassifier(**PARAMS)).fit(X, y)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X),
                               rtol=1e-6, atol=1e-9)
    assert ours.score(X, y) == theirs.score(X, y)
    assert ours.score(X, y) > 0.8
    assert isinstance(ours[-1], bpfast.MLPClassifier)
    np.testing.assert_array_equal(ours.classes_, np.unique(y))


def test_grid_search_two_worker_processes_matches_sklearn(data):
    X, y = data
    grid = {"mlpclassifier__alpha": [1e-4, 1.0],
            "mlpclassifier__hidden_layer_sizes": [(4,), (16,)]}
    cv = KFold(3, shuffle=True, random_state=0)

    def search(estimator, n_jobs):
        pipe = make_pipeline(StandardScaler(), estimator)
        return GridSearchCV(pipe, grid, cv=cv, n_jobs=n_jobs).fit(X, y)

    ours = search(bpfast.MLPClassifier(**PARAMS), n_jobs=2)
    theirs = search(SkMLPClassifier(**PARAMS), n_jobs=1)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"], atol=1e-12)
    assert ours.best_params_ == theirs.best_params_
    best = ours.best_estimator_[-1]
    assert isinstance(best, bpfast.MLPClassifier) and hasattr(best, "coefs_")
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_cross_val_score_matches_sklearn(data):
    X, y = data
    X = StandardScaler().fit_transform(X)
    ours = cross_val_score(bpfast.MLPClassifier(**PARAMS), X, y, cv=3)
    theirs = cross_val_score(SkMLPClassifier(**PARAMS), X, y, cv=3)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert ours.mean() > 0.7


def test_clone(data):
    X, y = data
    est = bpfast.MLPClassifier(hidden_layer_sizes=(5, 3), alpha=0.5, solver="sgd",
                               momentum=0.8, random_state=7)
    fresh = clone(est)
    assert fresh is not est and type(fresh) is bpfast.MLPClassifier
    assert fresh.get_params() == est.get_params()

    est.fit(X, y)
    fresh = clone(est)
    assert not hasattr(fresh, "coefs_") and not hasattr(fresh, "classes_")
    assert fresh.get_params() == est.get_params()
    # Same parameters and seed: the clone trains to the same network.
    fresh.fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, fresh.coefs_ + fresh.intercepts_):
        np.testing.assert_array_equal(a, b)

    reg = clone(bpfast.MLPRegressor(loss="poisson", hidden_layer_sizes=(3,)))
    assert reg.get_params()["loss"] == "poisson"


# -- pandas --------------------------------------------------------------------------
def _both(make, call):
    """Run ``call`` on a bpfast and a scikit-learn estimator; return what each
    raised / warned, for comparison."""
    outcomes = []
    for cls in (bpfast.MLPClassifier, SkMLPClassifier):
        est = make(cls)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                call(est)
                error = None
            except Exception as exc:  # noqa: BLE001 -- compared below
                error = (type(exc), str(exc))
        user = [(w.category, str(w.message)) for w in caught
                if not issubclass(w.category, ConvergenceWarning)]
        outcomes.append((error, user))
    return outcomes


def test_pandas_feature_names(frame):
    X, y = frame
    est = bpfast.MLPClassifier(**PARAMS).fit(X, y)
    np.testing.assert_array_equal(est.feature_names_in_, X.columns.to_numpy())
    assert est.feature_names_in_.dtype == object
    assert est.n_features_in_ == X.shape[1]
    assert set(est.classes_) == {"a", "b", "c"}
    # Same column names: no warning, and predictions equal the numpy fit's.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pred = est.predict(X)
    np.testing.assert_array_equal(
        pred, bpfast.MLPClassifier(**PARAMS).fit(X.to_numpy(), y.to_numpy()).predict(
            X.to_numpy()))

    # A numpy fit has no feature_names_in_.
    assert not hasattr(bpfast.MLPClassifier(**PARAMS).fit(X.to_numpy(), y),
                       "feature_names_in_")


@pytest.mark.parametrize("case", ["numpy-after-frame", "frame-after-numpy",
                                  "renamed", "reordered", "partial_fit-renamed"])
def test_feature_name_mismatch_behaves_like_sklearn(frame, case):
    X, y = frame
    Xn = X.to_numpy()
    renamed = X.rename(columns={"f0": "g0"})
    reordered = X[X.columns[::-1]]
    setups = {
        "numpy-after-frame": (X, Xn),
        "frame-after-numpy": (Xn, X),
        "renamed": (X, renamed),
        "reordered": (X, reordered),
        "partial_fit-renamed": (X, renamed),
    }
    X_fit, X_predict = setups[case]

    def make(cls):
        return cls(**PARAMS).fit(X_fit, y)

    if case.startswith("partial_fit"):
        def call(est):
            est.partial_fit(X_predict, y)
    else:
        def call(est):
            est.predict(X_predict)

    ours, theirs = _both(make, call)
    assert ours == theirs
    error, warned = ours
    if case in ("numpy-after-frame", "frame-after-numpy"):
        assert error is None and len(warned) == 1 and warned[0][0] is UserWarning
        assert "feature names" in warned[0][1]
    else:
        assert error is not None and error[0] is ValueError
        assert "feature names" in error[1]


def test_pipeline_set_output_pandas(frame):
    X, y = frame
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", bpfast.MLPClassifier(**PARAMS))])
    pipe.set_output(transform="pandas")
    pipe.fit(X, y)

    # The scaler now hands the MLP a DataFrame: the names travel through.
    Xt = pipe[:-1].transform(X)
    assert isinstance(Xt, pd.DataFrame)
    np.testing.assert_array_equal(pipe["mlp"].feature_names_in_, X.columns.to_numpy())
    np.testing.assert_array_equal(pipe.feature_names_in_, X.columns.to_numpy())

    pred = pipe.predict(X)
    proba = pipe.predict_proba(X)
    assert isinstance(pred, np.ndarray) and proba.shape == (len(X), 3)

    plain = Pipeline([("scale", StandardScaler()),
                      ("mlp", bpfast.MLPClassifier(**PARAMS))]).fit(X, y)
    np.testing.assert_array_equal(pred, plain.predict(X))
    np.testing.assert_allclose(proba, plain.predict_proba(X), rtol=1e-12, atol=1e-15)

    ref = Pipeline([("scale", StandardScaler()), ("mlp", SkMLPClassifier(**PARAMS))])
    ref.set_output(transform="pandas")
    np.testing.assert_array_equal(pred, ref.fit(X, y).predict(X))


def test_float32_frame_trains_in_float32(frame):
    X, y = frame
    est = bpfast.MLPClassifier(**PARAMS).fit(X.astype(np.float32), y)
    assert est.coefs_[0].dtype == np.float32
    assert est.predict_proba(X.astype(np.float32)).dtype == np.float32
