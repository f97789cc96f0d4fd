"""Build of bpfast's compiled core (bpfast/_kernels.pyx) and its companions.

Sources:       bpfast/_kernels.pyx (Cython), bpfast/_random.pyx,
               bpfast/_memory.pyx, bpfast/_cpu.pyx, and the C they call, in
               headers under bpfast/src/ (bp_compat.h: what differs between
               GCC, clang and MSVC, and between Linux, macOS and Windows; then
               one header per concern), declared for Cython once in
               bpfast/_native.pxd. The headers are `depends` of the
               extensions: editing one rebuilds them.
Compilers:     GCC (the default on Linux) and clang (CC=clang: setuptools
               links with $CC as well, so -fopenmp brings clang's libomp;
               Debian/Ubuntu: apt-get install clang libomp-dev) are built and
               tested (.ci/clang-tests.sh); MSVC has its branches in
               bp_compat.h but is neither built nor tested here.
Runtime CPU dispatch: Cython runs once on bpfast/_kernels.pyx (the module
               bpfast._kernels), and its C is compiled once per
               instruction-set level into modules of their own:

    bpfast._kernels_baseline   -march=x86-64     (SSE2: every x86-64 CPU)
    bpfast._kernels_v3         -march=x86-64-v3  (AVX2, FMA, BMI1/2, ...)
    bpfast._kernels_v4         -march=x86-64-v4  (AVX-512 F/BW/CD/DQ/VL)

               (MSVC: none, /arch:AVX2, /arch:AVX512.) Elsewhere (aarch64, a
               universal2 macOS build) only the baseline is built, with no
               -march. bpfast/_random.pyx (the random streams) likewise, as
               bpfast._random_<level>. At import, bpfast/_kernels.py loads the
               best level the CPU and OS support, which bpfast/_cpu.pyx
               (bpfast/src/bp_cpu.h: CPUID, XGETBV; aarch64: HWCAP) tells;
               BPFAST_CPU=baseline|v3|v4 forces one (bpfast/_dispatch.py);
               bpfast/_random.py loads the same level. The other modules (the
               probe, the buffers' memory) are built once, for the baseline. A wheel or a source
               build is thus the same build on every machine, and none of it
               runs code the CPU lacks. The levels compile in parallel
               (build_ext's parallel option, on as many workers as there are
               CPUs, up to the modules).
OpenMP:        tried before the build: a tiny OpenMP program is compiled,
               linked and (unless cross-compiling) run with the compiler and
               flags of the build. Where the compiler refuses OpenMP (Apple's
               clang as shipped; clang without libomp), bpfast is built
               serial, with a warning: the kernels run on one thread, and
               bpfast.show_config() says "OpenMP: no".
               BPFAST_FAIL_NO_OPENMP=1 makes that an error instead.
Release build: -O3 with OpenMP, bounds checks off.
Debug build:   BPFAST_DEBUG=1 pip install ...  -> -O0 -g, Cython bounds and
               initialisation checks on (the kernels' layout and index checks
               run in every build); the baseline level only, unless
               BPFAST_LEVELS says otherwise.
Levels:        BPFAST_LEVELS=baseline,v3 builds only those (x86-64; the
               baseline is always built: it is the fallback of every CPU).
Native:        BPFAST_NATIVE=1 builds one level, native: bpfast._kernels_native
               and _random_native, with -march=native (-mcpu=native on arm64
               macOS): for the building machine only; it may die of SIGILL on
               another CPU.

(BPFAST_PORTABLE, which left -march=native out of wheels, is no longer
needed: every build but BPFAST_NATIVE=1 is portable. It is ignored.)

Every install (wheel or `pip install -e .`) also puts bpfast's startup hook,
bpfast-sklearn-patch.pth and _bpfast_startup.py, at the top of site-packages:
it applies bpfast.patch_sklearn() in Python processes started with
BPFAST_PATCH_SKLEARN set (see bpfast/_patch.py, bpfast/_startup.py) and does
nothing in any other.
"""
import glob
import importlib.machinery
import os
import re
import sys
import sysconfig

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _flag(name):
    return os.environ.get(name, "0").strip() not in ("", "0")


DEBUG = _flag("BPFAST_DEBUG")
FAIL_NO_OPENMP = _flag("BPFAST_FAIL_NO_OPENMP")
# the barrier's portable wait (condition variables) on any OS, instead of the
# OS's own (futex, WaitOnAddress, os_sync): how CI tests it on Linux
PORTABLE_WAIT = _flag("BPFAST_PORTABLE_WAIT")
NATIVE = _flag("BPFAST_NATIVE")
MSVC = sys.platform == "win32"
X86_LEVELS = ("baseline", "v3", "v4")   # low to high, as bpfast/_dispatch.py


def target_machine():
    """The architecture the extensions are compiled for: x86_64, aarch64,
    arm64, universal (several at once, macOS), ... sysconfig's platform
    follows cross-compilation settings (_PYTHON_HOST_PLATFORM, as
    cibuildwheel sets), ARCHFLAGS the architectures of a macOS build."""
    if sys.platform == "darwin":
        arches = re.findall(r"-arch\s+(\S+)", os.environ.get("ARCHFLAGS", ""))
        if len(set(arches)) > 1:
            return "universal"
        if arches:
            return arches[0]
    machine = sysconfig.get_platform().rsplit("-", 1)[-1].lower()
    if machine == "universal2" and sys.platform == "darwin":
        # a universal2 Python builds for both unless ARCHFLAGS narrows it
        return "universal"
    return {"amd64": "x86_64", "x64": "x86_64"}.get(machine, machine)


MACHINE = target_machine()
X86 = MACHINE == "x86_64"

if sys.platform == "darwin" and MACHINE == "arm64":
    native_flags = ["-mcpu=native"]
else:
    native_flags = ["-march=native"]
if MSVC:
    ARCH = {"baseline": [], "v3": ["/arch:AVX2"], "v4": ["/arch:AVX512"], "native": None}
elif X86:
    # -mtune=generic is what the level names imply: spelled out, it says the
    # code is tuned for no CPU in particular
    ARCH = {"baseline": ["-march=x86-64", "-mtune=generic"],
            "v3": ["-march=x86-64-v3", "-mtune=generic"],
            "v4": ["-march=x86-64-v4", "-mtune=generic"],
            "native": native_flags}
else:
    ARCH = {"baseline": [], "native": native_flags}


def kernel_levels():
    """The builds of the kernels this build makes."""
    if NATIVE:
        if ARCH["native"] is None:
            raise SystemExit("BPFAST_NATIVE=1: this compiler has no -march=native")
        return ("native",)
    if not X86:
        return ("baseline",)
    wanted = os.environ.get("BPFAST_LEVELS", "").replace(",", " ").split()
    if not wanted:
        return ("baseline",) if DEBUG else X86_LEVELS
    unknown = sorted(set(wanted) - set(X86_LEVELS))
    if unknown:
        raise SystemExit(f"BPFAST_LEVELS: unknown level(s) {unknown}; "
                         f"levels: {', '.join(X86_LEVELS)}")
    # the baseline always: it is what a CPU without the others runs
    return tuple(lv for lv in X86_LEVELS if lv in wanted or lv == "baseline")


LEVELS = kernel_levels()
if _flag("BPFAST_PORTABLE"):
    print("note: BPFAST_PORTABLE is no longer needed and is ignored: every build "
          "carries the kernels for several CPU levels and picks one at import "
          f"(building {', '.join(LEVELS)})", file=sys.stderr)

if MSVC:
    openmp_compile, openmp_link = ["/openmp"], []
    # /fp:precise, not /fp:fast: the kernels' sums are in a fixed order and
    # bp_exp's rounding trick ((x + 1.5 * 2^52) - 1.5 * 2^52) must not be
    # simplified away (GCC and clang build without -ffast-math likewise)
    optimise = ["/Od", "/Zi"] if DEBUG else ["/O2", "/fp:precise"]
    warnings_off = []
elif sys.platform == "darwin":
    openmp_compile, openmp_link = ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    optimise = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"]
    warnings_off = ["-Wno-psabi"]
else:
    openmp_compile, openmp_link = ["-fopenmp"], ["-fopenmp"]
    optimise = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"]
    # GCC notes, for the 64-byte vectors of the AVX-512 code paths, that their
    # ABI changed in GCC 4.6: nothing passes them between separately built code
    warnings_off = ["-Wno-psabi"]

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
if DEBUG:
    macros.append(("BPFAST_DEBUG", "1"))
if PORTABLE_WAIT:
    macros.append(("BP_PORTABLE_WAIT", "1"))
# Windows' WaitOnAddress (bp_compat.h) is in Synchronization.lib (MSVC also
# takes it from the header's #pragma; MinGW needs it named)
libraries = ["synchronization"] if sys.platform == "win32" else []

# bpfast's C: the headers and their declarations for Cython
SRC = os.path.join("bpfast", "src")
C_HEADERS = sorted(glob.glob(os.path.join(SRC, "*.h")))
C_DECLARATIONS = [os.path.join("bpfast", "_native.pxd")]
DEPENDS = C_HEADERS + C_DECLARATIONS

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "embedsignature": True,
}

# Built once per level: the kernels' compiled unit (the hot path: one
# module, so that its per-row functions inline) and the random streams (a
# shuffle of the rows every epoch: 1.5-2x slower at the baseline, which the
# smallest networks' epochs feel). Built once, for the baseline: the
# training buffers' memory (called once per fit) and the CPU probe, which
# runs before a level is chosen.
DISPATCHED = ("_kernels", "_random")
SINGLE = ("_memory", "_cpu")

# Cython once per module: bpfast/_kernels.c is the module bpfast._kernels,
# whatever level its C is then compiled for (so its classes and functions
# say bpfast._kernels, and pickles name them so, at every level).
cythonized = {ext.name: ext for ext in cythonize(
    [Extension(f"bpfast.{name}", [f"bpfast/{name}.pyx"],
               include_dirs=[np.get_include(), SRC], depends=DEPENDS)
     for name in DISPATCHED + SINGLE],
    compiler_directives=directives)}

# what this build makes, for bpfast._cpu to tell (bp_cpu.h)
ALL_LEVELS = X86_LEVELS + ("native",)
build_macros = [("BP_BUILD_LEVELS", str(sum(1 << ALL_LEVELS.index(lv) for lv in LEVELS))),
                ("BP_BUILD_BY_REQUEST", str(int(NATIVE or DEBUG
                                                or bool(os.environ.get("BPFAST_LEVELS", "").strip()))))]
extensions = [
    Extension(
        f"bpfast.{name}",
        cythonized[f"bpfast.{name}"].sources,
        include_dirs=[np.get_include(), SRC],
        depends=DEPENDS,
        define_macros=macros + (build_macros if name == "_cpu" else []),
        extra_compile_args=openmp_compile + optimise + ARCH["baseline"] + warnings_off,
        extra_link_args=openmp_link,
        libraries=libraries,
    )
    for name in SINGLE
]
for name in DISPATCHED:
    c_file = cythonized[f"bpfast.{name}"].sources[0]
    for level in LEVELS:
        ext = Extension(
            f"bpfast.{name}_{level}",
            [c_file],   # replaced by a per-level wrapper at build time (build_ext_levels)
            include_dirs=[np.get_include(), SRC],
            define_macros=macros,
            depends=[c_file] + DEPENDS,
            extra_compile_args=openmp_compile + optimise + ARCH[level] + warnings_off,
            extra_link_args=openmp_link,
            libraries=libraries,
        )
        ext.bpfast_dispatch = (name, level, c_file)
        extensions.append(ext)

# the startup hook: (source in bpfast/, name at the top of site-packages)
STARTUP_FILES = [(os.path.join("bpfast", "_sklearn_patch.pth"), "bpfast-sklearn-patch.pth"),
                 (os.path.join("bpfast", "_startup.py"), "_bpfast_startup.py")]


OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return !(n >= 1 && omp_get_max_threads() >= 1);
}
"""

NO_OPENMP_WARNING = """
***
bpfast: the compiler {compiler} has no OpenMP: {why}.
bpfast is built SERIAL: its kernels will run on one thread, correct but
without the speed of several cores. bpfast.show_config() says "OpenMP: no".
For a threaded build, use a compiler with OpenMP:
  - macOS: `brew install libomp`, then CC=clang with
    CFLAGS="-I$(brew --prefix libomp)/include" and
    LDFLAGS="-L$(brew --prefix libomp)/lib";
  - Linux: GCC, or clang with libomp (Debian/Ubuntu: apt-get install libomp-dev).
Set BPFAST_FAIL_NO_OPENMP=1 to make this an error instead.
***
"""


def _build_machine():
    import platform
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64"}.get(machine, machine)


def openmp_works(compiler, temp_dir):
    """(True, "") if `compiler` compiles and links OpenMP code with the
    build's flags and the program runs (not run when cross-compiling: the
    target's binary cannot); (False, why) otherwise."""
    import shutil
    import tempfile

    from setuptools.errors import CCompilerError

    os.makedirs(temp_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="openmp-probe-", dir=temp_dir)
    try:
        source = os.path.join(work, "probe.c")
        with open(source, "w") as f:
            f.write(OPENMP_PROBE)
        try:
            objects = compiler.compile([source], output_dir=work,
                                       extra_postargs=openmp_compile)
        except CCompilerError:
            return False, f"it cannot compile a small OpenMP program with {' '.join(openmp_compile)}"
        exe = os.path.join(work, "probe")
        try:
            compiler.link_executable(objects, "probe", output_dir=work,
                                     extra_postargs=openmp_link)
        except CCompilerError:
            return False, ("it compiles OpenMP but cannot link it"
                           + (f" with {' '.join(openmp_link)}" if openmp_link else ""))
        if MACHINE != _build_machine() or sys.platform == "darwin" and MACHINE == "universal":
            return True, ""   # cross-compiling: it linked, which is all we can tell
        import subprocess
        if MSVC:
            exe += ".exe"
        try:
            done = subprocess.run([exe], capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"a small OpenMP program it built did not run ({exc})"
        if done.returncode != 0:
            return False, f"a small OpenMP program it built exited {done.returncode}"
        return True, ""
    finally:
        shutil.rmtree(work, ignore_errors=True)


class build_ext_levels(build_ext):
    """build_ext for C files compiled at several levels.

    Each level of a module compiles a two-line wrapper of its own (in
    build_temp) that renames the module's init function (PyInit__kernels)
    to the level module's (PyInit__kernels_v3, ...) and includes the one C
    file Cython made: one object file per level, so the levels build in
    parallel. It also removes the dispatched modules' builds that this
    build does not make, in the source tree and in build_lib: a
    bpfast/_kernels.*.so of an earlier build would shadow
    bpfast/_kernels.py (an extension module wins over a .py file), a stale
    level module would be loaded as if built from these sources."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = max(1, min(len(self.extensions), os.cpu_count() or 1))

    def build_extensions(self):
        self._remove_stale_modules()
        self._check_openmp()
        wrappers = os.path.join(self.build_temp, "bpfast_levels")
        os.makedirs(wrappers, exist_ok=True)
        for ext in self.extensions:
            if not hasattr(ext, "bpfast_dispatch"):
                continue
            name, level, c_file = ext.bpfast_dispatch
            path = os.path.join(wrappers, f"{name}_{level}.c")
            include = os.path.abspath(c_file).replace(os.sep, "/")
            text = (f"/* bpfast.{name}_{level}: bpfast/{name}.c built for the level "
                    f"'{level}' (setup.py) */\n"
                    f"#define PyInit_{name} PyInit_{name}_{level}\n"
                    f'#include "{include}"\n')
            old = None
            if os.path.exists(path):
                with open(path) as f:
                    old = f.read()
            if old != text:   # rewritten only when it changes: no needless rebuild
                with open(path, "w") as f:
                    f.write(text)
            ext.sources = [path]
        super().build_extensions()

    def _check_openmp(self):
        """Drop the OpenMP flags where the compiler cannot use them (a serial
        build, with a warning), or fail with BPFAST_FAIL_NO_OPENMP=1."""
        ok, why = openmp_works(self.compiler, self.build_temp)
        if ok:
            return
        name = (getattr(self.compiler, "compiler", None) or [self.compiler.compiler_type])[0]
        message = NO_OPENMP_WARNING.format(compiler=name, why=why)
        if FAIL_NO_OPENMP:
            raise SystemExit(message + "BPFAST_FAIL_NO_OPENMP is set: stopping.")
        print(message, file=sys.stderr)
        for ext in self.extensions:
            ext.extra_compile_args = [a for a in ext.extra_compile_args
                                      if a not in openmp_compile]
            ext.extra_link_args = [a for a in ext.extra_link_args if a not in openmp_link]

    def _remove_stale_modules(self):
        keep = {f"{name}_{lv}" for name in DISPATCHED for lv in LEVELS}
        folders = {os.path.join(HERE, "bpfast"), os.path.join(self.build_lib, "bpfast")}
        for folder in folders:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                for name in DISPATCHED:
                    for path in glob.glob(os.path.join(folder, name + "*" + suffix)):
                        stem = os.path.basename(path)[:-len(suffix)]
                        if "." in stem:   # another suffix's file (.cpython-311-...so for .so)
                            continue
                        stale = stem == name or (
                            stem.startswith(name + "_")
                            and stem[len(name) + 1:] in ALL_LEVELS and stem not in keep)
                        if not stale:
                            continue
                        print(f"removing {path}: not a module of this build")
                        try:
                            os.remove(path)
                        except OSError as exc:
                            raise SystemExit(f"cannot remove {path} ({exc}); it would be "
                                             "imported instead of this build") from exc


class build_py_with_pth(build_py):
    """build_py that also places the startup hook at the top of the install:
    in build_lib, which a wheel installs into site-packages; or, in an
    editable install, in the editable wheel's own directory (setuptools
    points the install command there), since the editable wheel carries no
    files of build_lib."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            target = self.get_finalized_command("install").install_lib
        else:
            target = self.build_lib
        self.mkpath(target)
        for source, name in STARTUP_FILES:
            self.copy_file(source, os.path.join(target, name), preserve_mode=False)


setup(ext_modules=extensions,
      cmdclass={"build_py": build_py_with_pth, "build_ext": build_ext_levels})
