"""bpfast.dask's stochastic solvers: chunk-averaged epochs (see
bpfast/dask/_stochastic.py). A different model from the in-memory fit, so
these tests check what the semantics promise: the same bits for the same
chunking and seed on any number of workers, the in-memory fit's
bookkeeping (loss_curve_, t_, stopping, schedules), and a loss that
learns like the in-memory fit's."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

import bpfast

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
bdask = pytest.importorskip("bpfast.dask")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
PARAMS = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=8,
              random_state=0)


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
    X, y = make_classification(n_samples=1200, n_features=10, n_informative=6,
                               n_classes=3, random_state=0)
    return X, y


def chunked(rows, *arrays):
    return [da.from_array(a, chunks=(rows,) + a.shape[1:]) for a in arrays]


def same_bits(a, b):
    return (all(np.array_equal(x, y) for x, y in zip(a.coefs_ + a.intercepts_,
                                                     b.coefs_ + b.intercepts_))
            and a.loss_curve_ == b.loss_curve_)


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_same_bits_for_the_same_chunks_and_seed(client, data, solver):
    X, y = data
    params = dict(PARAMS, solver=solver)
    parts = chunked(300, X, y)
    first = bdask.MLPClassifier(**params).fit(*parts)
    assert same_bits(first, bdask.MLPClassifier(**params).fit(*parts))
    other_seed = bdask.MLPClassifier(**dict(params, random_state=1)).fit(*parts)
    assert not same_bits(first, other_seed)
    assert first.n_iter_ == 8 and len(first.loss_curve_) == 8
    assert first.t_ == 8 * 1200
    assert first.loss_curve_[-1] < first.loss_curve_[0]


def test_same_bits_on_one_worker(client, data):
    X, y = data
    params = dict(PARAMS, solver="adam")
    parts = chunked(250, X, y)
    two = bdask.MLPClassifier(**params).fit(*parts)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1,
                                       processes=False, dashboard_address=None)
    try:
        with distributed.Client(cluster, set_as_default=False) as one, one.as_current():
            alone = bdask.MLPClassifier(**params).fit(*parts)
    finally:
        cluster.close()
    assert same_bits(two, alone)


def test_one_chunk_learns_as_in_memory(client, data):
    """One chunk is one pass of minibatches over all rows an epoch, in another
    shuffled order than the in-memory fit's: the same loss to a few percent."""
    X, y = data
    params = dict(PARAMS, solver="adam", max_iter=15)
    in_memory = bpfast.MLPClassifier(**params).fit(X, y)
    fitted = bdask.MLPClassifier(**params).fit(*chunked(1200, X, y))
    curve, reference = np.array(fitted.loss_curve_), np.array(in_memory.loss_curve_)
    assert np.all(np.abs(curve - reference) < 0.1 * reference)
    assert abs(fitted.score(X, y) - in_memory.score(X, y)) < 0.03


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_one_chunk_unshuffled_is_bit_for_bit(client, data, solver):
    """Without shuffling, one chunk's epoch is the in-memory fit's epoch: the
    same minibatches in the same order, the same kernels, so the same bits.
    (With shuffling only the order differs: the chunk's own seed.)"""
    X, y = data
    params = dict(PARAMS, solver=solver, shuffle=False)
    in_memory = bpfast.MLPClassifier(**params).fit(X, y)
    fitted = bdask.MLPClassifier(**params).fit(*chunked(1200, X, y))
    assert same_bits(in_memory, fitted)
    assert fitted.t_ == in_memory.t_ and fitted.n_iter_ == in_memory.n_iter_


def test_several_chunks_learn(client, data):
    """Four replicas averaged once an epoch learn more slowly an epoch than
    one pass over all rows (each took a quarter of the steps), but learn."""
    X, y = data
    params = dict(PARAMS, solver="adam", max_iter=30)
    in_memory = bpfast.MLPClassifier(**params).fit(X, y)
    fitted = bdask.MLPClassifier(**params).fit(*chunked(300, X, y))
    curve = np.array(fitted.loss_curve_)
    assert np.all(np.diff(curve) < 0)
    assert curve[-1] < 0.5 * curve[0]
    assert fitted.score(X, y) > in_memory.score(X, y) - 0.1


def test_stopping_rule_and_schedules(client, data):
    X, y = data
    parts = chunked(400, X, y)
    stopped = bdask.MLPClassifier(**dict(PARAMS, solver="adam", max_iter=50, tol=0.5,
                                         n_iter_no_change=2)).fit(*parts)
    # the in-memory rule: stop once the loss has failed to improve by tol
    # more than n_iter_no_change epochs in a row
    assert stopped.n_iter_ == 4
    assert stopped.best_loss_ == min(stopped.loss_curve_)
    adaptive = bdask.MLPClassifier(**dict(PARAMS, solver="sgd", learning_rate="adaptive",
                                          max_iter=12, tol=0.5, n_iter_no_change=1)
                                   ).fit(*parts)
    assert adaptive._optimizer.learning_rate < 0.01
    invscaling = bdask.MLPClassifier(**dict(PARAMS, solver="sgd",
                                            learning_rate="invscaling")).fit(*parts)
    assert invscaling._optimizer.learning_rate == pytest.approx(
        0.01 / (8 * 1200 + 1) ** 0.5)


def test_sample_weight_float32_and_regressor(client, data):
    X, y = data
    sw = np.random.default_rng(0).uniform(0.5, 2.0, 1200)
    parts = chunked(300, X.astype(np.float32), y, sw)
    weighted = bdask.MLPClassifier(**dict(PARAMS, solver="rmsprop")).fit(*parts)
    assert weighted.coefs_[0].dtype == np.float32
    assert same_bits(weighted, bdask.MLPClassifier(**dict(PARAMS, solver="rmsprop")
                                                   ).fit(*parts))
    Xr, yr = make_regression(n_samples=800, n_features=6, noise=2.0, random_state=1)
    yr = (yr - yr.mean()) / yr.std()
    reg = bdask.MLPRegressor(**dict(PARAMS, solver="adam", max_iter=20)).fit(
        *chunked(200, Xr, yr))
    assert reg.loss_curve_[-1] < 0.5 * reg.loss_curve_[0]
    assert reg.score(Xr, yr) > 0.8


def test_continues_in_memory(client, data):
    """The fitted optimizer is bpfast's: partial_fit on NumPy rows goes on."""
    X, y = data
    fitted = bdask.MLPClassifier(**dict(PARAMS, solver="adam")).fit(*chunked(300, X, y))
    t = fitted._optimizer.step[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.partial_fit(X[:200], y[:200])
    assert fitted._optimizer.step[0] == t + 1
    with pytest.raises(TypeError, match="partial_fit takes NumPy input"):
        fitted.partial_fit(*chunked(300, X, y))


def test_verbose_prints_the_in_memory_lines(client, data, capsys, monkeypatch):
    monkeypatch.setenv("BPFAST_PROGRESS", "plain")
    X, y = data
    fitted = bdask.MLPClassifier(**dict(PARAMS, solver="sgd", verbose=True, max_iter=3)
                                 ).fit(*chunked(400, X, y))
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["Iteration %d, loss = %.8f" % (i + 1, loss)
                     for i, loss in enumerate(fitted.loss_curve_)]


def test_early_stopping_is_refused(client, data):
    X, y = data
    with pytest.raises(ValueError, match="early_stopping"):
        bdask.MLPClassifier(**dict(PARAMS, early_stopping=True)).fit(*chunked(300, X, y))
