"""bpfast.show_config(): the build of the kernels loaded and what runs them.

In the spirit of numpy.show_config() and threadpoolctl's threadpool_info():
which level of the kernels was loaded and why (bpfast/_dispatch.py), the
levels built, the CPU features they need, the OpenMP runtime bpfast's
kernels call, SciPy's BLAS (which the kernels' GEMM tiles call) and the
kernels' thread budget with what sets it (bpfast/_cpus.py,
bpfast/_threads.py)."""

import math
import os
import platform
import sys

REASONS = {
    "auto": "the best level this CPU runs",
    "forced": "forced by BPFAST_CPU",
    "fallback": "BPFAST_CPU asked for another level",
    "native": "a native build (BPFAST_NATIVE=1): for the building machine's CPU only",
}


def _version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:   # not installed, or no metadata
        return None


def _own_openmp_file(module_file):
    """The file of the OpenMP runtime the kernels' module calls: its
    omp_get_max_threads, looked up from the module (which searches it and
    its dependencies), then dladdr. None where that cannot be told
    (Windows, a build without OpenMP)."""
    if sys.platform == "win32" or not module_file:
        return None
    try:
        import ctypes

        class DlInfo(ctypes.Structure):
            _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                        ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]

        module = ctypes.CDLL(module_file)   # already loaded: the same handle
        address = ctypes.cast(module.omp_get_max_threads, ctypes.c_void_p)
        dladdr = ctypes.CDLL(None).dladdr
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
        info = DlInfo()
        if dladdr(address, ctypes.byref(info)) and info.dli_fname:
            return os.fsdecode(info.dli_fname)
    except (OSError, AttributeError, ValueError):
        pass
    return None


def _openmp(module_file, built_with_openmp=True):
    from threadpoolctl import threadpool_info

    try:
        infos = threadpool_info()
    except OSError:   # (on Linux it reads /proc/self/maps: none without /proc)
        infos = []
    runtimes = [info for info in infos if info.get("user_api") == "openmp"]
    if not built_with_openmp:   # a serial build: any runtime loaded is another's
        return {"enabled": False, "bpfast": None, "others": runtimes}
    own_file = _own_openmp_file(module_file)
    own = None
    if own_file:
        real = os.path.realpath(own_file)
        for info in runtimes:
            if os.path.realpath(info.get("filepath") or "") == real:
                own = info
                break
        if own is None:
            own = {"filepath": own_file, "prefix": os.path.basename(own_file),
                   "internal_api": "openmp", "version": None}
    elif len(runtimes) == 1:
        own = runtimes[0]
    others = [info for info in runtimes if info is not own]
    return {"enabled": True, "bpfast": own, "others": others}


def _threads_info(kernels):
    from . import _cpus, _threads

    omp = max(1, int(kernels.max_threads()))
    limits = _cpus.cpu_limits()
    env = os.environ.get("OMP_NUM_THREADS") or None
    default = _threads.kernel_threads()
    if env:
        limited_by = "OMP_NUM_THREADS (OpenMP's budget, above the CPUs if asked)"
    elif omp < limits.usable:
        limited_by = "OpenMP's budget (a threadpoolctl limit, or OpenMP's default)"
    elif limits.quota is not None and math.ceil(limits.quota) < limits.affinity:
        limited_by = "the cgroup CPU quota"
    elif limits.affinity < (os.cpu_count() or limits.affinity):
        limited_by = "the affinity mask"
    else:
        limited_by = "the machine's CPUs"
    return {"default": default, "limited_by": limited_by, "openmp_max_threads": omp,
            "OMP_NUM_THREADS": env, "affinity": limits.affinity,
            "cgroup_quota": limits.quota, "cgroup_quota_file": limits.quota_file,
            "usable_cpus": limits.usable, "cpu_count": os.cpu_count()}


def config():
    """show_config's dict (see show_config)."""
    from . import __version__, _cpu, _dispatch, _kernels, _threads

    features = _cpu.features()
    runs = _dispatch.cpu_levels(features)
    loaded = dict(_dispatch.loaded)
    kernels = {
        "level": loaded.get("level"),
        "module": _kernels.__name__,
        "modules": sorted(loaded.get("modules", [])),
        "file": getattr(_kernels, "__file__", None),
        "reason": loaded.get("reason"),
        "requested": loaded.get("requested"),
        "message": loaded.get("message"),
        "built": list(_dispatch.built_levels()),
        "built_by_request": _cpu.BUILT_BY_REQUEST,
        "cpu_runs": list(runs),
        "debug_build": bool(getattr(_kernels, "DEBUG_BUILD", False)),
        "compiler": getattr(_kernels, "COMPILER", None),
        "openmp": bool(getattr(_kernels, "OPENMP", True)),
        "wait": getattr(_kernels, "WAIT", None),
    }
    cpu = {
        "machine": platform.machine(),
        "vendor": _cpu.vendor() or None,
        "brand": _cpu.brand() or None,
        "architecture": _dispatch.architecture() or None,
        "features": features,
        "missing": _dispatch.level_checks(features),
    }
    blas = [lib.info() for lib in _threads._scipy_blas_controllers()]
    versions = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "scikit-learn", "threadpoolctl", "Cython"):
        versions[name] = _version(name)
    return {
        "bpfast": {"version": __version__,
                   "path": os.path.dirname(os.path.abspath(__file__))},
        "kernels": kernels,
        "cpu": cpu,
        "openmp": _openmp(kernels["file"], kernels["openmp"]),
        "blas": blas,
        "threads": _threads_info(_kernels),
        "versions": versions,
    }


def _library(info):
    if not info:
        return "none found"
    parts = [info.get("prefix") or info.get("internal_api") or "?"]
    if info.get("version"):
        parts.append(str(info["version"]))
    extra = [str(info[k]) for k in ("architecture", "threading_layer") if info.get(k)]
    if extra:
        parts.append(f"({', '.join(extra)})")
    text = " ".join(parts)
    if info.get("num_threads") is not None:
        text += f", {info['num_threads']} thread{'s' * (info['num_threads'] != 1)}"
    return f"{text}: {info.get('filepath')}"


def render(cfg):
    """show_config's text for the dict `cfg`."""
    from ._dispatch import DESCRIPTIONS

    k, cpu, t = cfg["kernels"], cfg["cpu"], cfg["threads"]
    why = REASONS.get(k["reason"], k["reason"] or "?")
    if k["reason"] == "forced":
        why = f"forced by BPFAST_CPU={k['requested']}"
    elif k["reason"] == "fallback":
        why = f"fallback: {k['message']}"
    lines = [
        f"bpfast {cfg['bpfast']['version']}: {cfg['bpfast']['path']}",
        "kernels:",
        f"  loaded: {k['level']} ({', '.join(k['modules']) or k['module']})"
        + " [debug build]" * k["debug_build"],
        f"  why: {why}",
        f"  built: {', '.join(k['built'])}"
        + (" (BPFAST_LEVELS, BPFAST_NATIVE or BPFAST_DEBUG)" if k["built_by_request"] else ""),
        f"  this CPU runs: {', '.join(k['cpu_runs'])}",
        f"  file: {k['file']}" + (f" ({k['compiler']})" if k["compiler"] else ""),
        f"  threads wait by: {k['wait'] or '?'}",
        "CPU:",
        f"  {cpu['machine']}: {cpu['brand'] or '?'}"
        + (f" ({cpu['vendor']})" if cpu["vendor"] else ""),
    ]
    arch = cpu.get("architecture") or ""
    if cpu["features"]:
        have = [name for name, on in cpu["features"].items() if on]
        lines.append(f"  features: {' '.join(have) or 'none beyond ' + arch}")
    described = DESCRIPTIONS.get(arch, {})
    for level, lacks in cpu["missing"].items():
        name = f"{level} ({described[level]})" if level in described else level
        lines.append(f"  {name}: " + (f"lacks {' '.join(lacks)}" if lacks else "yes"))
    omp = cfg["openmp"]
    if omp.get("enabled", True):
        lines += ["OpenMP: yes", f"  bpfast's: {_library(omp['bpfast'])}"]
    else:
        lines += ["OpenMP: no (a serial build: the compiler had no OpenMP; "
                  "the kernels run on one thread)"]
    lines += [f"  also loaded: {_library(info)}" for info in omp["others"]]
    lines.append("SciPy's BLAS (pinned to 1 thread while the kernels run):")
    lines += [f"  {_library(info)}" for info in cfg["blas"]] or ["  none found"]
    quota = ("none" if t["cgroup_quota"] is None
             else f"{t['cgroup_quota']:g} CPUs ({t['cgroup_quota_file']})")
    lines += [
        "threads:",
        f"  default: {t['default']}, limited by {t['limited_by']}",
        f"  OpenMP's budget: {t['openmp_max_threads']}; OMP_NUM_THREADS: "
        f"{t['OMP_NUM_THREADS'] or 'not set'}",
        f"  usable CPUs: {t['usable_cpus']} (affinity mask {t['affinity']}, cgroup quota "
        f"{quota}; the machine has {t['cpu_count']})",
        "versions: " + ", ".join(f"{name} {v}" for name, v in cfg["versions"].items() if v),
    ]
    return "\n".join(lines)


def show_config(mode="stdout"):
    """Print, or return, what bpfast runs with.

    The CPU level of the kernels loaded, the CPU, the OpenMP runtime,
    SciPy's BLAS, the thread budget and the versions of the packages
    (``python -m bpfast --version`` prints the same).

    Parameters
    ----------
    mode : {'stdout', 'dicts'}, default='stdout'
        'stdout' prints the configuration; 'dicts' prints nothing and
        returns it, as ``numpy.show_config`` does.

    Returns
    -------
    dict or None
        None with ``mode='stdout'``; with ``mode='dicts'``, a dict of:

        - "bpfast": version and path;
        - "kernels": the level loaded ("baseline", "v3", "v4", or "native"), the
          kernels' module and file, the level modules loaded (the kernels' and the
          random streams'), why ("auto", "forced" by BPFAST_CPU, "fallback" with
          the warning's message, "native"), the levels built, the levels this CPU
          runs, whether those were asked for at build time (BPFAST_LEVELS,
          BPFAST_NATIVE, BPFAST_DEBUG), whether it is a debug build, the
          compiler that built it, whether with OpenMP, and how its threads
          wait at a barrier ("futex", "WaitOnAddress",
          "os_sync_wait_on_address" or "portable (condition variables)");
        - "cpu": machine, vendor, brand, the architecture of the build
          ("x86_64", "aarch64"), the features the levels need (x86-64: CPUID
          and the OS's XCR0; aarch64: the HWCAP bits) and what each level
          lacks (x86-64: v3 and v4; aarch64: the baseline, NEON);
        - "openmp": whether the kernels were built with OpenMP ("enabled": False
          in a serial build, made where the compiler had none), the OpenMP
          runtime they call, and any other one loaded (threadpoolctl's
          threadpool_info entries);
        - "blas": SciPy's BLAS (threadpoolctl's entries);
        - "threads": the kernels' default thread count, what limits it, and its
          sources: OpenMP's budget, OMP_NUM_THREADS, the affinity mask and the
          cgroup CPU quota;
        - "versions": Python and the packages bpfast runs with.

    See Also
    --------
    numpy.show_config : The same for NumPy.

    Examples
    --------
    >>> import bpfast
    >>> config = bpfast.show_config(mode="dicts")
    >>> sorted(config)
    ['blas', 'bpfast', 'cpu', 'kernels', 'openmp', 'threads', 'versions']
    >>> config["kernels"]["level"] in ("baseline", "v3", "v4", "native")
    True
    >>> bpfast.show_config()  # doctest: +ELLIPSIS
    bpfast ...
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts', not {mode!r}")
    cfg = config()
    if mode == "dicts":
        return cfg
    print(render(cfg))
    return None
