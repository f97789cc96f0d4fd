"""A worker killed in the middle of a bpfast.dask fit (os._exit in a worker
process of a LocalCluster with nannies): the fit goes on, the lost chunks
recomputed from the graph and the shards started again where the chunks
then are, and ends with the same bits as an undisturbed fit."""

import time

import numpy as np
import pytest
import scipy.optimize
from sklearn.datasets import make_classification

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
bdask = pytest.importorskip("bpfast.dask")
from bpfast.dask import _shards, _stochastic  # noqa: E402
from distributed.comm.core import CommClosedError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        with client.as_current():
            yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def parts():
    X, y = make_classification(n_samples=800, n_features=8, n_classes=3,
                               n_informative=5, random_state=0)
    return da.from_array(X, chunks=(100, 8)), da.from_array(y, chunks=100)


def same_bits(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.coefs_ + a.intercepts_,
                                                    b.coefs_ + b.intercepts_))


def kill_a_worker_soon(client, delay):
    """os._exit in the first worker `delay` seconds from now; returns at once."""
    def exit_later(delay):
        import os
        import threading
        threading.Timer(delay, os._exit, (1,)).start()

    victim = sorted(client.nthreads())[0]
    client.run(exit_later, delay, workers=[victim])
    return victim


def kill_a_worker(client, timeout=20):
    """os._exit in the first worker; returns once the scheduler has seen it
    go (its nanny then starts another one)."""
    def exit_soon():
        import os
        import threading
        threading.Timer(0.05, os._exit, (1,)).start()

    victim = sorted(client.nthreads())[0]
    try:
        client.run(exit_soon, workers=[victim])
    except CommClosedError:
        pass    # on a loaded machine the worker may be gone before its reply is
    deadline = time.monotonic() + timeout
    while victim in client.nthreads():
        assert time.monotonic() < deadline, "the worker did not die"
        time.sleep(0.05)
    return victim


def wait_for_two_workers(client, timeout=30):
    client.wait_for_workers(2, timeout=timeout)


def assert_cluster_empty(client, patience=10.0):
    """No task on the scheduler and no actor on the workers once the fit is
    over, the restarted shards included."""
    deadline = time.monotonic() + patience
    while True:
        tasks = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        actors = sum(client.run(lambda dask_worker: len(dask_worker.state.actors)).values())
        if (tasks, actors) == (0, 0):
            return
        assert time.monotonic() < deadline, f"left: {tasks} tasks, {actors} actors"
        time.sleep(0.1)


def test_worker_processes_compute_the_in_memory_bits(client, parts):
    """In worker processes (one OpenMP thread each: the nanny's
    OMP_NUM_THREADS=1) one chunk still gives the in-memory fit's bits (the
    kernels' results do not depend on their thread count)."""
    import bpfast

    X, y = (p.compute() for p in parts)
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=15, random_state=0)
    fitted = bdask.MLPClassifier(**params).fit(da.from_array(X, chunks=(800, 8)),
                                               da.from_array(y, chunks=800))
    assert same_bits(fitted, bpfast.MLPClassifier(**params).fit(X, y))


def test_lbfgs_survives_a_killed_worker(client, parts, monkeypatch):
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=25, tol=0.0,
                  random_state=0)
    undisturbed = bdask.MLPClassifier(**params).fit(*parts)
    assert undisturbed.n_restarts_ == 0
    real = scipy.optimize.minimize
    killed = []

    def minimize(fun, x0, **kwargs):
        def evaluate(x):
            evaluate.calls += 1
            if evaluate.calls == 6:
                killed.append(kill_a_worker(client))
            return fun(x)
        evaluate.calls = 0
        return real(evaluate, x0, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    start = time.monotonic()
    disturbed = bdask.MLPClassifier(**params).fit(*parts)
    elapsed = time.monotonic() - start
    assert killed and disturbed.n_restarts_ >= 1
    assert killed[0] not in client.nthreads()
    assert same_bits(undisturbed, disturbed)
    assert disturbed.loss_ == undisturbed.loss_ and disturbed.n_iter_ == 25
    assert elapsed < 60
    wait_for_two_workers(client)
    assert_cluster_empty(client)


def test_adam_survives_a_killed_worker(client, parts, monkeypatch):
    params = dict(hidden_layer_sizes=(16,), solver="adam", max_iter=6,
                  learning_rate_init=0.01, random_state=0)
    undisturbed = bdask.MLPClassifier(**params).fit(*parts)
    real = _stochastic.fit_stochastic

    class KillingPool:
        """The pool, with a worker killed before the third epoch's call."""
        def __init__(self, pool):
            self.pool, self.calls = pool, 0

        def reduce(self, *args):
            self.calls += 1
            if self.calls == 3:
                kill_a_worker(client)
            return self.pool.reduce(*args)

    monkeypatch.setattr(_stochastic, "fit_stochastic",
                        lambda est, pool, net, n: real(est, KillingPool(pool), net, n))
    disturbed = bdask.MLPClassifier(**params).fit(*parts)
    assert disturbed.n_restarts_ >= 1
    assert same_bits(undisturbed, disturbed)
    assert disturbed.loss_curve_ == undisturbed.loss_curve_
    wait_for_two_workers(client)


def slow_shard_class(seconds):
    """A Shard that takes `seconds` longer to answer an evaluation (defined
    here, so that cloudpickle ships the class itself to the workers)."""
    class SlowShard(_shards.Shard):
        def loss_gradient(self, x):
            time.sleep(seconds)
            return super().loss_gradient(x)
    return SlowShard


def test_death_during_an_evaluation(client, parts, monkeypatch):
    """The worker dies while the client waits for its shard's answer: the
    call, which would never be answered, is given up and repeated."""
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=6, tol=0.0,
                  random_state=0)
    undisturbed = bdask.MLPClassifier(**params).fit(*parts)
    monkeypatch.setattr(_shards, "Shard", slow_shard_class(0.5))
    real = scipy.optimize.minimize

    def minimize(fun, x0, **kwargs):
        def evaluate(x):
            evaluate.calls += 1
            if evaluate.calls == 3:
                kill_a_worker_soon(client, 0.2)
            return fun(x)
        evaluate.calls = 0
        return real(evaluate, x0, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    disturbed = bdask.MLPClassifier(**params).fit(*parts)
    assert disturbed.n_restarts_ == 1
    assert same_bits(undisturbed, disturbed) and disturbed.loss_ == undisturbed.loss_
    wait_for_two_workers(client)
