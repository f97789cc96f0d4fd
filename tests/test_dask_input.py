"""bpfast.dask's fit on input it cannot take: a clear error before any training
(scipy.optimize.minimize is never reached), and nothing left on the cluster
(no task, no future, no actor) afterwards, nor after a fit that succeeds."""

import time

import numpy as np
import pytest
import scipy.optimize
from sklearn.datasets import make_classification

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
bdask = pytest.importorskip("bpfast.dask")

PARAMS = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5, random_state=0)
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
def data():
    X, y = make_classification(n_samples=400, n_features=6, random_state=0)
    return X, y


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(scipy.optimize, "minimize", refuse)


def cluster_state(client):
    tasks = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
    actors = sum(client.run(lambda dask_worker: len(dask_worker.state.actors)).values())
    data = sum(client.run(lambda dask_worker: len(dask_worker.data)).values())
    return tasks, actors, data


def assert_cluster_empty(client, patience=5.0):
    """No task on the scheduler, no actor nor data on the workers (releases
    travel asynchronously: waits up to `patience` seconds)."""
    deadline = time.monotonic() + patience
    while cluster_state(client) != (0, 0, 0):
        assert time.monotonic() < deadline, f"left on the cluster: {cluster_state(client)}"
        time.sleep(0.05)


def chunked(rows, *arrays):
    return [da.from_array(a, chunks=(rows,) + a.shape[1:]) for a in arrays]


def test_fit_leaves_nothing_behind(client, data):
    X, y = data
    model = bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, y))
    assert model.n_iter_ == 5 and model.n_restarts_ == 0
    assert_cluster_empty(client)


def test_unknown_chunk_sizes(client, data, no_training):
    X, y = data
    Xd, yd = chunked(100, X, y)
    keep = da.from_array(X[:, 0] > -10, chunks=100)
    with pytest.raises(ValueError, match="unknown chunk sizes.*compute_chunk_sizes"):
        bdask.MLPClassifier(**PARAMS).fit(Xd[keep], yd[keep])
    with pytest.raises(ValueError, match="^X has unknown chunk sizes"):
        bdask.MLPClassifier(**PARAMS).fit(Xd[keep], y)
    with pytest.raises(ValueError, match="^y has unknown chunk sizes"):
        bdask.MLPClassifier(**PARAMS).fit(Xd, yd[keep])
    assert_cluster_empty(client)


def test_mismatched_chunks(client, data, no_training):
    X, y = data
    Xd, = chunked(100, X)
    yd, = chunked(80, y)
    with pytest.raises(ValueError, match="chunked alike.*100, 100.*80, 80"):
        bdask.MLPClassifier(**PARAMS).fit(Xd, yd)
    sw = da.ones(400, chunks=50)
    with pytest.raises(ValueError, match="sample_weight must be 1-d and chunked"):
        bdask.MLPClassifier(**PARAMS).fit(Xd, chunked(100, y)[0], sample_weight=sw)
    assert_cluster_empty(client)


class _OtherBlocks:
    """The meta of a dask array whose blocks are neither NumPy nor SciPy
    sparse (a GPU array, say)."""
    dtype = np.dtype(np.float64)
    ndim = 2
    shape = (0, 0)

    def __getitem__(self, key):     # what dask asks of a meta
        return self

    def astype(self, dtype, **kwargs):
        return self


def test_other_chunk_types_are_refused(client, data, no_training):
    X, y = data
    Xd, yd = chunked(100, X, y)
    Xo = Xd.map_blocks(lambda block: block, meta=_OtherBlocks())
    with pytest.raises(TypeError, match="NumPy, SciPy sparse or pydata-sparse chunks.*_OtherBlocks"):
        bdask.MLPClassifier(**PARAMS).fit(Xo, yd)
    assert_cluster_empty(client)


def test_chunk_without_rows(client, data, no_training):
    X, y = data
    rows = (150, 0, 250)
    Xd = da.from_array(X, chunks=(rows, (6,)))
    yd = da.from_array(y, chunks=(rows,))
    with pytest.raises(ValueError, match="chunk 1 of X has no rows"):
        bdask.MLPClassifier(**PARAMS).fit(Xd, yd)
    assert_cluster_empty(client)


def test_one_row_chunks_are_enough(client, data):
    """A chunk needs one row, no more (the kernels' blocks shrink to fit)."""
    X, y = data
    rows = (1, 1, 198, 1, 199)
    model = bdask.MLPClassifier(**PARAMS).fit(da.from_array(X, chunks=(rows, (6,))),
                                              da.from_array(y, chunks=(rows,)))
    reference = bdask.MLPClassifier(**PARAMS).fit(*chunked(400, X, y))
    assert abs(model.loss_ - reference.loss_) < 1e-12 * reference.loss_
    adam = bdask.MLPClassifier(**dict(PARAMS, solver="adam")).fit(
        da.from_array(X, chunks=(rows, (6,))), da.from_array(y, chunks=(rows,)))
    assert len(adam.loss_curve_) == 5
    assert_cluster_empty(client)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_in_a_chunk(client, data, no_training, value):
    X, y = data
    X = X.copy()
    X[333, 2] = value
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(in chunk 3\)"):
        bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, y))
    assert_cluster_empty(client)


def test_nan_in_targets_and_weights(client, data, no_training):
    X, y = data
    bad_y = y.astype(float)
    bad_y[5] = np.nan
    with pytest.raises(ValueError, match=r"y contains NaN or infinity \(in chunk 0\)"):
        bdask.MLPRegressor(**PARAMS).fit(*chunked(100, X, bad_y))
    sw = np.ones(400)
    sw[250] = np.nan
    with pytest.raises(ValueError, match=r"sample_weight contains NaN.*\(in chunk 2\)"):
        bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, y, sw))
    assert_cluster_empty(client)


def test_bad_labels(client, data, no_training):
    X, y = data
    with pytest.raises(ValueError, match="Unknown label type: 'continuous'"):
        bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, y + 0.5))
    with pytest.raises(ValueError, match="fewer than two classes"):
        bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, np.zeros(400)))
    assert_cluster_empty(client)


def test_bad_label_matrices(client, data, no_training):
    X, y = data
    Y = np.column_stack([y, 1 - y, y])
    with pytest.raises(ValueError, match=r"not all 0 or 1"):
        bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, 2 * Y))
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, Y + np.arange(400)[:, None] % 3))
    with pytest.raises(ValueError, match="list of dicts, or the string 'balanced'"):
        bdask.MLPClassifier(**PARAMS, class_weight={0: 2.0}).fit(*chunked(100, X, Y))
    with pytest.raises(ValueError, match="Got 2 element"):
        bdask.MLPClassifier(**PARAMS, class_weight=[{}, {}]).fit(*chunked(100, X, Y))
    assert_cluster_empty(client)


def test_zero_weights(client, data, no_training):
    X, y = data
    with pytest.raises(ValueError, match="sum to zero"):
        bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, y, np.zeros(400)))
    assert_cluster_empty(client)


def test_zero_weight_chunks_are_skipped(client, data):
    """A chunk of zero weight adds nothing (the kernels would divide by its
    zero sum): the fit is that of the other chunks."""
    X, y = data
    sw = np.ones(400)
    sw[:100] = 0.0
    weighted = bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, y, sw))
    rest = bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X[100:], y[100:]))
    for a, b in zip(weighted.coefs_, rest.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert_cluster_empty(client)


def test_error_in_the_users_graph(client, data, no_training):
    X, y = data
    Xd, yd = chunked(100, X, y)

    def explode(block):
        raise RuntimeError("a block cannot be computed")

    with pytest.raises(RuntimeError, match="a block cannot be computed"):
        bdask.MLPClassifier(**PARAMS).fit(
            Xd.map_blocks(explode, meta=np.empty((0, 0))), yd)
    assert_cluster_empty(client)


class Interrupted(Exception):
    pass


def test_error_during_training_cleans_up(client, data, monkeypatch):
    """An error in the middle of training (here raised by the optimizer after
    three evaluations) leaves nothing either."""
    X, y = data
    real = scipy.optimize.minimize

    def failing(fun, x0, **kwargs):
        def counted(x):
            counted.calls += 1
            if counted.calls > 3:
                raise Interrupted("stopped after 3 evaluations")
            return fun(x)
        counted.calls = 0
        return real(counted, x0, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", failing)
    with pytest.raises(Interrupted):
        bdask.MLPClassifier(**PARAMS).fit(*chunked(100, X, y))
    assert_cluster_empty(client)


def test_dropout_needs_a_stochastic_solver(client, data, no_training):
    X, y = data
    with pytest.raises(ValueError, match="dropout is only available"):
        bdask.MLPClassifier(**dict(PARAMS, dropout=0.2)).fit(*chunked(100, X, y))
    assert_cluster_empty(client)
