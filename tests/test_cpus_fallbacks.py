"""bpfast._cpus where /proc, sysfs and the cgroup files cannot be read, as on
macOS and Windows (or in a sandbox): every read under /proc and /sys is
refused (os.open and open() raise PermissionError or FileNotFoundError),
os.sched_getaffinity is taken away (macOS, Windows) and os.getloadavg is
faked (macOS: a known load) or taken away (Windows). Nothing may raise, the
thread budget stays within the machine's CPUs, the load comes from
os.getloadavg(), and a fit gives the same bits as with every reading there."""
import builtins
import errno
import math
import os
import threading
import warnings

import numpy as np
import pytest

import bpfast
from bpfast import _cpus, _kernels, _threads

CPUS = max(1, os.cpu_count() or 1)
REFUSED = ("/proc", "/sys")


def _refused(path):
    try:
        path = os.path.abspath(os.fsdecode(path))
    except TypeError:   # open() of a file descriptor
        return False
    return any(path == top or path.startswith(top + "/") for top in REFUSED)


class NoProc:
    """Every read under /proc and /sys raises `exc`; no affinity mask; a load
    average of `load` (None: no os.getloadavg at all). `refused` lists the
    paths whose reads were refused, `load_reads` counts os.getloadavg calls."""

    def __init__(self, monkeypatch, exc):
        self.refused = []
        self.load_reads = 0
        self.load = 0.0
        self._monkeypatch = monkeypatch
        code = errno.ENOENT if exc is FileNotFoundError else errno.EACCES
        real_os_open, real_open, real_isdir = os.open, builtins.open, os.path.isdir

        def refuse(path):
            self.refused.append(os.fsdecode(path))
            raise exc(code, os.strerror(code), os.fsdecode(path))

        def os_open(path, *args, **kwargs):
            if _refused(path):
                refuse(path)
            return real_os_open(path, *args, **kwargs)

        def open_(file, *args, **kwargs):
            if _refused(file):
                refuse(file)
            return real_open(file, *args, **kwargs)

        def isdir(path):
            # a missing tree is not there at all; an unreadable one is
            if exc is FileNotFoundError and _refused(path):
                return False
            return real_isdir(path)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(os.path, "isdir", isdir)
        monkeypatch.delattr(os, "sched_getaffinity", raising=False)
        if hasattr(os, "process_cpu_count"):   # 3.13 on: an alias of cpu_count there
            monkeypatch.setattr(os, "process_cpu_count", os.cpu_count)
        monkeypatch.setattr(os, "getloadavg", self._getloadavg, raising=False)
        monkeypatch.setattr(_cpus, "_cache", {})

    def _getloadavg(self):
        self.load_reads += 1
        return (self.load, self.load, self.load)

    def no_load_average(self):
        """As on Windows: no os.getloadavg."""
        self._monkeypatch.delattr(os, "getloadavg", raising=False)


@pytest.fixture(params=[PermissionError, FileNotFoundError])
def no_proc(request, monkeypatch):
    # SciPy's BLAS, found once for the process, before the reads are
    # refused: threadpoolctl finds it without /proc on macOS and Windows
    # (fresh_blas below looks again without /proc, as on Linux)
    _threads._pin_functions()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return NoProc(monkeypatch, request.param)


@pytest.fixture
def own_load(monkeypatch):
    """This process's own part of the load average, set by the test."""
    own = [0.0]
    monkeypatch.setattr(_cpus, "_own_load", lambda: own[0])
    return own


# -- the CPUs the process may use -----------------------------------------------------
def test_cpu_limits_without_proc_sysfs_or_affinity(no_proc):
    """No cgroup file can be read and there is no affinity mask: no quota,
    and the machine's CPUs; the reads were tried (Linux) and refused."""
    lim = _cpus.cpu_limits()
    assert lim.quota is None and lim.quota_file is None
    assert lim.files_read == ()
    assert lim.affinity == lim.usable == CPUS
    assert _cpus.usable_cpus(max_age=0) == CPUS
    assert "/proc/self/cgroup" in no_proc.refused


def test_thread_budget_without_proc_sysfs_or_affinity(no_proc):
    """The kernels' budget: at least 1, at most the machine's CPUs, and what
    OpenMP allows of them."""
    budget = _threads.kernel_threads()
    assert 1 <= budget <= CPUS
    assert budget == min(max(1, _kernels.max_threads()), CPUS)
    assert _cpus.default_threads(10 * CPUS, env={}) == CPUS
    assert _cpus.default_threads(1, env={}) == 1
    assert _cpus.default_threads(3 * CPUS, env={"OMP_NUM_THREADS": "7"}) == 3 * CPUS


def test_show_config_without_proc_sysfs_or_affinity(no_proc, capsys):
    threads = bpfast.show_config(mode="dicts")["threads"]
    assert threads["usable_cpus"] == threads["affinity"] == CPUS
    assert threads["cgroup_quota"] is None
    bpfast.show_config()
    assert "usable CPUs: %d (affinity mask %d" % (CPUS, CPUS) in capsys.readouterr().out


# -- the load: os.getloadavg() where /proc/loadavg cannot be read ----------------------
@pytest.mark.parametrize("load, idle", [(0.0, 8), (0.4, 8), (1.0, 7), (2.4, 6), (2.6, 5),
                                        (7.9, 0), (8.0, 0), (40.0, 0)])
def test_idle_cpus_follows_getloadavg(no_proc, own_load, monkeypatch, tmp_path, load,
                                      idle):
    monkeypatch.setattr(_cpus, "_MACHINE_CPUS", 8)
    no_proc.load = load
    assert _cpus.idle_cpus() == idle
    assert "/proc/loadavg" in no_proc.refused
    assert no_proc.load_reads == 1
    # a tree without /proc/loadavg at all: the same
    assert _cpus.idle_cpus(own=3, root=str(tmp_path)) == idle
    assert no_proc.load_reads == 2


@pytest.mark.parametrize("load, own, idle", [(3.0, 2.0, 7), (2.0, 2.0, 8), (1.5, 2.0, 8),
                                             (6.3, 1.0, 3)])
def test_idle_cpus_takes_this_process_out_of_the_load(no_proc, own_load, monkeypatch,
                                                      load, own, idle):
    """This process's own threads are in the load average too: its own part
    (_own_load) does not count as other processes' load."""
    monkeypatch.setattr(_cpus, "_MACHINE_CPUS", 8)
    no_proc.load = load
    own_load[0] = own
    assert _cpus.idle_cpus() == idle


def test_own_load_averages_cpu_time_as_the_load_average(monkeypatch):
    """_OwnLoad: the CPUs this process kept busy, its CPU time over wall
    time, decayed as the 1-minute load average decays (exp(-t / 60 s))."""
    clock = {"wall": 1000.0, "cpu": 50.0}
    monkeypatch.setattr(_cpus, "_clock", lambda: clock["wall"])
    monkeypatch.setattr(_cpus, "_cpu_clock", lambda: clock["cpu"])
    own = _cpus._OwnLoad()
    assert own() == 0.0                 # nothing has run since the start
    for _ in range(12):                 # a minute on 2 CPUs, read every 5 s
        clock["wall"] += 5.0
        clock["cpu"] += 10.0
        own()
    assert own() == pytest.approx(2.0 * (1 - math.exp(-1.0)))
    for _ in range(120):                # ten more minutes: all but 2
        clock["wall"] += 5.0
        clock["cpu"] += 10.0
        own()
    assert own() == pytest.approx(2.0, abs=1e-3)
    clock["wall"] += 60.0               # a quiet minute, read once at its end
    assert own() == pytest.approx(2.0 * math.exp(-1.0), abs=1e-3)
    clock["wall"] -= 30.0               # a clock that goes back: no change,
    assert own() == pytest.approx(2.0 * math.exp(-1.0), abs=1e-3)
    clock["wall"] += 60.0               # and the count goes on from there
    assert own() == pytest.approx(2.0 * math.exp(-2.0), abs=1e-3)


def test_own_load_of_this_process_is_sane():
    own = _cpus._OwnLoad()
    end = _cpus._clock() + 0.05
    while _cpus._clock() < end:         # keep one CPU busy a while
        pass
    assert 0.0 <= own() <= CPUS


def test_idle_cpus_without_a_load_average_is_none(no_proc, own_load):
    """Windows: no /proc/loadavg and no os.getloadavg: no load known."""
    no_proc.no_load_average()
    assert _cpus.idle_cpus() is None
    assert "/proc/loadavg" in no_proc.refused


@pytest.mark.parametrize("value", ["raise", math.nan, math.inf, -1.0, ()])
def test_idle_cpus_with_a_failing_load_average_is_none(no_proc, own_load, monkeypatch,
                                                       value):
    def getloadavg():
        if value == "raise":
            raise OSError("Load averages are unobtainable")
        return value if value == () else (value, value, value)
    monkeypatch.setattr(os, "getloadavg", getloadavg)
    assert _cpus.idle_cpus() is None


# -- the kernels' threads' states -----------------------------------------------------
def test_running_threads_without_proc(no_proc, tmp_path):
    """No /proc/self/task/<tid>/stat: no thread counts as running."""
    me = threading.get_native_id()
    assert _cpus.running_threads([me, me + 1]) == 0
    assert any(p.startswith("/proc/self/task/") for p in no_proc.refused)
    assert _cpus.running_threads([me], root=str(tmp_path)) == 0
    assert _cpus.running_threads([]) == 0


# -- the claims of a fit --------------------------------------------------------------
def test_claim_threads_without_proc(no_proc, own_load):
    """A claim's threads follow os.getloadavg(): all the budget on a quiet
    machine, one on a loaded one, the budget without a load average."""
    budget = _threads.kernel_threads()
    no_proc.load = 0.0
    with _threads.claim_threads(budget) as granted:
        assert granted == budget
    no_proc.load = 10.0 * CPUS
    with _threads.claim_threads(budget) as granted:
        assert granted == 1
    if budget > 1:
        assert no_proc.load_reads == 2
    no_proc.no_load_average()
    with _threads.claim_threads(budget) as granted:
        assert granted == budget


def _fit(X, y):
    est = bpfast.MLPClassifier(hidden_layer_sizes=(64,), batch_size=200, max_iter=3,
                               random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning: 3 iterations
        est.fit(X, y)
    return est


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 200)   # 80,000 values: the input check claims threads
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def reference(data):
    """A fit and its predictions with every reading there."""
    est = _fit(*data)
    return est.coefs_, est.intercepts_, est.predict_proba(data[0])


@pytest.mark.parametrize("load", [0.0, 1000.0, None])
def test_fit_without_proc_sysfs_or_affinity_gives_the_same_bits(no_proc, data, reference,
                                                                 load):
    """Every reading refused at once, with a quiet machine's load average, a
    busy one's, and none (Windows): the fit runs and gives the same bits."""
    X, y = data
    if load is None:
        no_proc.no_load_average()
    else:
        no_proc.load = load
    est = _fit(X, y)
    coefs, intercepts, proba = reference
    for a, b in zip(est.coefs_ + est.intercepts_, coefs + intercepts):
        assert np.array_equal(a, b)
    assert np.array_equal(est.predict_proba(X), proba)
    assert "/proc/self/cgroup" in no_proc.refused
    if _threads.kernel_threads() > 1:   # claims for more than one thread read the load
        assert "/proc/loadavg" in no_proc.refused
        assert no_proc.load_reads > 0 or load is None


# -- threadpoolctl without /proc ------------------------------------------------------
@pytest.fixture
def fresh_blas(monkeypatch):
    """threadpoolctl's look at the process's libraries made anew (it is kept
    for the process otherwise)."""
    monkeypatch.setattr(_threads, "_blas", [])
    monkeypatch.setattr(_threads, "_pin", {"depth": 0, "saved": None})


def test_blas_unseen_without_proc_is_not_pinned(no_proc, fresh_blas, data, reference):
    """On Linux threadpoolctl lists the loaded libraries from
    /proc/self/maps: without it, SciPy's BLAS is not found, its thread count
    is taken as 1, nothing is pinned, and a fit and show_config still run."""
    assert _threads.blas_threads() == 1
    assert "/proc/self/maps" in no_proc.refused
    with _threads.single_threaded_blas():
        pass
    config = bpfast.show_config(mode="dicts")
    assert config["blas"] == []
    assert config["threads"]["usable_cpus"] == CPUS
    X, y = data
    est = _fit(X, y)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba, reference[2], rtol=1e-9, atol=1e-12)
