"""The public API's docstrings: their examples run, and they document every
parameter and fitted attribute.

The public objects are bpfast.__all__, bpfast.dask.__all__ and
bpfast.explain.__all__, and the
public methods bpfast defines on their classes (the methods inherited from
scikit-learn keep scikit-learn's docstrings). Each docstring's Examples
run as a doctest (one case a docstring); every parameter of each signature
appears in the docstring's Parameters section, and every fitted attribute
of a small fit in the class's Attributes section.
"""
import ast
import doctest
import inspect
import pydoc
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import bpfast
import bpfast.dask
import bpfast.explain

docscrape = pytest.importorskip("numpydoc.docscrape")

# The examples of the public docstrings, counted when this floor was set:
# 242 in 28 docstrings. A docstring lost (or its Examples) takes at least
# 4 examples with it, so the floor is the count less 3.
MIN_EXAMPLES = 239


def _public_objects():
    """[(qualified name, object)]: the public classes and functions, then the
    public methods bpfast defines on the classes, each function once (a
    method shared by several classes is listed under the first)."""
    objects, seen = [], set()
    for module in (bpfast, bpfast.dask, bpfast.explain):
        for name in module.__all__:
            if name.startswith("__"):
                continue
            obj = getattr(module, name)
            objects.append((f"{module.__name__}.{name}", obj))
            if not inspect.isclass(obj):
                continue
            for attr in sorted(dir(obj)):
                if attr.startswith("_"):
                    continue
                method = getattr(obj, attr)
                if not callable(method) or inspect.isclass(method):
                    continue
                if not (getattr(method, "__module__", None) or "").startswith("bpfast"):
                    continue   # scikit-learn's (get_params, score, set_*_request...)
                key = (method.__module__, method.__qualname__)
                if key in seen:
                    continue
                seen.add(key)
                objects.append((f"{module.__name__}.{name}.{attr}", method))
    return objects


PUBLIC = _public_objects()
FINDER = doctest.DocTestFinder(recurse=False)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _doctests(name, obj):
    return [test for test in FINDER.find(obj, name, globs={}) if test.examples]


def _current_dask_client():
    try:
        import distributed
        return distributed.get_client()
    except (ImportError, ValueError):
        return None


def _sections(obj):
    return docscrape.NumpyDocString(inspect.getdoc(obj) or "")


def _documented(entries):
    """The names of a Parameters / Attributes section ('a, b : float'
    documents a and b)."""
    return {part.strip() for entry in entries for part in entry.name.split(",")}


def test_public_api_is_listed():
    names = {name for name, _ in PUBLIC}
    assert {"bpfast.MLPClassifier", "bpfast.MLPRegressor", "bpfast.LossCurveDisplay",
            "bpfast.check_gradients", "bpfast.from_sklearn", "bpfast.ConversionWarning",
            "bpfast.patch_sklearn", "bpfast.unpatch_sklearn", "bpfast.show_config",
            "bpfast.dask.MLPClassifier", "bpfast.dask.MLPRegressor",
            "bpfast.MLPClassifier.fit", "bpfast.MLPClassifier.partial_fit",
            "bpfast.MLPClassifier.predict_proba", "bpfast.MLPClassifier.to_sklearn",
            "bpfast.dask.MLPClassifier.score", "bpfast.LossCurveDisplay.plot",
            "bpfast.LossCurveDisplay.from_estimator"} <= names


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_docstring_examples_run(name, obj):
    tests = _doctests(name, obj)
    assert tests, f"{name} has no Examples"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    client_before = _current_dask_client()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            for test in tests:
                runner.run(test, out=report.append)
    finally:
        # what a failing example left behind: its client, scikit-learn patched
        client = _current_dask_client()
        if client is not None and client is not client_before:
            client.close()
        if name.endswith("patch_sklearn"):
            bpfast.unpatch_sklearn()
    assert runner.failures == 0, "".join(report)


def test_doctest_count_is_above_the_floor():
    counts = {name: sum(len(t.examples) for t in _doctests(name, obj))
              for name, obj in PUBLIC}
    total = sum(counts.values())
    print(f"\n{total} doctest examples in {len(counts)} docstrings")
    assert all(counts.values()), [name for name, n in counts.items() if not n]
    assert total >= MIN_EXAMPLES, (total, counts)


def _signature_parameters(func):
    return [p.name for p in inspect.signature(func).parameters.values()
            if p.name not in ("self", "cls")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _own_init(cls):
    """cls.__init__ where bpfast defines it (not an exception's, say)."""
    init = cls.__init__
    return init if getattr(init, "__module__", "").startswith("bpfast") else None


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_every_parameter_is_documented(name, obj):
    func = _own_init(obj) if inspect.isclass(obj) else obj
    if func is None:
        return
    documented = _documented(_sections(obj)["Parameters"])
    missing = [p for p in _signature_parameters(func) if p not in documented]
    assert not missing, f"{name} does not document {missing}"
    extra = documented - set(_signature_parameters(func))
    assert not extra, f"{name} documents {extra}, not in its signature"
    for entry in _sections(obj)["Parameters"]:
        assert entry.type, f"{name}: {entry.name} has no type"
        assert entry.desc, f"{name}: {entry.name} has no description"


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_see_also_entries_resolve(name, obj):
    """Each See Also entry names an importable object: a full name
    (bpfast..., sklearn..., numpy...) or, in a method's docstring, a
    method of its class."""
    owner = pydoc.locate(name.rpartition(".")[0])
    entries = [entry for names, _ in _sections(obj)["See Also"] for entry, _ in names]
    assert entries, f"{name} has no See Also"
    for entry in entries:
        found = pydoc.locate(entry)
        if found is None and inspect.isclass(owner):
            found = getattr(owner, entry, None)
        assert found is not None, f"{name}: See Also {entry!r} does not resolve"


# -- fitted attributes --------------------------------------------------------------
def _fitted(est):
    return {a for a in vars(est) if a.endswith("_") and not a.startswith("_")}


def _classification():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    return X, (X[:, 0] > 0).astype(int)


def _memory_fits(cls):
    """The fitted attributes of the fits that set the most of them: a
    stochastic solver with a validation set and feature names, and lbfgs."""
    pd = pytest.importorskip("pandas")
    X, y = _classification()
    if not issubclass(cls, bpfast.MLPClassifier):
        y = X[:, 0] + X[:, 1]
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    attributes = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for params, fit_kw in [({"early_stopping": True}, {}),
                               ({}, {"eval_set": (frame, y)}),
                               ({"solver": "lbfgs"}, {})]:
            est = cls(hidden_layer_sizes=(4,), max_iter=5, random_state=0, **params)
            attributes |= _fitted(est.fit(frame, y, **fit_kw))
    return attributes


@pytest.mark.parametrize("cls", [bpfast.MLPClassifier, bpfast.MLPRegressor])
def test_every_fitted_attribute_is_documented(cls):
    attributes = _memory_fits(cls)
    assert {"validation_loss_curve_", "feature_names_in_", "loss_curve_"} <= attributes
    missing = attributes - _documented(_sections(cls)["Attributes"])
    assert not missing, f"{cls.__name__} does not document {sorted(missing)}"


@pytest.mark.parametrize("cls", [bpfast.dask.MLPClassifier, bpfast.dask.MLPRegressor])
def test_every_fitted_attribute_is_documented_dask(cls):
    import dask.array as da
    import distributed

    attributes = _memory_fits(cls)
    X, y = _classification()
    if not issubclass(cls, bpfast.MLPClassifier):
        y = X[:, 0] + X[:, 1]
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address=":0"):
        est = cls(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(da.from_array(X, chunks=30), da.from_array(y, chunks=30))
    attributes |= _fitted(est)
    assert "n_restarts_" in attributes
    missing = attributes - _documented(_sections(cls)["Attributes"])
    assert not missing, f"{cls.__name__} does not document {sorted(missing)}"


def test_every_display_attribute_is_documented():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    disp = bpfast.LossCurveDisplay([1.0, 0.5], validation_loss_curve=[0.9, 0.6],
                                   validation_scores=[0.5, 0.7]).plot()
    try:
        missing = _fitted(disp) - _documented(_sections(bpfast.LossCurveDisplay)
                                              ["Attributes"])
    finally:
        plt.close(disp.figure_)
    assert not missing, f"LossCurveDisplay does not document {sorted(missing)}"


@pytest.mark.parametrize("cls", [bpfast.MLPClassifier, bpfast.MLPRegressor,
                                 bpfast.dask.MLPClassifier, bpfast.dask.MLPRegressor])
def test_defaults_in_the_docstring_are_the_signatures(cls):
    """'name : type, default=value' states the signature's default."""
    defaults = {p.name: p.default for p in inspect.signature(cls).parameters.values()}
    for entry in _sections(cls)["Parameters"]:
        assert "default=" in entry.type, entry.name
        stated = ast.literal_eval(entry.type.rpartition("default=")[2])
        assert stated == defaults[entry.name], (entry.name, stated)
