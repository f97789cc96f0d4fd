"""ONNX export through skl2onnx (bpfast/_onnx.py): onnxruntime's outputs
against bpfast's own predictions, for every activation, output kind and
float type; registration without any call from the user."""
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpfast import MLPClassifier, MLPRegressor

ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu"]
DTYPES = [np.float32, np.float64]
# onnxruntime against bpfast: float32 graphs to 1e-5, float64 ones to 1e-12
ATOL = {np.float32: 1e-5, np.float64: 1e-12}


# non-default slopes, so that a converter ignoring them would fail
EXTRAS = dict(negative_slope=0.2, elu_alpha=0.7)


@pytest.fixture(scope="module")
def ort():
    pytest.importorskip("skl2onnx")
    return pytest.importorskip("onnxruntime")


def to_onnx(model, X, **kw):
    from skl2onnx import to_onnx as convert
    return convert(model, X[:1], **kw)


def run(ort, onx, X):
    """onnxruntime's outputs for X, on one thread (the tests share the CPUs)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onx.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def data(kind, dtype, seed=0):
    """(X_train, y_train, X_test) for the kind of target; X_test reaches
    beyond the training range, so every activation sees both signs."""
    if kind == "multilabel":
        X, y = make_multilabel_classification(n_samples=240, n_features=6, n_classes=4,
                                              random_state=seed)
    elif kind in ("binary", "multiclass"):
        X, y = make_classification(n_samples=240, n_features=6, n_informative=4,
                                   n_classes=2 if kind == "binary" else 3,
                                   random_state=seed)
    else:
        rng = np.random.RandomState(seed)
        X = rng.normal(size=(240, 6))
        y = X @ rng.normal(size=(6, 3)) + 0.3 * np.sin(3 * X[:, :3])
        y = y[:, 0] if kind == "single" else y
    X = (X - X.mean(0)) / X.std(0)
    X_test = np.random.RandomState(seed + 1).normal(scale=2.0, size=(500, 6))
    return X.astype(dtype), y, X_test.astype(dtype)


def assert_labels_agree(onnx_labels, bp_labels, proba, atol):
    """Labels equal, except on rows where bpfast's probabilities are within
    atol of a tie (there the two roundings may decide differently)."""
    onnx_labels, bp_labels = np.asarray(onnx_labels), np.asarray(bp_labels)
    assert onnx_labels.shape == bp_labels.shape
    differ = onnx_labels != bp_labels
    if bp_labels.ndim == 2:     # multilabel: per output, a tie is p = 0.5
        assert (np.abs(proba[differ] - 0.5) < atol).all()
    elif differ.any():
        top = np.sort(proba[differ], axis=1)[:, -2:]
        assert (top[:, 1] - top[:, 0] < 2 * atol).all()
    assert differ.mean() < 0.01


CLASSIFIER_CASES = [(a, k, d) for a in ACTIVATIONS for k in ("binary", "multiclass",
                                                           "multilabel") for d in DTYPES]


@pytest.mark.parametrize("activation,kind,dtype", CLASSIFIER_CASES,
                         ids=[f"{a}-{k}-{d.__name__}" for a, k, d in CLASSIFIER_CASES])
def test_classifier_matches_bpfast(ort, activation, kind, dtype):
    X, y, X_test = data(kind, dtype)
    model = fit(MLPClassifier((12, 7), activation=activation, max_iter=30,
                              learning_rate_init=0.01, random_state=0, **EXTRAS), X, y)
    assert model.coefs_[0].dtype == dtype
    labels, proba = run(ort, to_onnx(model, X, options={"zipmap": False}), X_test)
    expected = model.predict_proba(X_test)
    assert proba.dtype == dtype and proba.shape == expected.shape
    tol = ATOL[dtype]
    np.testing.assert_allclose(proba, expected, rtol=0, atol=tol)
    assert labels.dtype == np.int64
    assert_labels_agree(labels, model.predict(X_test), expected, tol)
    # the outputs vary: a constant network would agree trivially
    assert np.ptp(expected, axis=0).max() > 0.1


REGRESSOR_CASES = [(a, k, d) for a in ACTIVATIONS for k in ("single", "multi")
                   for d in DTYPES]


@pytest.mark.parametrize("activation,kind,dtype", REGRESSOR_CASES,
                         ids=[f"{a}-{k}-{d.__name__}" for a, k, d in REGRESSOR_CASES])
def test_regressor_matches_bpfast(ort, activation, kind, dtype):
    X, y, X_test = data(kind, dtype)
    model = fit(MLPRegressor(hidden_layer_sizes=(12, 7), activation=activation,
                             max_iter=30, learning_rate_init=0.01, random_state=0,
                             **EXTRAS), X, y)
    (pred,) = run(ort, to_onnx(model, X), X_test)
    expected = model.predict(X_test).reshape(len(X_test), -1)
    assert pred.dtype == dtype and pred.shape == expected.shape
    assert pred.shape[1] == (1 if kind == "single" else 3)
    tol = ATOL[dtype]
    np.testing.assert_allclose(pred, expected, rtol=tol, atol=tol)
    assert np.ptp(expected, axis=0).min() > 0.1


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_regressor_exp_output(ort, dtype):
    X, y, X_test = data("multi", dtype)
    model = fit(MLPRegressor(loss="poisson", hidden_layer_sizes=(10,), max_iter=30,
                             random_state=0), X, np.exp(y / 4))
    assert model.out_activation_ == "exp"
    (pred,) = run(ort, to_onnx(model, X), X_test)
    np.testing.assert_allclose(pred, model.predict(X_test), rtol=ATOL[dtype],
                               atol=ATOL[dtype])


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_string_labels_and_zipmap(ort, kind):
    """The default options: string labels and a ZipMap of the probabilities."""
    X, y, X_test = data(kind, np.float32)
    names = np.array(["cat", "dog", "emu"])[y]
    model = fit(MLPClassifier((10,), max_iter=30, random_state=0), X, names)
    labels, probas = run(ort, to_onnx(model, X), X_test)
    expected = model.predict_proba(X_test)
    assert_labels_agree(labels, model.predict(X_test), expected, 1e-5)
    assert set(labels) <= set(model.classes_)
    assert [sorted(d) for d in probas[:2]] == [list(model.classes_)] * 2
    got = np.array([[row[c] for c in model.classes_] for row in probas])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_float64_with_zipmap(ort):
    """ZipMap takes float32 only: a float64 graph with the default zipmap=True
    gives its probabilities in float32, its labels from the float64 ones."""
    X, y, X_test = data("multiclass", np.float64)
    model = fit(MLPClassifier((10,), activation="leaky_relu", max_iter=30,
                              random_state=0), X, y)
    labels, probas = run(ort, to_onnx(model, X), X_test)
    expected = model.predict_proba(X_test)
    np.testing.assert_array_equal(labels, model.predict(X_test))
    assert isinstance(probas[0][0], float)
    got = np.array([[row[c] for c in range(3)] for row in probas])
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-12)


def test_zipmap_columns_nocl_and_class_labels(ort):
    X, y, X_test = data("multiclass", np.float32)
    model = fit(MLPClassifier((10,), max_iter=30, random_state=0), X, y + 5)
    expected = model.predict_proba(X_test)
    bp_labels = model.predict(X_test)

    labels, *columns = run(ort, to_onnx(model, X, options={"zipmap": "columns"}), X_test)
    assert len(columns) == 3
    np.testing.assert_allclose(np.column_stack(columns), expected, atol=1e-5)
    assert_labels_agree(labels, bp_labels, expected, 1e-5)

    labels, proba = run(ort, to_onnx(model, X, options={"zipmap": False, "nocl": True}),
                        X_test)
    assert_labels_agree(model.classes_[labels], bp_labels, expected, 1e-5)

    labels, proba, classes = run(ort, to_onnx(
        model, X, options={"zipmap": False, "output_class_labels": True}), X_test)
    np.testing.assert_array_equal(classes, model.classes_)
    assert_labels_agree(labels, bp_labels, expected, 1e-5)


def test_multilabel_with_zipmap(ort):
    X, y, X_test = data("multilabel", np.float32)
    model = fit(MLPClassifier((10,), max_iter=30, random_state=0), X, y)
    labels, probas = run(ort, to_onnx(model, X), X_test)
    expected = model.predict_proba(X_test)
    assert_labels_agree(labels, model.predict(X_test), expected, 1e-5)
    got = np.array([[row[c] for c in range(4)] for row in probas])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_float_and_bool_classes_become_int64_labels(ort):
    X, y, X_test = data("binary", np.float32)
    for target in (y.astype(float) * 3, y.astype(bool)):
        model = fit(MLPClassifier((8,), max_iter=20, random_state=0), X, target)
        labels, _ = run(ort, to_onnx(model, X, options={"zipmap": False}), X_test)
        assert labels.dtype == np.int64
        expected = model.predict_proba(X_test)
        assert_labels_agree(labels, model.predict(X_test).astype(np.int64), expected,
                            1e-5)


def test_pipeline_pickled_model_and_other_input_types(ort):
    """In a Pipeline; after a pickle round trip (coefs_ no longer views);
    a float64 model given a float32 graph; int64 input, cast."""
    X, y, X_test = data("multiclass", np.float64)
    pipe = fit(make_pipeline(StandardScaler(), MLPClassifier(
        (16,), activation="elu", max_iter=30, random_state=0)), X * 3 + 1, y)
    _, proba = run(ort, to_onnx(pipe, X.astype(np.float32),
                                options={"mlpclassifier__zipmap": False}),
                   X_test.astype(np.float32) * 3 + 1)
    np.testing.assert_allclose(proba, pipe.predict_proba(X_test * 3 + 1), atol=1e-5)

    model = pickle.loads(pickle.dumps(pipe[-1]))
    _, proba = run(ort, to_onnx(model, X, options={"zipmap": False}), X_test)
    np.testing.assert_allclose(proba, model.predict_proba(X_test), atol=1e-12)

    X_int = np.round(X_test * 2).astype(np.int64)
    _, proba = run(ort, to_onnx(model, X_int, options={"zipmap": False}), X_int)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, model.predict_proba(X_int.astype(float)),
                               atol=1e-5)


def test_unfitted_model_is_refused(ort):
    X, _, _ = data("binary", np.float32)
    with pytest.raises(NotFittedError):
        to_onnx(MLPRegressor(), X)
    # skl2onnx's classifier parser, which runs first, looks for classes_
    with pytest.raises((NotFittedError, RuntimeError), match="classes|fitted"):
        to_onnx(MLPClassifier(), X)


def test_dataframe_input_is_refused_with_advice(ort):
    pd = pytest.importorskip("pandas")
    X, y, _ = data("single", np.float32)
    model = fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=3), X, y)
    with pytest.raises(RuntimeError, match="to_numpy"):
        to_onnx(model, pd.DataFrame(X, columns=list("abcdef")))


def _python(code):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_bpfast_does_not_import_skl2onnx():
    assert _python("""
        import sys
        import bpfast
        print(sorted(m for m in ("skl2onnx", "onnx", "onnxruntime") if m in sys.modules))
    """).strip() == "[]"


@pytest.mark.parametrize("order", ["bpfast-first", "skl2onnx-first"])
def test_to_onnx_works_in_either_import_order(ort, order):
    first, second = ("bpfast", "skl2onnx") if order == "bpfast-first" else \
        ("skl2onnx", "bpfast")
    assert _python(f"""
        import sys
        import {first}
        import {second}
        import numpy as np
        from bpfast import MLPRegressor
        from skl2onnx import to_onnx
        X = np.random.RandomState(0).normal(size=(50, 3)).astype(np.float32)
        model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(X, X[:, 0])
        onx = to_onnx(model, X[:1])
        print([n.op_type for n in onx.graph.node])
        print(any(type(f).__module__ == "bpfast._onnx" for f in sys.meta_path))
    """).split("\n")[:2] == ["['Gemm', 'Relu', 'Gemm']", "False"]
