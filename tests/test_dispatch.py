"""Runtime CPU dispatch (bpfast/_dispatch.py, bpfast/_kernels.py, bpfast/_cpu.pyx)
and bpfast.show_config() (bpfast/_config.py).

bpfast._kernels is the build of the kernels for this CPU's level; the level
logic is tested on made-up feature sets, BPFAST_CPU's forcing and fallback in
fresh processes, and the probe against numpy's own CPU detection.
"""
import importlib.machinery
import importlib.util
import io
import os
import pickle
import subprocess
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest

import bpfast
from bpfast import _cpu, _cpus, _dispatch, _kernels, _random, _threads
from bpfast._dispatch import LEVELS, V2, V3, V4, choose, cpu_levels

BPFAST_DIR = os.path.dirname(os.path.abspath(bpfast.__file__))


def _features(names, drop=()):
    return {name: name in names and name not in drop for name in V4}


# ------------------------------------------------------------------ the module loaded
def test_kernels_is_the_level_module_dispatch_loaded():
    loaded = _dispatch.loaded
    assert loaded["level"] in _dispatch.built_levels()
    assert _kernels.__name__ == f"bpfast._kernels_{loaded['level']}" == loaded["module"]
    assert sys.modules["bpfast._kernels"] is _kernels
    assert sys.modules[_kernels.__name__] is _kernels
    assert os.path.dirname(os.path.abspath(_kernels.__file__)) == BPFAST_DIR
    # exactly one level loaded, and the random streams at the same level
    assert [m for m in sys.modules if m.startswith("bpfast._kernels_")] == [_kernels.__name__]
    assert _random.__name__ == f"bpfast._random_{loaded['level']}"
    assert sys.modules["bpfast._random"] is _random
    assert [m for m in sys.modules if m.startswith("bpfast._random_")] == [_random.__name__]
    assert sorted(loaded["modules"]) == sorted([_kernels.__name__, _random.__name__])


def test_no_stale_kernels_extension_shadows_the_stub():
    """An extension module bpfast/_kernels.<suffix> (an older build's) would be
    imported instead of bpfast/_kernels.py, bypassing the dispatch: setup.py
    removes it."""
    for name in _dispatch.DISPATCHED:
        assert os.path.isfile(os.path.join(BPFAST_DIR, name + ".py"))
        stale = [s for s in importlib.machinery.EXTENSION_SUFFIXES
                 if os.path.exists(os.path.join(BPFAST_DIR, name + s))]
        assert not stale, name


def test_choice_follows_the_environment_and_the_cpu():
    expected = choose(os.environ.get(_dispatch.ENV), cpu_levels(), _dispatch.built_levels())
    loaded = _dispatch.loaded
    assert (loaded["level"], loaded["reason"], loaded["message"]) == expected
    if not os.environ.get(_dispatch.ENV) and _dispatch.built_levels() != ("native",):
        assert loaded["reason"] == "auto"
        assert loaded["level"] == [lv for lv in LEVELS if lv in _dispatch.built_levels()
                                   and lv in cpu_levels()][-1]


def test_every_level_built_is_installed():
    """The level modules found are the ones setup.py built with the probe, and
    a default build has every level of its architecture (x86-64: all three;
    BPFAST_LEVELS, BPFAST_NATIVE, a debug build: what they asked for)."""
    built = _dispatch.built_levels()
    assert built == _cpu.BUILT == _dispatch.built_levels("_random")
    if _cpu.BUILT_BY_REQUEST:
        assert "baseline" in built or built == ("native",)
    elif sys.platform.startswith("linux"):
        assert built == (LEVELS if _cpu.IS_X86 else ("baseline",))


def test_built_levels_look_in_this_package_only(monkeypatch):
    """Another copy of bpfast reachable through an import hook (an editable
    install's finder, which answers for every bpfast.* name, while this copy
    came first on sys.path) lends no level: only the files beside
    bpfast/_dispatch.py count, or the level chosen would be imported from the
    other copy."""
    class OtherCopy:
        def find_spec(self, fullname, path=None, target=None):
            if fullname.startswith("bpfast._kernels_") or fullname.startswith("bpfast._random_"):
                return importlib.machinery.ModuleSpec(fullname, None,
                                                      origin="/elsewhere/" + fullname)
            return None

    before = _dispatch.built_levels(), _dispatch.built_levels("_random")
    monkeypatch.setattr(sys, "meta_path", sys.meta_path + [OtherCopy()])
    assert importlib.util.find_spec("bpfast._kernels_native") is not None  # the hook answers
    assert (_dispatch.built_levels(), _dispatch.built_levels("_random")) == before
    assert "native" not in before or before == ("native",)


def test_functions_keep_the_name_bpfast_kernels():
    """Cython's names are the module's, bpfast._kernels, whatever the level:
    pickles of the kernels' functions name it, and load in any level."""
    assert _kernels.predict.__module__ == "bpfast._kernels"
    assert _kernels.train_epoch.__module__ == "bpfast._kernels"
    assert pickle.loads(pickle.dumps(_kernels.predict)) is _kernels.predict
    assert _random.shuffle.__module__ == "bpfast._random"
    assert pickle.loads(pickle.dumps(_random.shuffle)) is _random.shuffle


# ------------------------------------------------------------------ the level logic
@pytest.mark.parametrize("features, runs", [
    ({}, ("baseline",)),
    (_features(V2), ("baseline",)),
    (_features(V3), ("baseline", "v3")),
    (_features(V3, drop=("BMI2",)), ("baseline",)),        # the v3 build uses shlx/sarx
    (_features(V3, drop=("MOVBE",)), ("baseline",)),
    (_features(V3, drop=("OS_YMM",)), ("baseline",)),      # the OS does not save ymm
    (_features(V3, drop=("SSE42",)), ("baseline",)),       # v3 includes v2
    (_features(V4), ("baseline", "v3", "v4")),
    (_features(V4, drop=("OS_ZMM",)), ("baseline", "v3")),  # AVX-512 off in the OS
    (_features(V4, drop=("AVX512VL",)), ("baseline", "v3")),  # Xeon Phi: F + CD only
])
def test_levels_of_feature_sets(features, runs):
    assert cpu_levels(features, x86=True) == runs


def test_levels_off_x86():
    assert cpu_levels({}, x86=False) == ("baseline",)
    assert cpu_levels(_features(V4), x86=False) == ("baseline",)


def test_the_architecture_of_the_build():
    arch = _dispatch.architecture()
    assert arch == ("x86_64" if _cpu.IS_X86 else "aarch64" if _cpu.IS_AARCH64 else "")
    assert not (_cpu.IS_X86 and _cpu.IS_AARCH64)
    machine = os.uname().machine if hasattr(os, "uname") else ""
    if machine in ("x86_64", "aarch64"):
        assert arch == machine
    if arch:
        assert set(_dispatch.level_checks()) <= set(_dispatch.DESCRIPTIONS[arch])


def test_aarch64_baseline_needs_neon():
    """aarch64's one level, the baseline, is ARMv8-A's Advanced SIMD (NEON):
    ASIMD in the kernel's HWCAP bits."""
    requires = _dispatch.AARCH64_REQUIRES
    assert _dispatch.missing("baseline", {"ASIMD": True, "SVE": False}, requires) == []
    assert _dispatch.missing("baseline", {"ASIMD": False}, requires) == ["ASIMD"]
    assert _dispatch.missing("baseline", {}, requires) == ["ASIMD"]
    assert "NEON" in _dispatch.DESCRIPTIONS["aarch64"]["baseline"]


ALL = ("baseline", "v3", "v4")


@pytest.mark.parametrize("requested, runs, built, expected, warns", [
    ("", ALL, ALL, ("v4", "auto"), None),
    (None, ("baseline", "v3"), ALL, ("v3", "auto"), None),
    ("", ("baseline",), ALL, ("baseline", "auto"), None),
    ("baseline", ALL, ALL, ("baseline", "forced"), None),
    (" V3 ", ALL, ALL, ("v3", "forced"), None),
    ("v4", ("baseline", "v3"), ALL, ("v3", "fallback"), "BPFAST_CPU=v4: this CPU lacks it; using v3"),
    ("v4", ("baseline",), ALL, ("baseline", "fallback"), "this CPU lacks it; using baseline"),
    ("v3", ALL, ("baseline",), ("baseline", "fallback"), "BPFAST_CPU=v3: it was not built"),
    ("v4", ALL, ("baseline", "v3"), ("v3", "fallback"), "it was not built; using v3"),
    ("avx2", ("baseline", "v3"), ALL, ("v3", "fallback"), "'avx2' is not one of baseline, v3, v4"),
    ("", ("baseline", "v3"), ("native",), ("native", "native"), None),
    ("baseline", ("baseline",), ("native",), ("native", "native"), "is ignored: this bpfast is a native build"),
])
def test_choose(requested, runs, built, expected, warns):
    level, reason, message = choose(requested, runs, built)
    assert (level, reason) == expected
    if warns is None:
        assert message is None
    else:
        assert warns in message


def test_choose_without_a_build_for_this_cpu_raises():
    with pytest.raises(ImportError, match="no build of its kernels for this CPU"):
        choose("", ("baseline",), ("v3", "v4"))
    with pytest.raises(ImportError, match="kernels are not built"):
        choose("", ("baseline", "v3"), ())


def _numpy_cpu_features():
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as npf
    except ImportError:
        from numpy.core._multiarray_umath import __cpu_features__ as npf
    return npf


def test_probe_agrees_with_numpy():
    """numpy detects the CPU's features too (checking XCR0 as the probe does;
    on aarch64 reading the same HWCAP bits); numpy >= 2.4 also names the
    psABI levels."""
    if _cpu.IS_AARCH64:
        npf = _numpy_cpu_features()
        ours = _cpu.features()
        assert set(ours) == set(_cpu.FEATURES) >= {"ASIMD", "SVE"}
        assert ours["ASIMD"]   # every ARMv8-A CPU
        compared = [name for name in ("ASIMD", "FPHP", "ASIMDHP", "ASIMDDP", "ASIMDFHM", "SVE")
                    if name in npf]
        assert "ASIMD" in compared
        for name in compared:
            assert ours[name] == npf[name], name
        assert not ours["SVE2"] or ours["SVE"]
        return
    if not _cpu.IS_X86:
        assert _cpu.features() == {}
        return
    npf = _numpy_cpu_features()
    ours = _cpu.features()
    assert set(ours) == set(_cpu.FEATURES)
    runs = cpu_levels(ours)
    if "X86_V3" in npf:
        assert ("v3" in runs) == npf["X86_V3"]
        assert ("v4" in runs) == npf.get("X86_V4", False)
    os_ok = {"OS_YMM": ours["OS_YMM"], "OS_ZMM": ours["OS_ZMM"]}
    for name in ("AVX", "AVX2", "FMA3", "F16C"):
        assert (ours[name] and os_ok["OS_YMM"]) == npf[name], name
    for name in ("AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL"):
        if name in npf:
            assert (ours[name] and os_ok["OS_ZMM"]) == npf[name], name
    for name in ("SSE3", "SSSE3", "SSE41", "SSE42", "POPCNT", "BMI", "BMI2", "LZCNT", "MOVBE"):
        if name in npf:
            assert ours[name] == npf[name], name
    assert _cpu.vendor()


# ------------------------------------------------------------------ BPFAST_CPU, in fresh processes
FIT = """
import sys, warnings
import numpy as np
import bpfast
from bpfast import _dispatch, _kernels
X = np.random.RandomState(0).rand(60, 5)
y = (X[:, 0] + X[:, 1] > 1).astype(int)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    m = bpfast.MLPClassifier(hidden_layer_sizes=(8,), max_iter=100,
                             learning_rate_init=0.05, random_state=0).fit(X, y)
print(_kernels.__name__, _dispatch.loaded["reason"], repr(m.loss_), m.score(X, y))
"""


def _run_with(level, code=FIT):
    env = dict(os.environ)
    env.pop(_dispatch.ENV, None)
    if level is not None:
        env[_dispatch.ENV] = level
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(BPFAST_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def runs_by_level():
    """BPFAST_CPU=baseline, v3, v4, nonsense and unset: each in its own process."""
    return {level: _run_with(level) for level in ("baseline", "v3", "v4", "sse9", None)}


@pytest.mark.parametrize("level", ["baseline", "v3", "v4", "sse9", None])
def test_bpfast_cpu_forces_or_falls_back_with_a_warning(runs_by_level, level):
    r = runs_by_level[level]
    assert r.returncode == 0, r.stderr[-3000:]
    name, reason, loss, score = r.stdout.split()
    want, want_reason, message = choose(level, cpu_levels(), _dispatch.built_levels())
    assert (name, reason) == (f"bpfast._kernels_{want}", want_reason)
    if message:
        assert f"RuntimeWarning: bpfast: {message}" in r.stderr
    else:
        assert "RuntimeWarning" not in r.stderr
    assert float(score) >= 0.9


def test_levels_agree_to_the_last_bits(runs_by_level):
    """Different levels round differently (FMA contraction): the same fit
    agrees to ~1e-15 relative, not bit for bit (docs/cpu-levels.md: Numbers across
    levels)."""
    losses = {level: float(r.stdout.split()[2]) for level, r in runs_by_level.items()
              if r.returncode == 0}
    assert len(losses) == len(runs_by_level)
    reference = losses[None]
    for level, loss in losses.items():
        assert loss == pytest.approx(reference, rel=1e-12, abs=0), (level, losses)


def test_the_level_modules_are_loaded_only_through_the_probe():
    """bpfast imports no level module but the chosen one's (a level the CPU
    lacks may not even load)."""
    r = _run_with("baseline", "import sys, bpfast\n"
                  "print(*sorted(m for m in sys.modules if m.startswith(('bpfast._kernels', "
                  "'bpfast._random'))))")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["bpfast._kernels", "bpfast._kernels_baseline",
                                "bpfast._random", "bpfast._random_baseline"]


# ------------------------------------------------------------------ show_config
def test_show_config_dicts():
    cfg = bpfast.show_config(mode="dicts")
    assert set(cfg) == {"bpfast", "kernels", "cpu", "openmp", "blas", "threads", "versions"}
    assert cfg["bpfast"]["version"] == bpfast.__version__
    k = cfg["kernels"]
    assert k["level"] == _dispatch.loaded["level"]
    assert k["module"] == _kernels.__name__ and k["file"] == _kernels.__file__
    assert k["reason"] in ("auto", "forced", "fallback", "native")
    assert tuple(k["built"]) == _dispatch.built_levels()
    assert tuple(k["cpu_runs"]) == cpu_levels()
    assert k["debug_build"] == _kernels.DEBUG_BUILD
    assert k["compiler"] == _kernels.COMPILER
    assert cfg["cpu"]["features"] == _cpu.features()
    assert cfg["cpu"]["architecture"] == (_dispatch.architecture() or None)
    if _cpu.IS_X86:
        assert cfg["cpu"]["architecture"] == "x86_64"
        assert set(cfg["cpu"]["missing"]) == {"v3", "v4"}
        assert ("v3" in cpu_levels()) == (cfg["cpu"]["missing"]["v3"] == [])
    elif _cpu.IS_AARCH64:
        assert cfg["cpu"]["architecture"] == "aarch64"
        assert cfg["cpu"]["missing"] == {"baseline": []}
        assert cfg["cpu"]["features"]["ASIMD"]
    else:
        assert cfg["cpu"]["missing"] == {}
    t = cfg["threads"]
    assert t["default"] == _threads.kernel_threads()
    assert t["openmp_max_threads"] == _kernels.max_threads()
    assert t["usable_cpus"] == _cpus.cpu_limits().usable
    assert cfg["openmp"]["enabled"] is k["openmp"] is _kernels.OPENMP
    assert k["wait"] == _kernels.WAIT
    own = cfg["openmp"]["bpfast"]
    if not _kernels.OPENMP:   # a serial build: no runtime is its own
        assert own is None, cfg["openmp"]
    elif sys.platform.startswith("linux"):
        assert own and "omp" in os.path.basename(own["filepath"]), cfg["openmp"]
    assert [lib["filepath"] for lib in cfg["blas"]] == [
        lib.filepath for lib in _threads._scipy_blas_controllers()]
    assert cfg["versions"]["numpy"] == np.__version__


def test_show_config_prints():
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert bpfast.show_config() is None
    text = buf.getvalue()
    level = _dispatch.loaded["level"]
    assert text.startswith(f"bpfast {bpfast.__version__}: ")
    assert f"  loaded: {level} ({_kernels.__name__}, {_random.__name__})" in text
    assert f"  built: {', '.join(_dispatch.built_levels())}" in text
    for section in ("kernels:", "CPU:", "OpenMP:", "SciPy's BLAS", "threads:", "versions:"):
        assert f"\n{section}" in text
    cpu = text[text.index("\nCPU:\n"):text.index("\nOpenMP:")].splitlines()[2:]
    assert cpu[0].startswith(f"  {os.uname().machine if hasattr(os, 'uname') else ''}")
    if _cpu.IS_X86:
        assert cpu[1].startswith("  features: ")
        assert cpu[2] in ("  v3 (x86-64-v3, AVX2 + FMA): yes",) \
            or cpu[2].startswith("  v3 (x86-64-v3, AVX2 + FMA): lacks ")
        assert cpu[3].startswith("  v4 (x86-64-v4, AVX-512): ")
    elif _cpu.IS_AARCH64:
        assert cpu[1].startswith("  features: ASIMD")
        assert cpu[2:] == ["  baseline (ARMv8-A, NEON): yes"]
    with pytest.raises(ValueError, match="mode"):
        bpfast.show_config(mode="yaml")


@pytest.mark.parametrize("arch, machine, features, missing, lines", [
    ("aarch64", "aarch64", {"ASIMD": True, "FPHP": True, "ASIMDHP": True, "ASIMDDP": False,
                            "ASIMDFHM": False, "SVE": False, "SVE2": False},
     {"baseline": []},
     ["  aarch64: ?", "  features: ASIMD FPHP ASIMDHP", "  baseline (ARMv8-A, NEON): yes"]),
    ("aarch64", "aarch64", {"ASIMD": False}, {"baseline": ["ASIMD"]},
     ["  aarch64: ?", "  features: none beyond aarch64",
      "  baseline (ARMv8-A, NEON): lacks ASIMD"]),
    ("x86_64", "x86_64", {"SSE3": True, "AVX2": True}, {"v3": [], "v4": ["AVX512F", "OS_ZMM"]},
     ["  x86_64: ?", "  features: SSE3 AVX2", "  v3 (x86-64-v3, AVX2 + FMA): yes",
      "  v4 (x86-64-v4, AVX-512): lacks AVX512F OS_ZMM"]),
    (None, "riscv64", {}, {}, ["  riscv64: ?"]),
])
def test_show_config_cpu_lines_of_each_architecture(arch, machine, features, missing, lines):
    """The CPU section names the levels of the build's architecture in one
    format: x86-64's v3 and v4 (the baseline runs on every x86-64 CPU),
    aarch64's baseline (ARMv8-A's NEON, which the HWCAP bits confirm)."""
    from bpfast import _config

    cfg = bpfast.show_config(mode="dicts")
    cfg["cpu"] = {"machine": machine, "vendor": None, "brand": None, "architecture": arch,
                  "features": features, "missing": missing}
    text = _config.render(cfg)
    assert text[text.index("\nCPU:\n"):text.index("\nOpenMP:")].splitlines()[2:] == lines


def test_python_m_bpfast_version_prints_the_config():
    from bpfast.__main__ import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["--version"]) == 0
    assert f"loaded: {_dispatch.loaded['level']}" in buf.getvalue()
    assert "digits" not in buf.getvalue()   # no benchmark run


@pytest.mark.parametrize("env, limits, omp, default, limited_by", [
    ({}, _cpus.CpuLimits(8, 1.5, "/cg/cpu.max", (), 2), 8, 2, "the cgroup CPU quota"),
    ({"OMP_NUM_THREADS": "6"}, _cpus.CpuLimits(8, 1.5, "/cg/cpu.max", (), 2), 6, 6,
     "OMP_NUM_THREADS"),
    ({}, _cpus.CpuLimits(8, None, None, (), 8), 3, 3, "OpenMP's budget"),
])
def test_show_config_names_what_limits_the_threads(monkeypatch, env, limits, omp, default,
                                                   limited_by):
    from bpfast import _config

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(_cpus, "cpu_limits", lambda root="/": limits)
    monkeypatch.setattr(_cpus, "usable_cpus", lambda root="/", max_age=1.0: limits.usable)
    monkeypatch.setattr(_kernels, "max_threads", lambda: omp)
    t = _config._threads_info(_kernels)
    assert t["default"] == default
    assert t["limited_by"].startswith(limited_by)
    assert t["OMP_NUM_THREADS"] == env.get("OMP_NUM_THREADS")
    assert t["cgroup_quota"] == limits.quota

