"""The warnings scikit-learn's MLPs also emit are filtered as scikit-learn's.

bpfast attributes each of them to scikit-learn's MLP module
(bpfast/_warnings.py): same category, same text, and a filter on
``module="sklearn"`` (scikit-learn's gallery silences MLP warnings with
one) treats them as it treats scikit-learn's. A filter on
``module="bpfast"`` does not match them. Each case is compared with a fit of
the installed scikit-learn.
"""
import os
import warnings

import numpy as np
import pytest
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

import bpfast
from bpfast import _solvers, _warnings

SK_MODULE = "sklearn.neural_network._multilayer_perceptron"


@pytest.fixture(scope="module")
def small(digits):
    X, y = digits
    return X[:300], y[:300]


def _targets(kind, y):
    return y if kind == "classifier" else y / 9.0


# Each case: (estimator kind, parameters, how y is shaped), all of them fits
# that make scikit-learn's MLP warn.
CASES = {
    "adam-max_iter": ("classifier", dict(max_iter=3), "1d"),
    "sgd-max_iter": ("regressor", dict(solver="sgd", max_iter=2), "1d"),
    "lbfgs-max_iter": ("classifier", dict(solver="lbfgs", max_iter=3), "1d"),
    "lbfgs-max_fun": ("regressor", dict(solver="lbfgs", max_fun=5), "1d"),
    "batch_size-clipped": ("classifier", dict(batch_size=1000, max_iter=2), "1d"),
    "column-y-classifier": ("classifier", dict(max_iter=2), "column"),
    "column-y-regressor": ("regressor", dict(max_iter=2), "column"),
}


def _fit(library, case, X, y):
    kind, params, y_shape = CASES[case]
    cls = {("sklearn", "classifier"): SkClassifier, ("sklearn", "regressor"): SkRegressor,
           ("bpfast", "classifier"): bpfast.MLPClassifier,
           ("bpfast", "regressor"): bpfast.MLPRegressor}[library, kind]
    y = _targets(kind, y)
    if y_shape == "column":
        y = y.reshape(-1, 1)
    return cls(hidden_layer_sizes=(10,), random_state=0, **params).fit(X, y)


def _recorded(library, case, X, y, *filters):
    """(category, text) of the user-facing warnings (UserWarning and its
    subclasses: not the deprecation notices a dependency may add) of one
    fit, under "always" plus the given filterwarnings(...) arguments."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for kwargs in filters:
            warnings.filterwarnings(**kwargs)
        _fit(library, case, X, y)
    return [(w.category, str(w.message)) for w in caught
            if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("case", list(CASES))
def test_same_warnings_as_sklearn(small, case):
    X, y = small
    ours = _recorded("bpfast", case, X, y)
    theirs = _recorded("sklearn", case, X, y)
    assert theirs, "the case should make scikit-learn warn"
    assert ours == theirs


@pytest.mark.parametrize("case", list(CASES))
def test_filters_see_sklearns_module(small, case):
    """A filter on scikit-learn's MLP module (and on the package) silences
    bpfast's warnings exactly as it silences scikit-learn's."""
    X, y = small
    for module in (SK_MODULE.replace(".", r"\.") + "$", "sklearn"):
        flt = dict(action="ignore", module=module)
        assert _recorded("sklearn", case, X, y, flt) == []
        assert _recorded("bpfast", case, X, y, flt) == []


@pytest.mark.parametrize("case", ["adam-max_iter", "sgd-max_iter", "lbfgs-max_iter",
                                  "lbfgs-max_fun", "batch_size-clipped"])
def test_gallery_filter_silences_the_convergence_warning(small, case):
    """scikit-learn's gallery: filterwarnings("ignore",
    category=ConvergenceWarning, module="sklearn") leaves no
    ConvergenceWarning from a fit that hits max_iter / max_fun, and lets the
    other warnings (batch_size clipped) through, as for scikit-learn."""
    X, y = small
    gallery = dict(action="ignore", category=ConvergenceWarning, module="sklearn")
    for library in ("bpfast", "sklearn"):
        unfiltered = _recorded(library, case, X, y)
        filtered = _recorded(library, case, X, y, gallery)
        assert any(c is ConvergenceWarning for c, _ in unfiltered)
        assert filtered == [(c, m) for c, m in unfiltered if c is not ConvergenceWarning]


def test_pytest_warns_and_record_see_it(small):
    X, y = small
    with pytest.warns(ConvergenceWarning,
                      match=r"^Stochastic Optimizer: Maximum iterations \(3\) reached"):
        bpfast.MLPClassifier((10,), max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="^lbfgs failed to converge after 3 "):
        bpfast.MLPClassifier((10,), solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        bpfast.MLPRegressor(hidden_layer_sizes=(10,), max_iter=2, random_state=0).fit(X, y.reshape(-1, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bpfast.MLPClassifier((10,), max_iter=3, random_state=0).fit(X, y)
    caught = [w for w in caught if issubclass(w.category, UserWarning)]
    assert [w.category for w in caught] == [ConvergenceWarning]
    # shown at bpfast's own line, which raised it
    assert os.path.dirname(caught[0].filename) == os.path.dirname(bpfast.__file__)
    assert caught[0].filename.endswith("_mlp.py") and caught[0].lineno > 0


def test_a_bpfast_module_filter_does_not_match(small):
    """One warning has one module, and these carry scikit-learn's: a filter
    on module="bpfast" neither silences them nor turns them into errors."""
    X, y = small
    for action in ("ignore", "error"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings(action, module="bpfast")
            bpfast.MLPClassifier((10,), max_iter=3, random_state=0).fit(X, y)
            bpfast.MLPClassifier((10,), solver="lbfgs", max_iter=3,
                                 random_state=0).fit(X, y)
        assert [w.category for w in caught
                if issubclass(w.category, UserWarning)] == [ConvergenceWarning] * 2


@pytest.mark.parametrize("action", ["default", "module", "once"])
def test_registry_actions_as_for_sklearn(small, action):
    """"default", "module" and "once" show a warning once per registry (the
    raising module's) until the filters change; a fit changes them itself
    (scikit-learn's input checks use catch_warnings), so repeated fits warn
    again. Both libraries alike."""
    X, y = small
    shown = {}
    for library, cls in (("bpfast", bpfast.MLPClassifier), ("sklearn", SkClassifier)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter(action)
            for max_iter in (3, 3, 4):
                cls((10,), max_iter=max_iter, random_state=0).fit(X, y)
        shown[library] = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert shown["bpfast"] == shown["sklearn"]
    assert len(shown["bpfast"]) >= 2


def test_registry_of_the_raising_module_is_used():
    """Under "default" a warning raised twice from one line shows once, and
    under "always" twice: the registry handed to warn_explicit works."""
    for action, expected in (("default", 1), ("once", 1), ("always", 2)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter(action)
            for _ in range(2):
                _warnings.max_iter_reached(11)
        assert [w.category for w in caught] == [ConvergenceWarning] * expected, action
        assert caught[0].filename == __file__


def test_interrupt_warning_is_sklearns(small, monkeypatch):
    X, y = small
    original = _solvers.StochasticOptimizer.run_epoch
    calls = {"n": 0}

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_solvers.StochasticOptimizer, "run_epoch", interrupted)
    with pytest.warns(UserWarning, match="^Training interrupted by user.$"):
        bpfast.MLPClassifier((10,), max_iter=50, random_state=0).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", module="sklearn")
        m = bpfast.MLPClassifier((10,), max_iter=50, random_state=0).fit(X, y)
    assert [w for w in caught if issubclass(w.category, UserWarning)] == []
    assert m.n_iter_ == 2


def test_bpfast_own_warnings_keep_their_attribution(small):
    """A warning scikit-learn's MLP does not emit (non-finite outputs) is
    attributed as warnings.warn attributes it: not to scikit-learn."""
    X, y = small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = bpfast.MLPRegressor(hidden_layer_sizes=(10,), activation="tanh", max_iter=2,
                                random_state=0).fit(X, y / 9.0)
    X_nan = np.full((2, X.shape[1]), np.nan)
    with warnings.catch_warnings(record=True) as caught, config_context(assume_finite=True):
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", module="sklearn")
        m.predict(X_nan)
    assert [w.category for w in caught] == [RuntimeWarning]
    assert "not finite" in str(caught[0].message)
