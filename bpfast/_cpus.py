"""How many CPUs this process may actually use.

os.cpu_count() counts the machine's CPUs. A process can be held to fewer in
two ways, and both are common on CI runners and in containers:

* its affinity mask (taskset, cpusets, Kubernetes' static CPU manager):
  os.sched_getaffinity(0) lists the CPUs it may run on;
* a cgroup CPU quota (docker --cpus, Kubernetes CPU limits): it may run on
  every CPU, but only for `quota` microseconds of CPU time per `period`
  microseconds, in all its threads together. Threads beyond ceil(quota /
  period) do not add throughput; they make the scheduler throttle the whole
  process for the rest of each period, which for lock-step OpenMP loops
  costs far more than it gains.

usable_cpus() is the smaller of the two, at least 1. cpu_limits() gives the
parts behind it, for diagnostics. default_threads() is the kernels' default
thread count, with scikit-learn's rule for its own OpenMP code. idle_cpus()
says how many CPUs other processes leave free right now, and
running_threads() how many of some threads of this process run now.

Where the quota is read (Linux only; elsewhere only the affinity mask or
os.cpu_count() counts):

* cgroup v2: `cpu.max`, "max 100000" (no limit) or "150000 100000" (1.5
  CPUs), in the process's own cgroup (the "0::/path" line of
  /proc/self/cgroup) under /sys/fs/cgroup (or /sys/fs/cgroup/unified, the
  v2 mount of a hybrid set-up), and in every cgroup above it up to the
  mount: a parent's limit binds its children, so the smallest one counts.
* cgroup v1: `cpu.cfs_quota_us` (-1: no limit) and `cpu.cfs_period_us`
  under the cpu controller's mount (/sys/fs/cgroup/cpu or
  /sys/fs/cgroup/cpu,cpuacct), walked up from the path on the
  /proc/self/cgroup line that names the "cpu" controller (such as
  "4:cpu,cpuacct:/docker/abc") in the same way.

Inside a container without its own cgroup namespace, /proc/self/cgroup shows
the host's path while the mount shows the container's own cgroup at its
root: the path then does not exist under the mount, and the walk, which
always ends at the mount's root, still reads the container's limit there.

A missing or unreadable file, content that does not parse, a non-positive
quota or period: no limit from that file. Nothing here raises.

Where a reading is not there (macOS and Windows have no /proc, sysfs or
cgroups; a sandbox or a chroot may hide them on Linux), each falls back:

* the affinity mask: without os.sched_getaffinity (macOS, Windows), or where
  it fails, os.process_cpu_count() (Python 3.13 on; it follows
  `-X cpu_count`), else os.cpu_count(), else 1;
* the cgroup quota: no /proc/self/cgroup, no mount under /sys/fs/cgroup, or
  no file in it that can be read: no quota (and on other systems than Linux
  none is looked for);
* the running tasks (idle_cpus): where /proc/loadavg cannot be read or
  parsed, the 1-minute load average of os.getloadavg() (macOS and the other
  Unixes have it), less this process's own part of it: its CPU time
  (time.process_time(), every thread's), averaged as that load is, over the
  calls since this module was imported (see _OwnLoad). Where there is no
  os.getloadavg (Windows) or it fails, no load is known: None, and the
  threads are not held to idle CPUs;
* a thread's state (running_threads): where /proc/self/task/<tid>/stat
  cannot be read, the thread counts as not running. The kernels note
  thread ids on Linux only, so elsewhere there are none to read; on a Linux
  without per-thread files, idle_cpus can count the kernels' threads still
  spinning after a region as other load, and a claim gets fewer threads,
  never more.
"""

import math
import os
import sys
import threading
import time
from typing import NamedTuple, Optional, Tuple

_V2_MOUNTS = ("sys/fs/cgroup", "sys/fs/cgroup/unified")
_V1_MOUNTS = ("sys/fs/cgroup/cpu", "sys/fs/cgroup/cpu,cpuacct",
              "sys/fs/cgroup/cpuacct,cpu")

# the machine's CPUs (idle_cpus; os.cpu_count() reads sysfs on each call)
_MACHINE_CPUS = max(1, os.cpu_count() or 1)
# usable_cpus() answers from here for up to _TTL seconds; keyed by root.
_TTL = 1.0
_cache = {}
_clock = time.monotonic
# this process's CPU time, all its threads' (idle_cpus without /proc/loadavg)
_cpu_clock = time.process_time
# seconds: the time constant of the 1-minute load average (Linux, macOS and
# the BSDs all decay it by exp(-5/60) every 5 seconds)
_LOAD_TAU = 60.0


class CpuLimits(NamedTuple):
    """What usable_cpus() is made of.

    affinity: CPUs in the affinity mask (os.cpu_count() where there is none).
    quota: the binding cgroup CPU quota in CPUs (quota / period, such as 1.5),
        or None where no cgroup limits the process.
    quota_file: the file that quota came from, or None.
    files_read: every cgroup file that could be read, in the order read.
    usable: min(affinity, ceil(quota)), at least 1: what usable_cpus() says.
    """

    affinity: int
    quota: Optional[float]
    quota_file: Optional[str]
    files_read: Tuple[str, ...]
    usable: int


def _read(path):
    """The file's stripped text, or None if it cannot be read as text.
    (os.open and os.read: half the cost of open() on these small files.)"""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError):
        return None
    try:
        return os.read(fd, 65536).decode("ascii").strip()
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def _affinity_cpus():
    """The affinity mask's CPUs; where it cannot be read (no
    os.sched_getaffinity on macOS and Windows), os.process_cpu_count()
    (Python 3.13 on), else os.cpu_count(), else 1."""
    for name, args in (("sched_getaffinity", (0,)), ("process_cpu_count", ()),
                       ("cpu_count", ())):
        fn = getattr(os, name, None)
        if fn is None:
            continue
        try:
            n = fn(*args)
            n = len(n) if name == "sched_getaffinity" else int(n or 0)
        except (OSError, NotImplementedError, TypeError, ValueError):
            continue
        if n > 0:
            return n
    return 1


def _own_cgroups(root):
    """(v2 path, v1 cpu-controller path) from <root>/proc/self/cgroup; each
    is a relative, normalised path ("" for the root) or None if not listed.
    A path that climbs out of the namespace ("/../x") counts as the root."""
    v2 = v1 = None
    text = _read(os.path.join(root, "proc/self/cgroup"))
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        names = [n for n in path.strip().split("/") if n not in ("", ".")]
        path = "" if ".." in names else "/".join(names)
        if hier == "0" and controllers == "":
            if v2 is None:
                v2 = path
        elif "cpu" in controllers.split(","):
            if v1 is None:
                v1 = path
    return v2, v1


def _dirs_up(mount, path):
    """<mount>/<path>, then each parent directory up to <mount> itself."""
    out = [mount]
    if path:
        d = mount
        for part in path.split("/"):
            d = os.path.join(d, part)
            out.append(d)
    return reversed(out)


def _ratio(quota, period):
    """quota / period as a float, or None unless both are positive ints."""
    try:
        q, p = int(quota), int(period)
    except (TypeError, ValueError):
        return None
    if q <= 0 or p <= 0:
        return None
    return q / p


def _v2_limits(mount, path, read):
    """(cpus, file) for each cpu.max that sets a limit, walking up."""
    found = []
    for d in _dirs_up(mount, path):
        f = os.path.join(d, "cpu.max")
        text = _read(f)
        if text is None:
            continue
        read.append(f)
        parts = text.split()
        if len(parts) == 2 and parts[0] != "max":
            cpus = _ratio(parts[0], parts[1])
            if cpus is not None:
                found.append((cpus, f))
    return found


def _v1_limits(mount, path, read):
    """(cpus, file) for each cpu.cfs_quota_us that sets a limit, walking up
    (its period from cpu.cfs_period_us beside it)."""
    found = []
    for d in _dirs_up(mount, path):
        fq = os.path.join(d, "cpu.cfs_quota_us")
        quota = _read(fq)
        if quota is None:
            continue
        read.append(fq)
        fp = os.path.join(d, "cpu.cfs_period_us")
        period = _read(fp)
        if period is None:
            continue
        read.append(fp)
        cpus = _ratio(quota, period)
        if cpus is not None:
            found.append((cpus, fq))
    return found


def cpu_limits(root="/"):
    """The parts of usable_cpus(root), read now (never cached): a CpuLimits
    of the affinity count, the binding cgroup quota in CPUs (None: no
    limit), the file it came from, the cgroup files read, and the result.

    root is where the file system starts ("/"; tests pass a fake tree)."""
    affinity = _affinity_cpus()
    read = []
    found = []
    if sys.platform.startswith("linux"):
        v2, v1 = _own_cgroups(root)
        # (A mount that is not there is not walked: one stat, not a failed
        # open per level of a deep path.)
        for mount in _V2_MOUNTS:
            mount = os.path.join(root, mount)
            if os.path.isdir(mount):
                found += _v2_limits(mount, v2 or "", read)
        for mount in _V1_MOUNTS:
            mount = os.path.join(root, mount)
            if not os.path.isdir(mount):
                continue
            before = len(read)
            found += _v1_limits(mount, v1 or "", read)
            if len(read) > before:
                break  # "cpu" is usually a link to "cpu,cpuacct": read once
    quota, quota_file = min(found) if found else (None, None)
    usable = affinity
    if quota is not None:
        usable = min(usable, max(1, math.ceil(quota)))
    return CpuLimits(affinity, quota, quota_file, tuple(read), max(1, usable))


def usable_cpus(root="/", max_age=_TTL):
    """How many CPUs this process may actually use: the smaller of its
    affinity mask's size (os.sched_getaffinity(0); os.cpu_count() where that
    does not exist) and its cgroup CPU quota rounded up (ceil(quota /
    period); 1.5 CPUs -> 2, 0.2 -> 1), never less than 1. On Linux only does
    a cgroup count; the module docstring says which files are read and how.

    The answer is kept per root and reused for up to max_age seconds (1 by
    default; 0 reads afresh): a container's quota can change while it runs,
    though rarely, and one uncached call reads /proc/self/cgroup (~25 us
    alone) and a few cgroup files: measured ~85 us (best of 9 x 5000 calls)
    on a 2-core Linux host with cgroup v1 + v2 hybrid mounts and no limit,
    with other work running beside it (open() instead of os.open measured
    ~130 us there), against ~0.3 us for a cached call.

    root is where the file system starts ("/"; tests pass a fake tree)."""
    now = _clock()
    hit = _cache.get(root)
    if hit is not None and max_age > 0 and now - hit[0] < max_age:
        return hit[1]
    n = cpu_limits(root).usable
    _cache[root] = (now, n)
    return n


class _OwnLoad:
    """This process's own part of the 1-minute load average, as the CPUs its
    threads kept busy: its CPU time over wall time between two calls,
    averaged as the kernel averages the load (each interval's weight decays
    by exp(-age / 60 s)). The count starts at 0 when the module is
    imported, so work done before that counts as other processes' load
    until it decays. For idle_cpus where /proc/loadavg cannot be read."""

    def __init__(self):
        self._lock = threading.Lock()
        self._wall = _clock()
        self._cpu = _cpu_clock()
        self._average = 0.0

    def __call__(self):
        """The average now, in CPUs."""
        with self._lock:
            wall, cpu = _clock(), _cpu_clock()
            elapsed = wall - self._wall
            if elapsed > 0:
                rate = max(0.0, (cpu - self._cpu) / elapsed)
                keep = math.exp(-elapsed / _LOAD_TAU)
                self._average = self._average * keep + rate * (1.0 - keep)
            if elapsed != 0:   # (a clock that went back: start again from here)
                self._wall, self._cpu = wall, cpu
            return self._average


_own_load = _OwnLoad()


def _idle_from_load_average():
    """idle_cpus from os.getloadavg()'s 1-minute load, less this process's
    own part of it (_own_load), rounded to the nearest CPU; None where there
    is no load average (Windows) or it cannot be had."""
    getloadavg = getattr(os, "getloadavg", None)
    if getloadavg is None:
        return None
    try:
        load = float(getloadavg()[0])
    except (OSError, TypeError, ValueError, IndexError):
        return None
    if not (0.0 <= load < math.inf):
        return None
    others = max(0.0, load - _own_load())
    return max(0, _MACHINE_CPUS - int(others + 0.5))


def idle_cpus(own=1, root="/"):
    """CPUs of the machine that nothing outside `own` threads of this
    process is running on right now: os.cpu_count() less the tasks running
    or waiting to run (the fourth field of /proc/loadavg, "running/total",
    which counts every CPU's run queue at the moment of the read, the
    reading thread included) that are not among those `own`; never below
    0.

    A snapshot, not an average: a process that spins beside this one counts
    in every read, one that sleeps between short bursts in few of them. One
    read costs ~7 us. The counts are the machine's (a container sees its
    host's), as os.cpu_count() is, so the difference is the machine's too.

    Where /proc/loadavg cannot be read or parsed (macOS, a Linux without
    /proc), the load is os.getloadavg()'s 1-minute average instead, less
    this process's own CPUs averaged the same way (its CPU time: `own`
    does not count there); it trails the machine by up to a minute. None
    where there is no load average either (Windows)."""
    text = _read(os.path.join(root, "proc/loadavg"))
    try:
        running = int(text.split()[3].split("/")[0])
    except (AttributeError, IndexError, ValueError):
        running = -1
    if running < 0:
        return _idle_from_load_average()
    return max(0, _MACHINE_CPUS - max(0, running - max(0, int(own))))


def running_threads(tids, root="/"):
    """How many of this process's threads `tids` (kernel thread ids) are
    running or waiting to run right now: state R in
    /proc/self/task/<tid>/stat. A thread that has ended, or a file that
    cannot be read (no /proc: macOS, Windows, a sandbox), counts as not
    running; 0 where none can be read. ~5 us a thread."""
    n = 0
    for tid in tids:
        text = _read(os.path.join(root, "proc/self/task/%d/stat" % int(tid)))
        if text is not None:
            # "tid (name) S ...": the name may hold spaces and parentheses
            fields = text[text.rfind(")") + 1:].split()
            n += bool(fields) and fields[0] == "R"
    return n


def default_threads(omp_max_threads, env=os.environ, root="/"):
    """The kernels' default thread count, by scikit-learn's rule for its own
    OpenMP code (sklearn.utils._openmp_helpers._openmp_effective_n_threads):

    * OMP_NUM_THREADS set (and not empty) in env: omp_max_threads, OpenMP's
      own budget (omp_get_max_threads(), which already follows
      OMP_NUM_THREADS and threadpoolctl's limits) wins, even above the
      CPUs there are: the user asked for it;
    * otherwise min(omp_max_threads, usable_cpus(root)): OpenMP's default
      follows the affinity mask at best, never the cgroup quota.

    Always at least 1."""
    omp = max(1, int(omp_max_threads))
    if env.get("OMP_NUM_THREADS"):
        return omp
    return max(1, min(omp, usable_cpus(root)))
