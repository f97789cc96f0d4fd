"""bpfast.dask's L-BFGS fit against bpfast's in-memory fit on the same rows.

One chunk: the same bits (every weight, loss_, n_iter_, the loss at every
iteration). Several chunks: the loss curve within 1e-10 relative over the
first 50 iterations and the same predictions (float64); float32 sums its
chunks' float32 gradients in float64, so it follows the in-memory curve to
float32 precision only (see test_float32_several_chunks). Two fits on the
same chunks, on one or two workers, give the same bits.

The module shares one LocalCluster of two single-threaded workers in this
process (a fit takes ~0.1 s), made the current client by the fixture.
"""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.optimize
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

import bpfast

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
bdask = pytest.importorskip("bpfast.dask")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        with client.as_current():
            yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def classes3():
    X, y = make_classification(n_samples=700, n_features=10, n_informative=6,
                               n_classes=3, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=500, n_features=8, n_informative=5,
                               weights=[0.75], random_state=1)
    return X, y


@pytest.fixture(scope="module")
def regression2():
    X, y = make_regression(n_samples=600, n_features=9, n_informative=6, n_targets=2,
                           noise=3.0, random_state=2)
    return (X - X.mean(0)) / X.std(0), (y - y.mean(0)) / y.std(0)


@pytest.fixture
def curves(monkeypatch):
    """The loss at each L-BFGS iteration of every fit in the test, a list per
    fit (both fits call scipy.optimize.minimize: recorded through its
    callback)."""
    recorded = []
    real = scipy.optimize.minimize

    def minimize(fun, x0, **kwargs):
        losses = []
        recorded.append(losses)
        return real(fun, x0, callback=lambda intermediate_result: losses.append(
            intermediate_result.fun), **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    return recorded


def chunked(rows, *arrays):
    return [da.from_array(a, chunks=(rows,) + a.shape[1:]) for a in arrays]


def fit_both(cls, params, X, y, rows, sample_weight=None, memory_cls=None):
    """(in-memory model, dask model) fitted on the same rows."""
    memory_cls = memory_cls or getattr(bpfast, cls.__name__)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory = memory_cls(**params).fit(X, y, sample_weight=sample_weight)
        parts = chunked(rows, X, y) + ([] if sample_weight is None
                                       else chunked(rows, sample_weight))
        distributed_fit = cls(**params).fit(*parts)
    return in_memory, distributed_fit


def assert_same_bits(a, b):
    for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert a.n_iter_ == b.n_iter_
    assert a.loss_ == b.loss_


def relative(curve, reference):
    curve, reference = np.asarray(curve), np.asarray(reference)
    assert curve.shape == reference.shape
    return np.abs(curve - reference) / np.abs(reference)


PARAMS = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=50, tol=0.0,
              random_state=0)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity",
                                        "leaky_relu", "elu"])
def test_one_chunk_is_bit_for_bit(client, classes3, curves, activation):
    X, y = classes3
    params = dict(PARAMS, activation=activation, max_iter=30)
    in_memory, fitted = fit_both(bdask.MLPClassifier, params, X, y, rows=X.shape[0])
    assert_same_bits(in_memory, fitted)
    assert curves[0] == curves[1] and len(curves[0]) == in_memory.n_iter_ > 10
    np.testing.assert_array_equal(in_memory.predict_proba(X), fitted.predict_proba(X))
    assert isinstance(fitted, bpfast.MLPClassifier)
    np.testing.assert_array_equal(fitted.classes_, in_memory.classes_)
    assert fitted.n_features_in_ == 10 and fitted.out_activation_ == "softmax"


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity",
                                        "leaky_relu", "elu"])
def test_several_chunks_follow_the_loss_curve(client, classes3, curves, activation):
    X, y = classes3
    params = dict(PARAMS, activation=activation)
    # uneven chunks: 6 of 110 rows and one of 40
    in_memory, fitted = fit_both(bdask.MLPClassifier, params, X, y, rows=110)
    assert len(curves[0]) == in_memory.n_iter_ > 20   # (identity converges at 25)
    assert relative(curves[1], curves[0]).max() < 1e-10
    assert fitted.n_iter_ == in_memory.n_iter_
    assert abs(fitted.loss_ - in_memory.loss_) < 1e-10 * in_memory.loss_
    np.testing.assert_array_equal(fitted.predict(X), in_memory.predict(X))
    np.testing.assert_allclose(fitted.predict_proba(X), in_memory.predict_proba(X),
                               rtol=1e-6, atol=1e-9)


def test_two_fits_same_bits_on_one_or_two_workers(client, classes3):
    X, y = classes3
    Xd, yd = chunked(90, X, y)
    first = bdask.MLPClassifier(**PARAMS).fit(Xd, yd)
    second = bdask.MLPClassifier(**PARAMS).fit(Xd, yd)
    assert_same_bits(first, second)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1,
                                       processes=False, dashboard_address=None)
    try:
        with distributed.Client(cluster, set_as_default=False) as one, one.as_current():
            alone = bdask.MLPClassifier(**PARAMS).fit(Xd, yd)
    finally:
        cluster.close()
    assert_same_bits(first, alone)


def test_concurrent_fits_of_the_same_data(client, classes3):
    """Two fits at once in one client (their chunks' tasks are pure: the
    same keys) both finish, with the bits of a fit alone."""
    from concurrent.futures import ThreadPoolExecutor

    X, y = classes3
    parts = chunked(100, X, y)
    with ThreadPoolExecutor(2) as pool:
        fits = list(pool.map(lambda _: bdask.MLPClassifier(**PARAMS).fit(*parts),
                             range(2)))
    assert_same_bits(*fits)
    assert_same_bits(fits[0], bdask.MLPClassifier(**PARAMS).fit(*parts))


def test_placement_does_not_matter(client, classes3):
    """The same chunks persisted on one worker, then on the other: the shards
    hold other chunks, the tree's sums are the same."""
    X, y = classes3
    Xd, yd = chunked(100, X, y)
    fits = []
    for worker in sorted(client.nthreads()):
        Xp, yp = client.persist([Xd, yd], workers=[worker])
        fits.append(bdask.MLPClassifier(**PARAMS).fit(Xp, yp))
        del Xp, yp
    assert_same_bits(*fits)


def test_sample_weight(client, binary, curves):
    X, y = binary
    sw = np.random.default_rng(0).uniform(0.2, 3.0, X.shape[0])
    in_memory, fitted = fit_both(bdask.MLPClassifier, PARAMS, X, y, X.shape[0], sw)
    assert_same_bits(in_memory, fitted)
    in_memory, fitted = fit_both(bdask.MLPClassifier, PARAMS, X, y, 64, sw)
    assert relative(curves[3], curves[2]).max() < 1e-10
    np.testing.assert_array_equal(fitted.predict(X), in_memory.predict(X))


@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 1: 0.5}])
def test_class_weight(client, binary, curves, class_weight):
    X, y = binary
    params = dict(PARAMS, class_weight=class_weight)
    sw = np.linspace(0.5, 2.0, X.shape[0])
    in_memory, fitted = fit_both(bdask.MLPClassifier, params, X, y, X.shape[0], sw)
    assert_same_bits(in_memory, fitted)
    in_memory, fitted = fit_both(bdask.MLPClassifier, params, X, y, 75)
    assert relative(curves[3], curves[2]).max() < 1e-10
    np.testing.assert_array_equal(fitted.predict(X), in_memory.predict(X))
    unweighted = bdask.MLPClassifier(**PARAMS).fit(*chunked(75, X, y))
    assert unweighted.loss_ != fitted.loss_


@pytest.fixture(scope="module")
def multilabel():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=600, n_features=10, n_classes=4,
                                          random_state=0)
    return (X - X.mean(0)) / X.std(0), Y


@pytest.mark.parametrize("class_weight", [
    None, "balanced", [{0: 1.0, 1: 3.0}, {0: 2.0, 1: 1.0}, {1: 0.5}, {0: 1.0, 1: 1.0}]])
def test_multilabel(client, multilabel, curves, class_weight):
    """A 0/1 label matrix: one logistic output a label, class weights per
    label as scikit-learn's compute_sample_weight forms them."""
    X, Y = multilabel
    params = dict(PARAMS, class_weight=class_weight)
    in_memory, fitted = fit_both(bdask.MLPClassifier, params, X, Y, X.shape[0])
    assert_same_bits(in_memory, fitted)
    assert curves[0] == curves[1]
    assert fitted.out_activation_ == "logistic" and fitted.n_outputs_ == 4
    np.testing.assert_array_equal(fitted.classes_, in_memory.classes_)
    in_memory, fitted = fit_both(bdask.MLPClassifier, params, X, Y, 110)
    assert relative(curves[3], curves[2]).max() < 1e-10
    np.testing.assert_array_equal(fitted.predict(X), in_memory.predict(X))
    Xd, Yd = chunked(110, X, Y)
    prediction = fitted.predict(Xd)
    assert prediction.shape == (600, 4)
    np.testing.assert_array_equal(prediction.compute(), in_memory.predict(X))
    assert fitted.score(Xd, Yd) == in_memory.score(X, Y)    # whole rows right
    if class_weight is not None:
        unweighted = bdask.MLPClassifier(**PARAMS).fit(Xd, Yd)
        assert unweighted.loss_ != fitted.loss_


def test_multilabel_stochastic(client, multilabel):
    X, Y = multilabel
    params = dict(hidden_layer_sizes=(16,), solver="adam", max_iter=20,
                  random_state=0, learning_rate_init=0.01)
    first = bdask.MLPClassifier(**params).fit(*chunked(150, X, Y))
    again = bdask.MLPClassifier(**params).fit(*chunked(150, X, Y))
    assert_same_bits(first, again)
    assert first.loss_curve_[-1] < 0.7 * first.loss_curve_[0]
    assert first.predict(X).shape == (600, 4)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_sparse_chunks(client, classes3, curves, solver):
    """SciPy sparse blocks (any format: made CSR on the workers). lbfgs: one
    chunk is the in-memory fit on the CSR matrix bit for bit, several follow
    its loss curve. Both solvers: CSR, CSC and COO chunks give the same
    bits, and the fit of the same chunks dense to rounding (the sparse
    kernels sum a row's products in another order than the GEMM)."""
    sparse = pytest.importorskip("scipy.sparse")
    X, y = classes3
    X = np.where(np.abs(X) < 1.0, 0.0, X)     # 40% nonzero
    params = dict(PARAMS, solver=solver, max_iter=15)

    def blocks(rows, fmt):
        return chunked(rows, X)[0].map_blocks(getattr(sparse, fmt + "_matrix"),
                                              meta=sparse.csr_matrix((0, 0)))

    yd = chunked(110, y)[0]
    if solver == "lbfgs":
        in_memory = bpfast.MLPClassifier(**params).fit(sparse.csr_matrix(X), y)
        assert_same_bits(in_memory, bdask.MLPClassifier(**params).fit(
            blocks(X.shape[0], "csr"), chunked(X.shape[0], y)[0]))
        assert curves[0] == curves[1]
        several = bdask.MLPClassifier(**params).fit(blocks(110, "csr"), yd)
        assert relative(curves[2], curves[0]).max() < 1e-10
        np.testing.assert_array_equal(several.predict(X), in_memory.predict(X))
    dense = bdask.MLPClassifier(**params).fit(chunked(110, X)[0], yd)
    fitted = [bdask.MLPClassifier(**params).fit(blocks(110, fmt), yd)
              for fmt in ("csr", "csc", "coo")]
    assert_same_bits(fitted[0], fitted[1])
    assert_same_bits(fitted[0], fitted[2])
    assert abs(fitted[0].loss_ - dense.loss_) < 1e-10 * dense.loss_
    np.testing.assert_array_equal(fitted[0].predict(blocks(110, "csr")).compute(),
                                  dense.predict(X))
    assert fitted[0].score(blocks(110, "csr"), yd) == dense.score(X, y)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_pydata_sparse_chunks(client, classes3, solver):
    """pydata-sparse blocks (dask's own sparse arrays; dask-ml brings the
    package) fit and predict as the SciPy matrices they convert to."""
    pydata = pytest.importorskip("sparse")
    sparse = pytest.importorskip("scipy.sparse")
    X, y = classes3
    X = np.where(np.abs(X) < 1.0, 0.0, X)
    params = dict(PARAMS, solver=solver, max_iter=15)
    Xd, yd = chunked(110, X, y)
    reference = bdask.MLPClassifier(**params).fit(
        Xd.map_blocks(sparse.csr_matrix, meta=sparse.csr_matrix((0, 0))), yd)
    for convert in (pydata.COO.from_numpy, pydata.GCXS.from_numpy):
        blocks = Xd.map_blocks(convert)
        assert_same_bits(reference, bdask.MLPClassifier(**params).fit(blocks, yd))
        np.testing.assert_array_equal(reference.predict(blocks).compute(),
                                      reference.predict(X))


def test_float32_one_chunk_bit_for_bit(client, classes3, curves):
    X, y = classes3
    X = X.astype(np.float32)
    in_memory, fitted = fit_both(bdask.MLPClassifier, PARAMS, X, y, X.shape[0])
    assert fitted.coefs_[0].dtype == np.float32
    assert_same_bits(in_memory, fitted)
    assert curves[0] == curves[1]


def test_float32_several_chunks(client, classes3, curves):
    """float32 chunks: each chunk's gradient is summed over its rows in
    float32 by the kernels (as the in-memory fit sums all rows in float32),
    the chunks' gradients then in float64. The two differ by float32
    rounding, which L-BFGS follows for a dozen iterations (measured: 2e-8
    to 1.4e-6 relative over the first 18) before its line searches part."""
    X, y = classes3
    X = X.astype(np.float32)
    params = dict(PARAMS, max_iter=12)
    in_memory, fitted = fit_both(bdask.MLPClassifier, params, X, y, 137)
    assert fitted.coefs_[0].dtype == np.float32
    assert relative(curves[1], curves[0]).max() < 1e-5
    assert (fitted.predict(X) == in_memory.predict(X)).mean() > 0.99


# On these regression problems, whose loss falls by a factor of 10 to 100 in
# 50 iterations, the difference in the last bits of each evaluation grows
# faster than on the classification ones (1.9e-13 after 50 iterations).
# Squared error (tanh, 5 chunks): 2.9e-13 over 30 iterations, 2.8e-12 over 40.
# Poisson with l1_ratio=0.3 (6 chunks) grows fastest: 1.9e-13 over 30
# iterations, 3.1e-11 over 35, then 1.1e-10 over 40 in the release build
# (v3) as in the debug build (-O0): the window stops where every build keeps
# a wide margin below 1e-10.
REGRESSION_HOLDS = 40
POISSON_HOLDS = 30


def test_regressor(client, regression2, curves):
    X, y = regression2
    params = dict(PARAMS, activation="tanh")
    in_memory, fitted = fit_both(bdask.MLPRegressor, params, X, y, X.shape[0])
    assert_same_bits(in_memory, fitted)
    in_memory, fitted = fit_both(bdask.MLPRegressor, params, X, y, 128)
    assert relative(curves[3], curves[2])[:REGRESSION_HOLDS].max() < 1e-10
    assert relative(curves[3], curves[2]).max() < 1e-8
    np.testing.assert_allclose(fitted.predict(X), in_memory.predict(X), rtol=1e-8,
                               atol=1e-10)
    assert fitted.predict(X).shape == (600, 2)


def test_regressor_poisson_one_output(client, regression2, curves):
    X, y = regression2
    y = np.exp(y[:, 0] / 2)
    params = dict(PARAMS, loss="poisson", alpha=1e-3, l1_ratio=0.3)
    in_memory, fitted = fit_both(bdask.MLPRegressor, params, X, y, X.shape[0])
    assert_same_bits(in_memory, fitted)
    in_memory, fitted = fit_both(bdask.MLPRegressor, params, X, y, 100)
    assert relative(curves[3], curves[2])[:POISSON_HOLDS].max() < 1e-10
    assert relative(curves[3], curves[2]).max() < 1e-8
    assert fitted.out_activation_ == "exp" and fitted.predict(X).shape == (600,)


def test_dataframe_input_and_pickle(client, classes3):
    X, y = classes3
    pdf = pytest.importorskip("pandas").DataFrame(X, columns=[f"f{i}" for i in range(10)])
    Xdf = dd.from_pandas(pdf, npartitions=3)
    ydf = dd.from_pandas(pytest.importorskip("pandas").Series(y), npartitions=3)
    fitted = bdask.MLPClassifier(**dict(PARAMS, max_iter=10)).fit(Xdf, ydf)
    assert list(fitted.feature_names_in_) == list(pdf.columns)
    reference = bpfast.MLPClassifier(**dict(PARAMS, max_iter=10)).fit(pdf, y)
    np.testing.assert_array_equal(fitted.predict(pdf), reference.predict(pdf))
    copy = pickle.loads(pickle.dumps(fitted))
    assert type(copy) is bdask.MLPClassifier
    np.testing.assert_array_equal(copy.predict(pdf), fitted.predict(pdf))


def test_column_of_labels_is_one_output(client, binary):
    X, y = binary
    params = dict(PARAMS, max_iter=10)
    flat = bdask.MLPClassifier(**params).fit(*chunked(100, X, y))
    column = bdask.MLPClassifier(**params).fit(*chunked(100, X, y.reshape(-1, 1)))
    assert_same_bits(flat, column)
    assert column.n_outputs_ == 1


def test_numpy_targets_beside_dask_rows(client, binary):
    X, y = binary
    Xd, yd = chunked(100, X, y)
    params = dict(PARAMS, max_iter=10)
    assert_same_bits(bdask.MLPClassifier(**params).fit(Xd, yd),
                     bdask.MLPClassifier(**params).fit(Xd, y))


def test_numpy_input_is_the_in_memory_fit(classes3):
    """No client needed: NumPy input is bpfast's own fit."""
    X, y = classes3
    params = dict(PARAMS, max_iter=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = bdask.MLPClassifier(**params).fit(X, y)
        b = bpfast.MLPClassifier(**params).fit(X, y)
    assert_same_bits(a, b)


def test_surface_is_bpfasts(client, classes3):
    """The same parameters; partial_fit only where bpfast offers it."""
    assert bdask.MLPClassifier().get_params() == bpfast.MLPClassifier().get_params()
    assert bdask.MLPRegressor().get_params() == bpfast.MLPRegressor().get_params()
    assert not hasattr(bdask.MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(bdask.MLPClassifier(solver="adam"), "partial_fit")
    assert hasattr(bdask.MLPRegressor(solver="lbfgs"), "partial_fit")
    X, y = classes3
    with pytest.raises(ValueError, match="no eval_set or monitor"):
        bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, y), monitor=print)


def test_warm_start_continues(client, classes3):
    X, y = classes3
    parts = chunked(X.shape[0], X, y)
    params = dict(PARAMS, max_iter=10, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = bdask.MLPClassifier(**params).fit(*parts).fit(*parts)
        reference = bpfast.MLPClassifier(**params).fit(X, y).fit(X, y)
    assert_same_bits(reference, fitted)


def test_import_bpfast_does_not_import_dask():
    code = "import sys, bpfast; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
