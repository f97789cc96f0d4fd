"""bpfast.explain: input gradients against central finite differences of
predict / predict_proba, completeness of integrated gradients, gradient
SHAP's draws, scikit-learn's models against their conversions, the same
bits on any thread count, dense against CSR, float32, validation, and
shap's Explanation."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from threadpoolctl import threadpool_limits

import bpfast
from bpfast import MLPClassifier, MLPRegressor, explain
from bpfast.explain import (gradient_shap, input_gradients, integrated_gradients,
                            shap_explanation)

ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu"]
SMOOTH = ["identity", "logistic", "tanh", "elu"]
# quadrature nodes for completeness within 1e-3: 256 for the analytic
# activations; elu's second derivative jumps at 0, so its error falls as
# ~1 / steps^2 there (measured, 12 rows: 5e-5 at 256, 7e-6 at 1024)
COMPLETE_AT = {"identity": 256, "logistic": 256, "tanh": 256, "elu": 1024}


def _data(n=120, d=6, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(n, d)


def _fit(kind, activation="tanh", dtype=np.float64, hidden=(9, 7), seed=0):
    """A small fitted model of each output kind, and its rows."""
    X = _data(seed=seed).astype(dtype)
    rng = np.random.RandomState(seed + 1)
    # an L2 penalty keeps the weights moderate: the outputs' higher
    # derivatives, which finite differences and the quadrature feel, with them
    kw = dict(hidden_layer_sizes=hidden, activation=activation, solver="lbfgs",
              max_iter=60, alpha=0.1, random_state=seed)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "multiclass":
            y = np.digitize(X[:, 0] + X[:, 1] ** 2, [0.0, 1.0, 2.5])
            return MLPClassifier(**kw).fit(X, y), X
        if kind == "binary":
            y = np.where(X[:, 0] * X[:, 2] > 0, "yes", "no")
            return MLPClassifier(**kw).fit(X, y), X
        if kind == "multilabel":
            Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5], axis=1)
            return MLPClassifier(**kw).fit(X, Y.astype(int)), X
        if kind == "regression":
            return MLPRegressor(**kw).fit(X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2]), X
        if kind == "multioutput":
            Y = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
            return MLPRegressor(**kw).fit(X, Y), X
        if kind == "poisson":
            y = rng.poisson(np.exp(0.3 * X[:, 0] - 0.2 * X[:, 1]))
            return MLPRegressor(loss="poisson", **kw).fit(X, y), X
    raise AssertionError(kind)


def _outputs(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    out = model.predict(X)
    return out.reshape(len(X), -1)


def _finite_differences(model, X, piecewise_linear=False):
    """Central differences of every output: (n_rows, n_features, n_outputs).
    Smooth networks: the five-point stencil, h = 1e-3 (truncation ~h^4);
    relu's piecewise-linear ones: two points, h = 1e-6 (no truncation off
    the kinks, and few kinks within h)."""
    n, d = X.shape
    grads = np.empty((n, d, _outputs(model, X[:1]).shape[1]))
    h = 1e-6 if piecewise_linear else 1e-3
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        if piecewise_linear:
            grads[:, j, :] = (_outputs(model, X + e) - _outputs(model, X - e)) / (2 * h)
        else:
            grads[:, j, :] = (8 * (_outputs(model, X + e) - _outputs(model, X - e))
                              - (_outputs(model, X + 2 * e) - _outputs(model, X - 2 * e))
                              ) / (12 * h)
    return grads


KINDS = ["multiclass", "binary", "multilabel", "regression", "multioutput", "poisson"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_input_gradients_equal_central_differences(kind, activation):
    """d output / d x against central differences of predict_proba (or
    predict), every activation and output, float64: within 1e-6 of the
    largest gradient."""
    model, X = _fit(kind, activation)
    rows = X[:25]
    got = input_gradients(model, rows)
    fd = _finite_differences(model, rows, activation in ("relu", "leaky_relu"))
    if got.ndim == 2:
        got = got[:, :, None]
    assert got.shape == fd.shape
    scale = np.abs(fd).max()
    assert scale > 1e-3
    assert np.abs(got - fd).max() <= 1e-6 * scale


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multioutput"])
def test_a_target_picks_one_output(kind):
    model, X = _fit(kind)
    every = input_gradients(model, X[:10])
    if kind == "multioutput":
        targets = [0, 1]
    else:
        targets = list(model.classes_)
    for k, t in enumerate(targets):
        assert np.array_equal(input_gradients(model, X[:10], target=t), every[:, :, k])
    # one target a row
    per_row = np.array([targets[i % len(targets)] for i in range(10)], dtype=object)
    if kind == "multioutput":
        per_row = per_row.astype(int)
    got = input_gradients(model, X[:10], target=per_row)
    want = np.stack([every[i, :, i % len(targets)] for i in range(10)])
    assert np.array_equal(got, want)


def test_binary_first_class_is_minus_the_second():
    model, X = _fit("binary")
    g = input_gradients(model, X[:8])
    assert g.shape == (8, X.shape[1], 2)
    assert np.array_equal(g[:, :, 0], -g[:, :, 1])


def test_single_output_regressor_has_no_output_axis():
    model, X = _fit("regression")
    assert input_gradients(model, X[:4]).shape == (4, X.shape[1])
    assert np.array_equal(input_gradients(model, X[:4], target=0),
                          input_gradients(model, X[:4]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", SMOOTH)
def test_integrated_gradients_are_complete(kind, activation):
    """Each row's attributions add up to f(x) - f(baseline) within 1e-3
    relative at 256 steps (analytic activations; elu at 1024), from zeros,
    from one row and from one row a row. Relative to the row's change, or,
    for a row whose output barely changes, to the rows' typical change."""
    model, X = _fit(kind, activation)
    rows = X[:12]
    rng = np.random.RandomState(5)
    worst = 0.0
    for baseline in (None, rng.randn(X.shape[1]), rng.randn(12, X.shape[1])):
        attr = integrated_gradients(model, rows, baseline=baseline,
                                    steps=COMPLETE_AT[activation])
        ref = np.zeros((1, X.shape[1])) if baseline is None else np.atleast_2d(baseline)
        change = _outputs(model, rows) - _outputs(model, ref)
        total = attr.sum(axis=1)
        total = total[:, None] if total.ndim == 1 else total
        scale = np.maximum(np.abs(change), np.median(np.abs(change)))
        worst = max(worst, (np.abs(total - change) / scale).max())
    assert worst <= 1e-3, worst


def test_integrated_gradients_of_relu_converge_with_steps():
    """relu's output is piecewise linear along the path: the quadrature
    converges, more slowly; at 2048 steps within 1e-3 of the change."""
    model, X = _fit("regression", "relu")
    rows = X[:10]
    change = _outputs(model, rows)[:, 0] - _outputs(model, np.zeros((1, X.shape[1])))[0, 0]
    errors = [np.abs(integrated_gradients(model, rows, steps=s).sum(axis=1) - change).max()
              for s in (16, 2048)]
    assert errors[1] < errors[0] or errors[0] < 1e-9
    assert errors[1] <= 1e-3 * np.abs(change).max()


def test_integrated_gradients_of_a_linear_model_are_exact():
    """identity activations and output: f is linear, attributions are
    w * (x - b) at any number of steps."""
    model, X = _fit("regression", "identity")
    W = np.linalg.multi_dot(model.coefs_)[:, 0]
    b = np.random.RandomState(2).randn(X.shape[1])
    attr = integrated_gradients(model, X[:5], baseline=b, steps=1)
    assert np.allclose(attr, (X[:5] - b) * W, rtol=1e-12, atol=1e-12)


def test_gradient_shap_is_seeded_and_adds_up_on_average():
    """Seeded draws; the sum of a row's attributions estimates f(x) -
    E[f(b)] without bias: its error falls as 1 / sqrt(n_samples) (measured:
    0.058, 0.030, 0.017, 0.0093 at 1k, 4k, 16k, 64k draws)."""
    model, X = _fit("multiclass", "tanh")
    background = X[60:100]
    a = gradient_shap(model, X[:20], background, n_samples=1000, random_state=3)
    b = gradient_shap(model, X[:20], background, n_samples=1000, random_state=3)
    c = gradient_shap(model, X[:20], background, n_samples=1000, random_state=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    change = _outputs(model, X[:20]) - _outputs(model, background).mean(axis=0)
    many = gradient_shap(model, X[:20], background, n_samples=16000, random_state=3)
    err_few = np.abs(a.sum(axis=1) - change).mean()
    err_many = np.abs(many.sum(axis=1) - change).mean()
    assert err_many < 0.5 * err_few
    assert err_many < 0.1 * np.abs(change).mean()


def test_gradient_shap_from_one_background_row_at_fixed_alpha_is_ig_like():
    """With a single background row every draw starts from it: the
    attributions are a Monte Carlo integral of the same path, close to
    integrated gradients."""
    model, X = _fit("regression", "tanh")
    b = X[99]
    gs = gradient_shap(model, X[:6], b[None, :], n_samples=4000, random_state=0)
    ig = integrated_gradients(model, X[:6], baseline=b, steps=64)
    assert np.allclose(gs, ig, atol=0.05 * np.abs(ig).max())


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_a_scikit_learn_model_explains_as_its_conversion(kind):
    """Attributions of scikit-learn's own fitted MLP equal those of the
    same model converted, and the model is left as it was."""
    bp_model, X = _fit(kind, "tanh")
    sk_model = bp_model.to_sklearn()
    before = [c.copy() for c in sk_model.coefs_]
    converted = bpfast.from_sklearn(sk_model)
    for fn, kw in [(input_gradients, {}), (integrated_gradients, dict(steps=16)),
                   (gradient_shap, dict(background=X[50:70], random_state=0))]:
        assert np.array_equal(fn(sk_model, X[:7], **kw), fn(converted, X[:7], **kw))
    assert all(np.array_equal(a, b) for a, b in zip(before, sk_model.coefs_))
    assert isinstance(sk_model, (SkMLPClassifier, SkMLPRegressor))


def test_the_model_is_not_modified():
    model, X = _fit("multiclass")
    params = model._get_network().params.copy()
    state = dict(model.__dict__)
    integrated_gradients(model, X[:5], steps=8)
    gradient_shap(model, X[:5], X[10:20], random_state=0)
    assert np.array_equal(model._get_network().params, params)
    assert set(model.__dict__) == set(state)


@pytest.mark.openmp_threads
@pytest.mark.parametrize("method", ["input", "ig", "gshap"])
def test_same_bits_on_any_thread_count(method):
    """Units of whole rows, each summed in step order by one thread: the
    same bits on 1 and 2 threads (more rows than one unit holds)."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier((32, 16), max_iter=5, random_state=0).fit(X, y)
    rows = X[:300]
    call = {"input": lambda: input_gradients(model, rows),
            "ig": lambda: integrated_gradients(model, rows, steps=20),
            "gshap": lambda: gradient_shap(model, rows, X[500:600], random_state=1)}[method]
    results = []
    for n in (1, 2):
        with threadpool_limits(n, user_api="openmp"):
            results.append(call())
    assert np.array_equal(results[0], results[1])
    assert np.all(np.isfinite(results[0]))


def test_chunks_of_points_do_not_change_the_result(monkeypatch):
    """Points stream through workspaces of bounded size: a capacity of 7
    points (a row's 50 steps in 8 chunks) gives the result of the default
    (to rounding: the products' shapes differ)."""
    model, X = _fit("multiclass", "tanh")
    want = integrated_gradients(model, X[:9], steps=50)
    monkeypatch.setattr(explain, "CHUNK_POINTS", 7)
    got = integrated_gradients(model, X[:9], steps=50)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-14)


def test_csr_rows_give_the_dense_bits():
    model, X = _fit("multiclass", "relu")
    X = X.copy()
    X[np.abs(X) < 0.8] = 0.0
    for fn, kw in [(input_gradients, {}), (integrated_gradients, dict(steps=10)),
                   (gradient_shap, dict(background=X[50:60], random_state=0))]:
        dense = fn(model, X[:15], **kw)
        assert np.array_equal(fn(model, sp.csr_matrix(X[:15]), **kw), dense)
        assert np.array_equal(fn(model, sp.csc_matrix(X[:15]), **kw), dense)


def test_float32_models_explain_in_float32():
    model, X = _fit("multiclass", "tanh", dtype=np.float32)
    g32 = input_gradients(model, X[:10])
    assert g32.dtype == np.float32
    model64 = bpfast.from_sklearn(model.to_sklearn())
    model64.coefs_ = [c.astype(np.float64) for c in model64.coefs_]
    model64.intercepts_ = [c.astype(np.float64) for c in model64.intercepts_]
    g64 = input_gradients(model64, X[:10].astype(np.float64))
    assert g64.dtype == np.float64
    assert np.allclose(g32, g64, rtol=1e-4, atol=1e-5 * np.abs(g64).max())
    # float64 rows through a float32 model: computed in float64, as predict is
    assert input_gradients(model, X[:3].astype(np.float64)).dtype == np.float64


def test_validation_before_any_work():
    model, X = _fit("multiclass")
    with pytest.raises(ValueError, match="features"):
        input_gradients(model, X[:, :4])
    bad = X[:5].copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        integrated_gradients(model, bad)
    with pytest.raises(ValueError, match="not one of the classes"):
        input_gradients(model, X[:5], target=7)
    with pytest.raises(ValueError, match="not one of the classes"):
        input_gradients(model, X[:5], target=[0, 1, 2, 3, 9])
    with pytest.raises(ValueError, match="one a row"):
        input_gradients(model, X[:5], target=[0, 1])
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(model, X[:5], baseline=np.zeros(3))
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(model, X[:5], baseline=np.zeros((3, X.shape[1])))
    inf_base = np.zeros(X.shape[1])
    inf_base[0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        integrated_gradients(model, X[:5], baseline=inf_base)
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(model, X[:5], steps=0)
    with pytest.raises(ValueError, match="n_samples"):
        gradient_shap(model, X[:5], X[:3], n_samples=0)
    with pytest.raises(ValueError, match="background"):
        gradient_shap(model, X[:5], np.zeros((2, 3)))
    reg, Xr = _fit("regression")
    with pytest.raises(ValueError, match="output index"):
        input_gradients(reg, Xr[:3], target=1)
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor"):
        input_gradients(object(), X[:3])
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        input_gradients(MLPClassifier(), X[:3])


def test_the_kernel_refuses_bad_indices():
    """The kernel's own checks, for callers other than bpfast.explain."""
    from bpfast import _kernels
    from bpfast._network import kernel_input

    model, X = _fit("multiclass")
    net = model._get_network()
    d = X.shape[1]
    layout = net.layout(16, 2 * d)
    data = _kernels.Data(*kernel_input(np.ascontiguousarray(X[:4])))
    work = np.empty(layout.work_len)
    out = np.empty((4, 1, d))
    base = np.zeros((1, d))
    one = np.ones((1, 1))
    ok = dict(bidx=np.zeros((1, 1), np.intp), cols=np.zeros((1, 1), np.intp))
    _kernels.attributions(layout, data, net.params, work, base, ok["bidx"], one,
                          np.ones(1), ok["cols"], out, 1, False)
    with pytest.raises(ValueError, match="baseline row index"):
        _kernels.attributions(layout, data, net.params, work, base,
                              np.ones((1, 1), np.intp), one, np.ones(1), ok["cols"], out, 1,
                              False)
    with pytest.raises(ValueError, match="output column"):
        _kernels.attributions(layout, data, net.params, work, base, ok["bidx"], one,
                              np.ones(1), np.full((1, 1), 9, np.intp), out, 1, False)
    with pytest.raises(ValueError, match="gather buffer"):
        _kernels.attributions(net.layout(16), data, net.params, work, base, ok["bidx"],
                              one, np.ones(1), ok["cols"], out, 1, False)


@pytest.mark.parametrize("method, kw", [
    ("integrated_gradients", dict(steps=128)),
    ("gradient_shap", dict(n_samples=64, random_state=0)),
    ("input_gradients", {}),
])
def test_shap_explanation_adds_up(method, kw):
    shap_mod = pytest.importorskip("shap")
    model, X = _fit("regression", "tanh")
    if method == "gradient_shap":
        kw = dict(kw, background=X[60:90])
    exp = shap_explanation(model, X[:8], method=method, **kw)
    assert isinstance(exp, shap_mod.Explanation)
    assert exp.values.shape == (8, X.shape[1])
    total = exp.values.sum(axis=1) + exp.base_values
    tol = 0.2 if method == "gradient_shap" else 1e-6
    assert np.allclose(total, model.predict(X[:8]), atol=tol * np.abs(model.predict(X[:8])).max())
    exp3 = shap_explanation(model.to_sklearn(), X[:4], method="integrated_gradients",
                            target=None, feature_names=list("abcdef"))
    assert exp3.feature_names == list("abcdef")


def test_shap_explanation_of_a_classifier_has_a_class_axis():
    pytest.importorskip("shap")
    model, X = _fit("multiclass", "tanh")
    exp = shap_explanation(model, X[:5], steps=64)
    k = len(model.classes_)
    assert exp.values.shape == (5, X.shape[1], k) and exp.base_values.shape == (5, k)
    total = exp.values.sum(axis=1) + exp.base_values
    assert np.allclose(total, model.predict_proba(X[:5]), atol=1e-4)
    one = shap_explanation(model, X[:5], target=model.classes_[1], steps=64)
    assert one.values.shape == (5, X.shape[1]) and one.base_values.shape == (5,)
    with pytest.raises(ValueError, match="method"):
        shap_explanation(model, X[:5], method="lime")
