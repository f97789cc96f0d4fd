"""bpfast._cpus: the CPUs a process may use, from fake /proc and cgroup trees
under tmp_path (affinity mask faked too, so the answers do not depend on the
machine), and once against the real machine."""
import os
import sys
import threading

import pytest

from bpfast import _cpus
from bpfast._cpus import (cpu_limits, default_threads, idle_cpus, running_threads,
                         usable_cpus)

BIG = 64  # the fake affinity mask: more CPUs than any quota below


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    """Empty cache, Linux, and an affinity mask of BIG CPUs."""
    monkeypatch.setattr(_cpus, "_cache", {})
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(BIG)),
                        raising=False)


def put(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def v2(root, cpu_max=None, path="/", at=""):
    """A cgroup v2 tree: /proc/self/cgroup naming `path`, and cpu.max with
    `cpu_max` in the cgroup `at` (relative to the mount) unless None."""
    put(root, "proc/self/cgroup", "0::%s\n" % path)
    (root / "sys/fs/cgroup").mkdir(parents=True, exist_ok=True)
    if cpu_max is not None:
        return put(root, os.path.join("sys/fs/cgroup", at, "cpu.max"), cpu_max + "\n")


def v1(root, quota=None, period="100000", path="/", mount="cpu", at="",
       controllers="cpu,cpuacct"):
    """A cgroup v1 tree with the cpu controller mounted at `mount`."""
    put(root, "proc/self/cgroup",
        "12:memory:%s\n4:%s:%s\n1:name=systemd:%s\n" % (path, controllers, path, path))
    d = os.path.join("sys/fs/cgroup", mount, at)
    (root / d).mkdir(parents=True, exist_ok=True)
    if quota is not None:
        put(root, os.path.join(d, "cpu.cfs_quota_us"), quota + "\n")
    if period is not None:
        put(root, os.path.join(d, "cpu.cfs_period_us"), period + "\n")
    return str(root / d / "cpu.cfs_quota_us")


def usable(root):
    return usable_cpus(str(root), max_age=0)


# -- cgroup v2 ----------------------------------------------------------------------
def test_v2_limit(tmp_path):
    f = v2(tmp_path, "400000 100000")
    assert usable(tmp_path) == 4
    lim = cpu_limits(str(tmp_path))
    assert lim.affinity == BIG
    assert lim.quota == 4.0
    assert lim.quota_file == f
    assert f in lim.files_read
    assert lim.usable == 4


def test_v2_max_is_no_limit(tmp_path):
    v2(tmp_path, "max 100000")
    assert usable(tmp_path) == BIG
    lim = cpu_limits(str(tmp_path))
    assert lim.quota is None and lim.quota_file is None


def test_v2_fraction_rounds_up(tmp_path):
    v2(tmp_path, "150000 100000")
    assert usable(tmp_path) == 2
    assert cpu_limits(str(tmp_path)).quota == 1.5


def test_v2_less_than_one_cpu_is_one(tmp_path):
    v2(tmp_path, "20000 100000")
    assert usable(tmp_path) == 1
    assert cpu_limits(str(tmp_path)).quota == pytest.approx(0.2)


def test_v2_missing_cpu_max(tmp_path):
    v2(tmp_path, None)
    assert usable(tmp_path) == BIG
    assert cpu_limits(str(tmp_path)).files_read == ()


@pytest.mark.parametrize("text", ["", "garbage", "150000", "1.5 1", "abc 100000",
                                  "100000 abc", "150000 100000 7", "0 100000",
                                  "-100000 100000", "100000 0", "100000 -5",
                                  "\xff\xfe 100000"])
def test_v2_garbage_is_no_limit(tmp_path, text):
    v2(tmp_path, None)
    (tmp_path / "sys/fs/cgroup/cpu.max").write_bytes(text.encode("latin-1"))
    assert usable(tmp_path) == BIG
    assert cpu_limits(str(tmp_path)).quota is None


def test_v2_unreadable_cpu_max(tmp_path):
    v2(tmp_path, None)
    (tmp_path / "sys/fs/cgroup/cpu.max").mkdir()  # reading a directory fails
    assert usable(tmp_path) == BIG


def test_v2_nested_own_limit(tmp_path):
    f = v2(tmp_path, "300000 100000", path="/kubepods/pod1/ctr", at="kubepods/pod1/ctr")
    put(tmp_path, "sys/fs/cgroup/cpu.max", "max 100000")
    assert usable(tmp_path) == 3
    assert cpu_limits(str(tmp_path)).quota_file == f


def test_v2_nested_parent_smaller_binds(tmp_path):
    v2(tmp_path, "800000 100000", path="/kubepods/pod1/ctr", at="kubepods/pod1/ctr")
    f = put(tmp_path, "sys/fs/cgroup/kubepods/pod1/cpu.max", "200000 100000")
    assert usable(tmp_path) == 2
    lim = cpu_limits(str(tmp_path))
    assert lim.quota_file == f
    assert len(lim.files_read) == 2


def test_v2_nested_parent_larger_child_binds(tmp_path):
    f = v2(tmp_path, "200000 100000", path="/kubepods/pod1/ctr", at="kubepods/pod1/ctr")
    put(tmp_path, "sys/fs/cgroup/kubepods/cpu.max", "800000 100000")
    assert usable(tmp_path) == 2
    assert cpu_limits(str(tmp_path)).quota_file == f


def test_v2_nested_only_parent_limits(tmp_path):
    v2(tmp_path, None, path="/a/b/c")
    (tmp_path / "sys/fs/cgroup/a/b/c").mkdir(parents=True)
    put(tmp_path, "sys/fs/cgroup/a/cpu.max", "250000 100000")
    assert usable(tmp_path) == 3


def test_v2_container_view_limit_at_mount_root(tmp_path):
    # No cgroup namespace: /proc/self/cgroup has the host's path, which does
    # not exist in the container's mount; the limit sits at the mount's root.
    v2(tmp_path, "200000 100000", path="/system.slice/docker-abc.scope")
    assert usable(tmp_path) == 2


def test_v2_path_climbing_out_of_namespace_is_root(tmp_path):
    v2(tmp_path, "300000 100000", path="/../escape")
    put(tmp_path, "sys/fs/cgroup/escape/cpu.max", "100000 100000")  # never read
    put(tmp_path, "sys/fs/escape/cpu.max", "100000 100000")
    assert usable(tmp_path) == 3
    assert all("escape" not in f for f in cpu_limits(str(tmp_path)).files_read)


def test_v2_unified_mount_of_hybrid(tmp_path):
    put(tmp_path, "proc/self/cgroup", "4:memory:/\n0::/user.slice\n")
    put(tmp_path, "sys/fs/cgroup/unified/user.slice/cpu.max", "300000 100000")
    assert usable(tmp_path) == 3


# -- cgroup v1 ----------------------------------------------------------------------
def test_v1_quota_minus_one_is_no_limit(tmp_path):
    v1(tmp_path, "-1")
    assert usable(tmp_path) == BIG
    lim = cpu_limits(str(tmp_path))
    assert lim.quota is None
    assert len(lim.files_read) == 2


def test_v1_quota_over_period(tmp_path):
    f = v1(tmp_path, "250000", "100000")
    assert usable(tmp_path) == 3
    lim = cpu_limits(str(tmp_path))
    assert lim.quota == 2.5 and lim.quota_file == f


def test_v1_other_period(tmp_path):
    v1(tmp_path, "50000", "50000")
    assert usable(tmp_path) == 1


def test_v1_less_than_one_cpu_is_one(tmp_path):
    v1(tmp_path, "10000", "100000")
    assert usable(tmp_path) == 1


@pytest.mark.parametrize("mount", ["cpu,cpuacct", "cpuacct,cpu"])
def test_v1_combined_mount_name(tmp_path, mount):
    v1(tmp_path, "200000", mount=mount)
    assert usable(tmp_path) == 2


def test_v1_cpu_link_to_combined_read_once(tmp_path):
    v1(tmp_path, "200000", mount="cpu,cpuacct")
    try:
        os.symlink("cpu,cpuacct", tmp_path / "sys/fs/cgroup/cpu")
    except (OSError, NotImplementedError):
        pytest.skip("no symbolic links here")
    assert usable(tmp_path) == 2
    assert len(cpu_limits(str(tmp_path)).files_read) == 2


def test_v1_controller_listed_alone(tmp_path):
    v1(tmp_path, "300000", controllers="cpu")
    assert usable(tmp_path) == 3


def test_v1_nested_path(tmp_path):
    v1(tmp_path, "-1", path="/docker/abc")
    f = v1(tmp_path, "200000", path="/docker/abc", at="docker/abc")
    assert usable(tmp_path) == 2
    assert cpu_limits(str(tmp_path)).quota_file == f


def test_v1_nested_parent_binds(tmp_path):
    v1(tmp_path, "900000", path="/docker/abc", at="docker/abc")
    f = v1(tmp_path, "300000", path="/docker/abc", at="docker")
    assert usable(tmp_path) == 3
    assert cpu_limits(str(tmp_path)).quota_file == f


def test_v1_container_view_at_mount_root(tmp_path):
    v1(tmp_path, "200000", path="/docker/abc")  # files at the mount root only
    assert usable(tmp_path) == 2


def test_v1_cpuacct_or_cpuset_line_is_not_cpu(tmp_path):
    # Only the line naming the cpu controller gives the path.
    put(tmp_path, "proc/self/cgroup", "3:cpuset:/a\n2:cpuacct:/a\n1:cpu:/b\n")
    v1dir = tmp_path / "sys/fs/cgroup/cpu"
    put(tmp_path, "sys/fs/cgroup/cpu/a/cpu.cfs_quota_us", "100000")
    put(tmp_path, "sys/fs/cgroup/cpu/a/cpu.cfs_period_us", "100000")
    put(tmp_path, "sys/fs/cgroup/cpu/b/cpu.cfs_quota_us", "500000")
    put(tmp_path, "sys/fs/cgroup/cpu/b/cpu.cfs_period_us", "100000")
    assert v1dir.is_dir()
    assert usable(tmp_path) == 5


@pytest.mark.parametrize("quota,period", [("200000", None), (None, "100000"),
                                          (None, None)])
def test_v1_missing_files(tmp_path, quota, period):
    v1(tmp_path, quota, period)
    assert usable(tmp_path) == BIG
    assert cpu_limits(str(tmp_path)).quota is None


@pytest.mark.parametrize("quota,period", [("200000", "0"), ("200000", "-100000"),
                                          ("0", "100000"), ("-5", "100000"),
                                          ("abc", "100000"), ("200000", "x"),
                                          ("", "100000"), ("2.5", "1")])
def test_v1_bad_values_are_no_limit(tmp_path, quota, period):
    v1(tmp_path, quota, period)
    assert usable(tmp_path) == BIG


# -- /proc/self/cgroup, hybrid, other systems --------------------------------------------
def test_missing_proc_self_cgroup_reads_mount_roots(tmp_path):
    put(tmp_path, "sys/fs/cgroup/cpu.max", "300000 100000")
    assert usable(tmp_path) == 3


def test_missing_proc_self_cgroup_v1(tmp_path):
    v1(tmp_path, "200000")
    (tmp_path / "proc/self/cgroup").unlink()
    assert usable(tmp_path) == 2


@pytest.mark.parametrize("text", ["nonsense\n::\n9:x\n0:cpu\n", "0::/\xe9t\xe9\n"])
def test_garbage_proc_self_cgroup(tmp_path, text):
    put(tmp_path, "proc/self/cgroup", text)
    put(tmp_path, "sys/fs/cgroup/cpu.max", "200000 100000")
    assert usable(tmp_path) == 2


def test_dot_segments_in_path(tmp_path):
    v2(tmp_path, None, path="//a/./b/")
    put(tmp_path, "sys/fs/cgroup/a/b/cpu.max", "200000 100000")
    assert usable(tmp_path) == 2


def test_empty_tree(tmp_path):
    assert usable(tmp_path) == BIG
    lim = cpu_limits(str(tmp_path))
    assert lim == (BIG, None, None, (), BIG)


def test_hybrid_v1_and_v2_smallest_wins(tmp_path):
    put(tmp_path, "proc/self/cgroup", "4:cpu,cpuacct:/x\n0::/x\n")
    put(tmp_path, "sys/fs/cgroup/unified/x/cpu.max", "max 100000")
    put(tmp_path, "sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_quota_us", "300000")
    put(tmp_path, "sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_period_us", "100000")
    assert usable(tmp_path) == 3
    put(tmp_path, "sys/fs/cgroup/unified/x/cpu.max", "100000 100000")
    assert usable(tmp_path) == 1


def test_non_linux_ignores_cgroups(tmp_path, monkeypatch):
    v2(tmp_path, "100000 100000")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert usable(tmp_path) == BIG
    assert cpu_limits(str(tmp_path)).files_read == ()


# -- the affinity mask ---------------------------------------------------------------
def test_affinity_binds_below_quota(tmp_path, monkeypatch):
    v2(tmp_path, "800000 100000")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert usable(tmp_path) == 1
    lim = cpu_limits(str(tmp_path))
    assert lim.affinity == 1 and lim.quota == 8.0


def test_no_sched_getaffinity_uses_cpu_count(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.delattr(os, "process_cpu_count", raising=False)   # before 3.13
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable(tmp_path) == 6
    v2(tmp_path, "200000 100000")
    assert usable(tmp_path) == 2


@pytest.mark.parametrize("exc", [OSError, NotImplementedError])
def test_failing_sched_getaffinity_uses_cpu_count(tmp_path, monkeypatch, exc):
    def boom(pid):
        raise exc()
    monkeypatch.setattr(os, "sched_getaffinity", boom)
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 5)
    assert usable(tmp_path) == 5


def test_cpu_count_none_is_one(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable(tmp_path) == 1


@pytest.mark.parametrize("process, expected", [(3, 3), (None, 6), (0, 6)])
def test_no_sched_getaffinity_prefers_process_cpu_count(tmp_path, monkeypatch, process,
                                                        expected):
    """Python 3.13's os.process_cpu_count (which follows -X cpu_count) comes
    before os.cpu_count where there is no affinity mask to read."""
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "process_cpu_count", lambda: process, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable(tmp_path) == expected
    assert cpu_limits(str(tmp_path)).affinity == expected


# -- the cache -----------------------------------------------------------------------
def test_cache_reuses_within_max_age_then_rereads(tmp_path, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(_cpus, "_clock", lambda: now[0])
    v2(tmp_path, "200000 100000")
    root = str(tmp_path)
    assert usable_cpus(root) == 2
    put(tmp_path, "sys/fs/cgroup/cpu.max", "500000 100000")
    now[0] += 0.5
    assert usable_cpus(root) == 2          # within a second: the kept answer
    assert usable_cpus(root, max_age=0) == 5  # 0: read afresh
    put(tmp_path, "sys/fs/cgroup/cpu.max", "300000 100000")
    now[0] += 0.5
    assert usable_cpus(root) == 5
    now[0] += 1.0
    assert usable_cpus(root) == 3          # older than a second: read again


def test_cache_is_per_root(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    v2(a, "200000 100000")
    v2(b, "300000 100000")
    assert usable_cpus(str(a)) == 2
    assert usable_cpus(str(b)) == 3


# -- default_threads -----------------------------------------------------------------
def test_default_threads_without_omp_num_threads_caps_at_quota(tmp_path):
    v2(tmp_path, "200000 100000")
    assert default_threads(16, env={}, root=str(tmp_path)) == 2
    assert default_threads(1, env={}, root=str(tmp_path)) == 1


def test_default_threads_without_omp_num_threads_caps_at_affinity(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert default_threads(16, env={"OTHER": "1"}, root=str(tmp_path)) == 3


def test_default_threads_omp_num_threads_wins(tmp_path):
    v2(tmp_path, "200000 100000")
    env = {"OMP_NUM_THREADS": "8"}
    # omp_max_threads already follows OMP_NUM_THREADS; it may exceed the CPUs.
    assert default_threads(8, env=env, root=str(tmp_path)) == 8
    assert default_threads(3, env=env, root=str(tmp_path)) == 3


def test_default_threads_empty_omp_num_threads_is_unset(tmp_path):
    # As scikit-learn's os.getenv("OMP_NUM_THREADS") test: "" counts as unset.
    v2(tmp_path, "200000 100000")
    assert default_threads(16, env={"OMP_NUM_THREADS": ""}, root=str(tmp_path)) == 2


@pytest.mark.parametrize("env", [{}, {"OMP_NUM_THREADS": "0"}])
def test_default_threads_at_least_one(tmp_path, env):
    assert default_threads(0, env=env, root=str(tmp_path)) == 1
    assert default_threads(-4, env=env, root=str(tmp_path)) == 1


def test_default_threads_reads_os_environ_by_default(tmp_path, monkeypatch):
    v2(tmp_path, "200000 100000")
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert default_threads(7, root=str(tmp_path)) == 7
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads(7, root=str(tmp_path)) == 2


# -- idle CPUs: /proc/loadavg's running tasks -----------------------------------------
@pytest.mark.parametrize("running, own, idle", [
    (1, 1, 8),      # only the reading thread: every CPU idle
    (3, 1, 6),      # two other tasks
    (3, 3, 8),      # ... both this process's own
    (12, 1, 0),     # more tasks than CPUs: none idle, never negative
    (1, 4, 8),      # own threads asleep (not running): not counted twice
    (0, 1, 8),
])
def test_idle_cpus_counts_other_running_tasks(tmp_path, monkeypatch, running, own, idle):
    monkeypatch.setattr(_cpus, "_MACHINE_CPUS", 8)
    put(tmp_path, "proc/loadavg", "2.10 1.50 0.90 %d/321 4567\n" % running)
    assert idle_cpus(own=own, root=str(tmp_path)) == idle


@pytest.mark.parametrize("text", [None, "", "2.10 1.50 0.90", "2.10 1.50 0.90 x/321 4",
                                  "2.10 1.50 0.90 -2/321 4", "\x00\x01"])
def test_idle_cpus_unreadable_says_nothing(tmp_path, monkeypatch, text):
    """No /proc/loadavg to read and no os.getloadavg to fall back on (as on
    Windows): no load known. (tests/test_cpus_fallbacks.py has the
    fallback itself.)"""
    monkeypatch.delattr(os, "getloadavg", raising=False)
    if text is not None:
        put(tmp_path, "proc/loadavg", text)
    assert idle_cpus(root=str(tmp_path)) is None


def test_running_threads_reads_each_threads_state(tmp_path):
    """State R counts; S, D and a thread whose file is gone do not; a name
    with spaces and parentheses does not confuse the parse."""
    put(tmp_path, "proc/self/task/11/stat", "11 (python3) R 1 11 0 0")
    put(tmp_path, "proc/self/task/12/stat", "12 (a (b) R c) S 1 11 0 0")
    put(tmp_path, "proc/self/task/13/stat", "13 (x) D 1 11")
    put(tmp_path, "proc/self/task/14/stat", "14 (y) R")
    put(tmp_path, "proc/self/task/15/stat", "")
    root = str(tmp_path)
    assert running_threads([11, 12, 13, 14, 15, 99], root=root) == 2
    assert running_threads([], root=root) == 0
    assert running_threads([12], root=root) == 0


def test_running_threads_sees_this_thread_running():
    if not os.path.exists("/proc/self/task"):
        pytest.skip("no /proc/self/task here")
    assert running_threads([threading.get_native_id()]) == 1


def test_idle_cpus_on_the_real_machine():
    """This process's reading thread runs: at most every CPU, at least 0."""
    if not os.path.exists("/proc/loadavg"):
        pytest.skip("no /proc/loadavg here")
    n = idle_cpus()
    assert 0 <= n <= (os.cpu_count() or 1)


# -- the real machine ----------------------------------------------------------------
def test_real_machine(monkeypatch):
    monkeypatch.undo()  # the real os.sched_getaffinity and sys.platform
    monkeypatch.setattr(_cpus, "_cache", {})
    n = usable_cpus()
    assert isinstance(n, int)
    assert 1 <= n <= (os.cpu_count() or 1)
    lim = cpu_limits()
    assert lim.usable == n
    assert 1 <= lim.affinity <= (os.cpu_count() or 1)
    assert lim.quota is None or lim.quota > 0
    assert usable_cpus() == n  # the kept answer
