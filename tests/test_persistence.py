"""Persistence: pickle, joblib and skops.io round trips.

A loaded model predicts exactly what the saved one predicts, keeps its dtype,
and keeps training (partial_fit / warm_start) exactly as the original does --
the flat parameter vector behind ``coefs_`` / ``intercepts_`` is not saved but
rebuilt from them on load.
"""
import pickle
import warnings

import numpy as np
import pytest

import bpfast

joblib = pytest.importorskip("joblib")
sio = pytest.importorskip("skops.io")


def _pickle(est, tmp_path):
    return pickle.loads(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))


def _joblib(est, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    return joblib.load(path)


def _skops(est, tmp_path):
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


ROUND_TRIPS = {"pickle": _pickle, "joblib": _joblib, "skops": _skops}

MODELS = {
    "clf-adam": lambda: bpfast.MLPClassifier(hidden_layer_sizes=(24, 12), max_iter=5,
                                             random_state=0),
    "clf-sgd": lambda: bpfast.MLPClassifier(hidden_layer_sizes=(16,), solver="sgd",
                                            max_iter=5, random_state=1),
    "clf-lbfgs": lambda: bpfast.MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs",
                                              max_iter=10, random_state=2),
    "reg-adam": lambda: bpfast.MLPRegressor(hidden_layer_sizes=(16,), max_iter=5,
                                            random_state=3),
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((240, 10))
    y_cls = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    y_reg = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.standard_normal(240)
    return X, y_cls, y_reg


def _fit(name, X, y_cls, y_reg):
    est = MODELS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: few epochs on purpose
        est.fit(X, y_reg if name.startswith("reg") else y_cls)
    return est


def _outputs(est, X):
    out = [est.predict(X)]
    if hasattr(est, "predict_proba"):
        out.append(est.predict_proba(X))
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_round_trip_predicts_identically(how, model, dtype, data, tmp_path):
    X, y_cls, y_reg = data
    X = X.astype(dtype)
    est = _fit(model, X, y_cls, y_reg)
    loaded = ROUND_TRIPS[how](est, tmp_path)

    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    for a, b in zip(_outputs(est, X), _outputs(loaded, X)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    for a, b in zip(est.coefs_ + est.intercepts_, loaded.coefs_ + loaded.intercepts_):
        assert b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    if model.startswith("clf"):
        np.testing.assert_array_equal(est.classes_, loaded.classes_)


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loaded_model_keeps_training_identically(how, dtype, data, tmp_path):
    """partial_fit and a warm-started fit continue from the loaded optimizer
    state exactly as they do on the original."""
    X, y_cls, _ = data
    X = X.astype(dtype)
    est = _fit("clf-adam", X, y_cls, None)
    loaded = ROUND_TRIPS[how](est, tmp_path)
    for m in (est, loaded):
        m.partial_fit(X, y_cls)
    np.testing.assert_array_equal(est.predict_proba(X), loaded.predict_proba(X))
    for m in (est, loaded):
        m.set_params(warm_start=True, max_iter=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, y_cls)
    np.testing.assert_array_equal(est.predict_proba(X), loaded.predict_proba(X))
    assert est.loss_curve_ == loaded.loss_curve_


def test_unfitted_round_trip(tmp_path):
    est = bpfast.MLPClassifier(hidden_layer_sizes=(7,), alpha=0.01)
    for how in ROUND_TRIPS.values():
        loaded = how(est, tmp_path)
        assert loaded.get_params() == est.get_params()


@pytest.mark.parametrize("model", list(MODELS))
def test_skops_needs_only_bpfast_types_trusted(model, data, tmp_path):
    """skops refuses the file until the user trusts bpfast's own classes; it
    needs nothing else beyond skops' defaults (numpy, scipy, sklearn)."""
    X, y_cls, y_reg = data
    est = _fit(model, X, y_cls, y_reg)
    path = tmp_path / "model.skops"
    sio.dump(est, path)

    untrusted = sio.get_untrusted_types(file=path)
    assert f"bpfast._mlp.{type(est).__name__}" in untrusted
    assert all(t.startswith("bpfast.") for t in untrusted), untrusted

    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path)
    loaded = sio.load(path, trusted=untrusted)
    np.testing.assert_array_equal(est.predict(X), loaded.predict(X))
