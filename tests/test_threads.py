"""The thread logic (bpfast/_threads.py, the epoch team's tuner in
bpfast/_kernels.pyx): the default thread count, the budget shared by calls
running at once, and the team's size changing between minibatches without
changing a bit. Decisions only; no timings."""

import os
import subprocess
import sys
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

import bpfast
from bpfast import MLPClassifier, MLPRegressor, _cpus, _kernels, _threads
from bpfast._network import Network, kernel_data

F = _kernels.TUNE_FIELDS


@pytest.fixture(autouse=True)
def no_other_load(monkeypatch):
    """No other process counts in the claims (as on an idle machine), so that
    the budgets the tests set are what they get; the tests of that rule put
    their own load in."""
    monkeypatch.setattr(_cpus, "idle_cpus", lambda own=1, root="/": None)
    monkeypatch.setattr(_cpus, "running_threads", lambda tids, root="/": 0)


# --------------------------------------------------------------------------------------
# The tuner's decisions (tune_step), fed made-up timings
# --------------------------------------------------------------------------------------
def _fresh_tune():
    tune = np.zeros(_kernels.TUNE_SIZE)
    tune[F["left"]] = 4          # what train_epoch sets before a fit's first epoch
    return tune


def _run_modes(tune, n, solo, team, team_waited, rows=100):
    """n minibatches, each of `solo` seconds when the tuner chose thread 0
    alone, else of `team` seconds with `team_waited` seconds in barriers
    (2 threads); the sizes tune_step chose."""
    sizes = []
    for _ in range(n):
        alone = tune[F["mode"]] == 1
        sizes.append(_kernels._tune_step(tune, solo if alone else team, rows,
                                         0.0 if alone else team_waited, 2))
    return sizes


def _run(tune, n, seconds, waited, team=2, rows=100):
    """n minibatches of `seconds` each (rows rows, `waited` seconds in
    barriers for the whole team); the sizes tune_step chose."""
    return [_kernels._tune_step(tune, seconds, rows, waited, team) for _ in range(n)]


def test_tuner_keeps_the_team_on_a_quiet_machine():
    """Short waits: the team throughout, never a probe of going alone, and
    its phases double in length."""
    tune = _fresh_tune()
    sizes = _run(tune, 500, 0.002, 0.0001)
    assert set(sizes) == {2}
    assert tune[F["switches"]] == 0
    assert tune[F["phase"]] >= 128


def test_tuner_goes_alone_when_the_team_waits_and_alone_is_faster():
    """Long waits in the team make thread 0 probe going alone; faster a row
    alone, it stays alone, and later probes the team again, which loses
    again: the phases alone grow (each failed probe costs less often)."""
    tune = _fresh_tune()
    sizes = _run(tune, 4, 0.010, 0.008)               # team: 100 us a row, waits 40%
    assert sizes[-1] == 1 and tune[F["probing"]] == 1
    sizes = _run_modes(tune, 400, 0.004, 0.010, 0.008)
    assert sizes.count(1) > 0.9 * len(sizes)
    assert tune[F["rate_solo"]] == pytest.approx(40e-6)
    assert tune[F["phase"]] >= 64
    # the team was probed again after phases alone, and each probe lost
    assert tune[F["switches"]] >= 4


def test_tuner_returns_to_the_team_when_it_is_faster_again():
    """After going alone, a probe of the team that is faster a row (the
    machine became quiet) brings the team back for good."""
    tune = _fresh_tune()
    _run(tune, 4, 0.010, 0.008)                       # waits: probe alone
    _run_modes(tune, 200, 0.004, 0.002, 0.0)          # now quiet: the team is faster
    assert tune[F["mode"]] == 0
    assert _run(tune, 200, 0.002, 0.0) == [2] * 200


def test_tuner_keeps_the_team_when_its_waits_do_not_make_it_slower():
    """Waits alone do not send the team away: the probe alone, slower a row,
    brings the team back at once."""
    tune = _fresh_tune()
    sizes = _run_modes(tune, 300, 0.009, 0.005, 0.003)
    assert sizes.count(2) > 0.9 * len(sizes)
    assert tune[F["mode"]] == 0


def test_tuner_goes_alone_when_the_team_is_barely_faster():
    """A team under TUNE_TEAM_EDGE (15%) faster a row than thread 0 alone,
    with long waits, loses to going alone: it costs more around its phases
    than they measure, and holds a core for little."""
    tune = _fresh_tune()
    sizes = _run_modes(tune, 400, 0.0100, 0.0092, 0.006)
    assert sizes.count(1) > 0.8 * len(sizes)
    assert tune[F["phase"]] >= 64


def test_tuner_phases_last_a_time_slice():
    """A phase ends only after TUNE_MIN_SECONDS (4 ms) as well as its
    minibatches: thousands of 1-us minibatches with long waits are one
    phase until 4 ms have passed."""
    tune = _fresh_tune()
    sizes = _run(tune, 3000, 1e-6, 0.9e-6)
    assert sizes[:3000] == [2] * 3000
    assert _run(tune, 1500, 1e-6, 0.9e-6)[-1] == 1


# --------------------------------------------------------------------------------------
# The team's size changing between minibatches: the same bits
# --------------------------------------------------------------------------------------
def _epochs(dtype, threads, force, units=(70, 96, 40, 3), n_rows=530, batch=128,
            solver="adam", weighted=False, gather=True, epochs=3, start_alone=False,
            shadow=True, alpha=1e-3, l1_ratio=0.0):
    """params, losses, the optimizer's step and the tuner's state after
    `epochs` train_epoch calls on `threads` threads, the team's size forced to
    switch every `force` minibatches (0: the tuner's own choice)."""
    rng = np.random.RandomState(11)
    X = rng.randn(n_rows, units[0]).astype(dtype)
    Y = np.eye(units[-1], dtype=dtype)[rng.randint(0, units[-1], n_rows)]
    sw = rng.uniform(0.5, 2.0, n_rows).astype(dtype) if weighted else np.zeros(0, dtype)
    net = Network(list(units), "relu", "softmax", dtype)
    net.params[...] = rng.uniform(-0.1, 0.1, net.n_params)
    layout = net.layout(batch, units[0])
    params = net.params.copy()
    grads, s1, s2 = (np.zeros(net.n_params, dtype) for _ in range(3))
    work = np.full(layout.work_len, np.nan, dtype)
    shadow_v = np.full(net.n_params if shadow and threads > 1 else 0, np.nan, dtype)
    step = np.zeros(2, np.intp)
    tune = np.zeros(_kernels.TUNE_SIZE)
    tune[F["force"]] = force
    if start_alone:
        tune[F["mode"]] = 1
    context = _kernels.FitContext(
        layout, params, grads, work, s1, s2, step, solver=solver, batch_size=batch,
        learning_rate=0.01, shadow=shadow_v, tune=tune, alpha=alpha, l1_ratio=l1_ratio,
        seed=11)
    data = kernel_data(X, Y, sw)
    losses = []
    for _ in range(epochs):
        order = (rng.permutation(n_rows) if gather else np.arange(n_rows)).astype(np.intp)
        losses.append(_kernels.train_epoch(context, data, order, gather, threads))
    return params, losses, step.copy(), tune


@pytest.fixture
def budget_of_two():
    saved = _kernels.tile_budget()
    _kernels.set_tile_budget(2)
    yield
    _kernels.set_tile_budget(saved)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("force", [1, 2, 3])
def test_team_size_switching_keeps_the_bits(budget_of_two, dtype, solver, force):
    """The team on 2 threads, its size switched between 2 and 1 every
    `force` minibatches (threads parking and called back with the epoch's
    state: which vector holds the parameters, where W_0 stands), gives the
    bits of one thread: every solver, both dtypes, an epoch that ends alone
    or together, a last short minibatch, sample weights, the L1 penalty."""
    kw = dict(solver=solver, weighted=force == 2, l1_ratio=0.5 if force == 3 else 0.0)
    one = _epochs(dtype, 1, 0, **kw)
    two = _epochs(dtype, 2, force, **kw)
    assert two[3][F["switches"]] >= 4
    assert np.all(np.isfinite(one[0]))
    assert np.array_equal(two[0], one[0])
    assert two[1] == one[1]
    assert np.array_equal(two[2], one[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("force,start_alone", [(1, False), (2, True), (5, True)])
def test_team_size_switching_keeps_the_bits_with_input_halves(budget_of_two, dtype,
                                                              force, start_alone):
    """Where layer 0's product is made in two halves of its inputs (W_0 kept
    in params), rows read in place and an epoch that starts alone."""
    kw = dict(units=(384, 160, 24, 4), gather=not start_alone)
    net = Network([384, 160, 24, 4], "relu", "softmax", dtype)
    assert _kernels._input_halves(net.meta(128, 384)[0], 128)
    one = _epochs(dtype, 1, 0, **kw)
    two = _epochs(dtype, 2, force, start_alone=start_alone, **kw)
    assert two[3][F["switches"]] >= 2
    assert np.array_equal(two[0], one[0])
    assert two[1] == one[1]


def test_team_size_switching_without_a_shadow(budget_of_two):
    one = _epochs(np.float64, 1, 0, shadow=False)
    two = _epochs(np.float64, 2, 1, shadow=False)
    assert np.array_equal(two[0], one[0]) and two[1] == one[1]


def test_the_tuner_in_a_fit_changes_no_bit(budget_of_two, monkeypatch):
    """Through the estimator: a fit whose team switches every minibatch
    equals the one-thread fit; and the estimator keeps the tuner's state
    from epoch to epoch (and partial_fit to partial_fit)."""
    from bpfast import _solvers

    rng = np.random.RandomState(0)
    X = rng.randn(700, 64)
    y = rng.randint(0, 10, 700)
    kw = dict(hidden_layer_sizes=(100,), max_iter=4, random_state=0, batch_size=100)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MLPClassifier(**kw).fit(X, y)
    init = _solvers.StochasticOptimizer.__init__

    def forced(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.tune[F["force"]] = 1

    monkeypatch.setattr(_solvers.StochasticOptimizer, "__init__", forced)
    with threadpool_limits(2), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(**kw).fit(X, y)
    assert clf._optimizer.tune[F["switches"]] >= 20
    for a, b in zip(clf.coefs_ + clf.intercepts_, ref.coefs_ + ref.intercepts_):
        assert np.array_equal(a, b)
    assert clf.loss_curve_ == ref.loss_curve_


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_threads_changing_from_call_to_call_keep_the_bits(monkeypatch, sparse, estimator,
                                                          solver):
    """A fit whose epochs (L-BFGS: evaluations) get 2, 1, 2, 1, ... threads,
    as under a budget shared with other calls, equals the one-thread fit:
    dense and sparse, both estimators, float32 and float64."""
    from bpfast import _mlp, _solvers

    rng = np.random.RandomState(1)
    for dtype in (np.float32, np.float64):
        X = rng.randn(600, 80).astype(dtype)
        if sparse:
            X[X < 0.5] = 0
            X = sp.csr_matrix(X)
        y = rng.randint(0, 4, 600) if estimator == "classifier" else rng.randn(600)
        cls = MLPClassifier if estimator == "classifier" else MLPRegressor
        kw = dict(hidden_layer_sizes=(64, 32), solver=solver, max_iter=5, random_state=0,
                  batch_size=128)
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = cls(**kw).fit(X, y)
        calls = []
        real = _threads.claim_threads

        def alternating(wanted):
            calls.append(wanted)
            return real(2 if len(calls) % 2 else 1)

        with monkeypatch.context() as m:
            m.setattr(_mlp, "claim_threads", alternating)
            m.setattr(_solvers, "claim_threads", alternating)
            with threadpool_limits(2), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf = cls(**kw).fit(X, y)
        assert len(calls) >= 5
        for a, b in zip(clf.coefs_ + clf.intercepts_, ref.coefs_ + ref.intercepts_):
            assert a.dtype == dtype
            assert np.array_equal(a, b)
        assert clf.loss_ == ref.loss_


# --------------------------------------------------------------------------------------
# The budget shared by calls running at once
# --------------------------------------------------------------------------------------
def _claim_spy(on_grant):
    """A stand-in for claim_threads that calls on_grant(wanted, granted)
    once the real claim has granted its threads."""
    real = _threads.claim_threads

    @contextmanager
    def spy(wanted):
        with real(wanted) as granted:
            on_grant(wanted, granted)
            yield granted
    return spy


def test_claims_share_the_budget(monkeypatch):
    monkeypatch.setattr(_threads, "kernel_threads", lambda: 4)
    assert _threads.threads_claimed() == 0
    with _threads.claim_threads(3) as a:
        assert a == 3
        with _threads.claim_threads(4) as b:
            assert b == 1                      # what is left
            with _threads.claim_threads(4) as c:
                assert c == 1                  # never less than its own thread
                assert _threads.threads_claimed() == 5
        with _threads.claim_threads(4) as d:
            assert d == 1
        assert _threads.threads_claimed() == 3
    with _threads.claim_threads(0) as e:
        assert e == 1
    assert _threads.threads_claimed() == 0
    with pytest.raises(RuntimeError):
        with _threads.claim_threads(2):
            raise RuntimeError
    assert _threads.threads_claimed() == 0


def test_claims_leave_the_cpus_other_processes_use(monkeypatch):
    """No more threads than the CPUs other processes leave idle, counting the
    calls' own threads (the claiming one and those claimed) as this
    process's; no load figure: the budget alone; at least one thread."""
    monkeypatch.setattr(_threads, "kernel_threads", lambda: 8)
    asked = []
    idle = {"n": 3}

    def fake_idle(own=1, root="/"):
        asked.append(own)
        return idle["n"]

    monkeypatch.setattr(_cpus, "idle_cpus", fake_idle)
    with _threads.claim_threads(8) as a:
        assert a == 3 and asked == [1]
        idle["n"] = 5                          # 5 CPUs not running others' tasks
        with _threads.claim_threads(8) as b:
            assert b == 2 and asked[-1] == 4   # 3 of them this process's
        idle["n"] = 0
        with _threads.claim_threads(8) as c:
            assert c == 1                      # its own thread, always
    with _threads.claim_threads(1) as d:       # one thread: no load read
        assert d == 1 and len(asked) == 3
    idle["n"] = None
    with _threads.claim_threads(8) as e:
        assert e == 8
    assert _threads.threads_claimed() == 0


def test_a_fit_too_small_to_share_claims_one_thread(monkeypatch):
    """An epoch that runs as a team of one (under 2 MFLOP a minibatch)
    claims one thread, and a fit without validation data claims nothing
    else: no load is read for them (a read costs ~25 us; an iris epoch
    ~120 us)."""
    from bpfast import _mlp

    wanted = []
    monkeypatch.setattr(_mlp, "claim_threads", _claim_spy(lambda w, g: wanted.append(w)))
    monkeypatch.setattr(_cpus, "idle_cpus",
                        lambda own=1, root="/": pytest.fail("load read"))
    rng = np.random.RandomState(0)
    X, y = rng.randn(150, 4), rng.randint(0, 3, 150)
    with threadpool_limits(2), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(max_iter=20, random_state=0).fit(X, y)
    assert len(wanted) == 20 and set(wanted) == {1}


def test_claims_count_the_kernels_own_threads_as_this_processs(monkeypatch):
    """The kernels' OpenMP threads that still run after their last region
    (libgomp spins before it sleeps) are this process's, not load: they go
    into `own`."""
    monkeypatch.setattr(_threads, "kernel_threads", lambda: 4)
    monkeypatch.setattr(_kernels, "worker_tids", lambda: [101, 102, 103])
    monkeypatch.setattr(_cpus, "running_threads", lambda tids: len(tids) - 1)
    asked = []
    monkeypatch.setattr(_cpus, "idle_cpus",
                        lambda own=1, root="/": asked.append(own) or 4)
    with _threads.claim_threads(4) as n:
        assert n == 4 and asked == [1 + 2]


@pytest.mark.openmp_threads
def test_the_kernels_note_their_openmp_threads():
    """After a region on 2 threads, the other thread's kernel id is noted:
    a thread of this process, not the calling one."""
    if not os.path.exists("/proc/self/task"):
        pytest.skip("no /proc/self/task here")
    x = np.ones(4 * _kernels.PARALLEL_MIN)
    with threadpool_limits(2):
        assert _kernels.all_finite(x, 2)
    tids = _kernels.worker_tids()
    assert tids and threading.get_native_id() not in tids
    assert all(os.path.exists("/proc/self/task/%d" % t) for t in tids)


@pytest.mark.openmp_threads
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_a_busy_machine_gets_one_thread_and_the_same_bits(monkeypatch, solver):
    """Every claim of a fit and of a large prediction takes the load into
    account (here: every CPU busy), and the results are the same bits as
    with the whole budget."""
    from bpfast import _mlp, _solvers

    rng = np.random.RandomState(3)
    X, y = rng.randn(3000, 40), rng.randint(0, 4, 3000)
    kw = dict(hidden_layer_sizes=(96,), solver=solver, max_iter=4, random_state=0)
    granted = []

    def note(wanted, got):
        if wanted > 1:     # calls that can use more than one thread
            granted.append(got)

    Spy = _claim_spy(note)
    monkeypatch.setattr(_mlp, "claim_threads", Spy)
    monkeypatch.setattr(_solvers, "claim_threads", Spy)
    runs = []
    for idle in (None, 0):
        monkeypatch.setattr(_cpus, "idle_cpus", lambda own=1, root="/", n=idle: n)
        granted.clear()
        with threadpool_limits(2), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = MLPClassifier(**kw).fit(X, y)
            proba = clf.predict_proba(X)
        assert granted and set(granted) == ({2} if idle is None else {1})
        runs.append((clf, proba))
    (a, pa), (b, pb) = runs
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert np.array_equal(u, v)
    assert np.array_equal(pa, pb)


@pytest.mark.openmp_threads
def test_fits_in_parallel_threads_never_exceed_the_budget(monkeypatch):
    """Four fits at once in four Python threads under a budget of 2: each
    epoch takes a team only from the budget the others left, else runs on
    its own thread, so the threads beyond the calling ones never exceed
    budget - 1; everything is given back, and the fits are the same."""
    from bpfast import _mlp

    monkeypatch.setattr(_threads, "kernel_threads", lambda: 2)
    seen, lock = [], threading.Lock()

    def watch(wanted, granted):
        with lock:
            running = sum(t.is_alive() for t in workers)
            seen.append((granted, _threads.threads_claimed(), running, wanted))
        time.sleep(0.002)

    Watched = _claim_spy(watch)
    monkeypatch.setattr(_mlp, "claim_threads", Watched)
    rng = np.random.RandomState(0)
    X, y = rng.randn(400, 64), rng.randint(0, 10, 400)
    fitted = []

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted.append(MLPClassifier((100,), max_iter=5, random_state=0).fit(X, y))

    workers = [threading.Thread(target=fit) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(fitted) == 4 and len(seen) >= 20
    for granted, claimed, running, wanted in seen:
        # a team only from what the others left, else the call's own thread
        # (epochs want the budget; the end-of-epoch step without validation
        # data wants one thread)
        assert granted == max(1, min(wanted, 2 - (claimed - granted)))
        # so at most one extra thread beyond the calling threads, ever
        assert claimed <= running + 1
    # some epochs ran while others held the budget: they got one thread
    assert any(granted == 1 for granted, _, _, wanted in seen if wanted == 2)
    assert _threads.threads_claimed() == 0
    for clf in fitted[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(clf.coefs_, fitted[0].coefs_))


# --------------------------------------------------------------------------------------
# The default thread count
# --------------------------------------------------------------------------------------
def _child(code, env_update=None, drop=("OMP_NUM_THREADS",)):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_update or {})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.openmp_threads
def test_default_threads_follow_the_affinity_mask():
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs an affinity mask of two CPUs or more")
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
            "from bpfast._threads import kernel_threads; print(kernel_threads())")
    assert _child(code) == "1"
    code = "from bpfast._threads import kernel_threads; print(kernel_threads())"
    assert int(_child(code)) == len(os.sched_getaffinity(0))


@pytest.mark.openmp_threads
def test_omp_num_threads_and_threadpoolctl_win():
    code = "from bpfast._threads import kernel_threads; print(kernel_threads())"
    assert _child(code, {"OMP_NUM_THREADS": "3"}) == "3"
    code = ("from threadpoolctl import threadpool_limits\n"
            "from bpfast._threads import kernel_threads\n"
            "with threadpool_limits(1): print(kernel_threads())")
    assert _child(code) == "1"


def _worker_threads(_):
    from bpfast._threads import kernel_threads

    return kernel_threads(), os.environ.get("OMP_NUM_THREADS")


def test_loky_workers_limits_are_respected():
    """joblib's loky workers (cross_val_score(n_jobs=2) and the like) get
    OMP_NUM_THREADS = cpu_count // n_jobs from joblib: bpfast uses that."""
    from joblib import Parallel, delayed

    got = Parallel(n_jobs=2, backend="loky")(delayed(_worker_threads)(i) for i in range(2))
    for threads, env in got:
        assert env is not None
        assert threads == int(env)

