"""The wheel against a native build of bpfast, case by case, in alternated processes.

    scripts/build_wheel.sh                       # -> dist/wheelhouse/bpfast-*.whl
    python benchmarks/isa.py --wheel dist/wheelhouse/bpfast-*.whl
    python benchmarks/isa.py --wheel W.whl --native-dir DIR --rounds 7 --threads 1 \\
        --cases 'mlp-784*' exp-235k

Two builds of bpfast in one Python environment (this one: numpy, SciPy and
scikit-learn are the same for both):

- the wheel, unpacked into a temporary directory (its bundled libgomp in
  bpfast.libs/ comes with it): the kernels for every CPU level, the best of
  which it loads here (runtime dispatch, bpfast/_dispatch.py);
- a native build: a copy of this source tree built in place with
  BPFAST_NATIVE=1 (-march=native, as every source build was before the
  dispatch), or --native-dir, a tree built so already (docs/cpu-levels.md's
  figures: a checkout of 9163258, the last commit before the dispatch,
  built in place as it builds, -march=native).

Cases: compare.py's training cases (µs per minibatch: adam fits with every
epoch run), its prediction cases (predict_proba, ms per 100k rows) and
lbfgs-digits (ms per iteration), timed as compare.py times bpfast, plus the
kernels' vectorised exp and log over 235,000 float64 values (µs). Each case
runs in a fresh process per build, the builds alternating (native, wheel,
then wheel, native, ...) for --rounds rounds, at each --threads count; a
process warms up, then keeps the best of 5 timed runs (wall time, and the
process's CPU time, which time spent waiting for a core on a busy machine
does not inflate). Per case: each build's median over rounds, and the
wheel's speed relative to native: the median over rounds of native time /
wheel time, with its range, and the same by CPU time. The target is >= 0.97
for every case. Results go to
benchmarks/results/isa.json (--out).
"""

import argparse
import fnmatch
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET = 0.97
ELEMENTWISE = {"exp-235k": ("_exp", 235_000), "log-235k": ("_log", 235_000)}


def all_cases():
    sys.path.insert(0, str(HERE))
    import compare

    cases = [c.name for c in compare.CASES if c.kind in ("train", "predict", "lbfgs")]
    return cases + list(ELEMENTWISE)


# ---------------------------------------------------------------------------------------
# Child: one case, one build (the one on PYTHONPATH), one line of JSON
# ---------------------------------------------------------------------------------------
def best_of(fn, repeats, settle):
    """(best wall seconds, best process CPU seconds) of `repeats` calls of fn,
    each after a pause of `settle` seconds (thread pools stop spinning)."""
    wall, cpu = [], []
    for _ in range(repeats):
        time.sleep(settle)
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def child(case_name, threads, epochs, repeats=5):
    sys.path.insert(0, str(HERE))
    import compare

    compare.limit_threads(threads)
    from threadpoolctl import threadpool_limits

    import numpy as np

    import bpfast
    from bpfast import _kernels

    try:
        from bpfast import _dispatch
        reason = _dispatch.loaded.get("reason")
    except ImportError:     # a build from before the dispatch: one module, -march=native
        reason = "no dispatch: one module"
    out = dict(module=_kernels.__name__, file=_kernels.__file__, reason=reason,
               bpfast=os.path.dirname(bpfast.__file__))
    settle = compare.SETTLE
    with threadpool_limits(limits=threads):
        if case_name in ELEMENTWISE:
            fn, n = ELEMENTWISE[case_name]
            x = np.random.default_rng(0).uniform(0.5, 2.0, n)
            work = x.copy()
            kernel = getattr(_kernels, fn)

            def run():
                for _ in range(20):
                    work[:] = x
                    kernel(work)
            run()
            scale, unit = 1e6 / 20, "µs"
        else:
            case = next(c for c in compare.CASES if c.name == case_name)
            lib = compare.SklearnAPI("bpfast", bpfast.MLPClassifier)
            if case.kind == "train":
                X, y = compare.make_data(case.n_samples, case.units[0], case.units[-1],
                                         case.dtype)
                fit = lib.trainer(case, X, y)
                compare.seconds(fit, 1)                       # warm-up
                if not epochs:
                    epochs = compare.epochs_for(fit, 0.25, compare.seconds(fit, 1))
                run = partial(fit, epochs)
                scale, unit = 1e6 / (epochs * case.n_batches), "µs/minibatch"
                out["epochs"] = epochs
            elif case.kind == "predict":
                X, _ = compare.make_data(case.n_samples, case.units[0], case.units[-1],
                                         case.dtype)
                run = lib.predictor(compare.glorot(case.units, case.dtype), X)
                run()
                scale, unit = 1e3 * 100_000 / case.n_samples, "ms/100k rows"
            else:   # lbfgs
                from sklearn.datasets import load_digits

                X, y = load_digits(return_X_y=True)
                X = X / 16.0

                def run():
                    return compare.quiet_fit(lib.estimator(case.hidden, solver="lbfgs",
                                                           max_iter=case.max_iter), X, y)
                scale, unit = 1e3 / run().n_iter_, "ms/iteration"
        wall, cpu = best_of(run, repeats, settle)
    out.update(value=wall * scale, cpu=cpu * scale, unit=unit)
    return out


# ---------------------------------------------------------------------------------------
# Parent
# ---------------------------------------------------------------------------------------
def unpack_wheel(wheel, into):
    with zipfile.ZipFile(wheel) as z:
        z.extractall(into)
    for path in Path(into).rglob("*.so*"):
        path.chmod(0o755)       # zip members lose their mode
    return into


def build_native(into):
    """A copy of the source tree (tracked and untracked, not ignored files),
    built in place with BPFAST_NATIVE=1."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], check=True, capture_output=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src, dst = ROOT / name, Path(into) / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    env = {**os.environ, "BPFAST_NATIVE": "1"}
    for var in ("BPFAST_LEVELS", "BPFAST_DEBUG", "PYTHONPATH"):
        env.pop(var, None)
    t0 = time.perf_counter()
    log = Path(into) / "build.log"
    with open(log, "w") as f:
        r = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=into,
                           env=env, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        raise SystemExit(f"native build failed: see {log}")
    print(f"native build: {into} ({time.perf_counter() - t0:.0f} s)")
    return into


def run_child(path, case, threads, epochs):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "BPFAST_CPU", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(path)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", case,
           "--threads", str(threads)] + (["--epochs", str(epochs)] if epochs else [])
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if r.returncode:
        raise SystemExit(f"{case} failed under {path}:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}" if x >= 1 else f"{x:.3f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--wheel", type=Path, help="the wheel (scripts/build_wheel.sh's)")
    p.add_argument("--native-dir", type=Path,
                   help="a source tree built with BPFAST_NATIVE=1 (default: build one)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--cases", nargs="+", metavar="PATTERN")
    p.add_argument("--out", type=Path, default=HERE / "results" / "isa.json")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.threads[0], args.epochs)))
        return 0
    if args.wheel is None:
        p.error("--wheel is required")

    cases = all_cases()
    if args.cases:
        cases = [c for c in cases if any(fnmatch.fnmatch(c, pat) for pat in args.cases)]
    work = Path(tempfile.mkdtemp(prefix="bpfast-isa."))
    try:
        builds = {"native": args.native_dir or build_native(work / "native"),
                  "wheel": unpack_wheel(args.wheel, work / "wheel")}
        results = []
        t_start = time.perf_counter()
        load_before = os.getloadavg()[0]
        for threads in args.threads:
            for case in cases:
                values = {"native": [], "wheel": []}
                cpu = {"native": [], "wheel": []}
                epochs, seen = None, {}
                for r in range(args.rounds):
                    order = ("native", "wheel") if r % 2 == 0 else ("wheel", "native")
                    for build in order:
                        got = run_child(builds[build], case, threads, epochs)
                        epochs = epochs or got.get("epochs")
                        values[build].append(got["value"])
                        cpu[build].append(got["cpu"])
                        seen[build] = got
                speed = [n / w for n, w in zip(values["native"], values["wheel"])]
                cpu_speed = [n / w for n, w in zip(cpu["native"], cpu["wheel"])]
                row = dict(case=case, threads=threads, unit=seen["wheel"]["unit"],
                           native=values["native"], wheel=values["wheel"],
                           native_cpu=cpu["native"], wheel_cpu=cpu["wheel"],
                           cpu_speed_median=statistics.median(cpu_speed),
                           native_module=seen["native"]["module"],
                           wheel_module=seen["wheel"]["module"],
                           speed_median=statistics.median(speed), speed_min=min(speed),
                           speed_max=max(speed))
                row["met"] = row["speed_median"] >= TARGET
                results.append(row)
                print(f"{case:28s} {threads}t  native {fmt(statistics.median(row['native']))} "
                      f"wheel {fmt(statistics.median(row['wheel']))} {row['unit']}  "
                      f"wheel speed {row['speed_median']:.3f} "
                      f"({row['speed_min']:.3f}-{row['speed_max']:.3f}), by CPU time "
                      f"{row['cpu_speed_median']:.3f} "
                      f"[{row['wheel_module']} vs {row['native_module']}]", flush=True)
        env = dict(date=time.strftime("%Y-%m-%d %H:%M:%S"), cores=os.cpu_count(),
                   rounds=args.rounds, wheel=args.wheel.name,
                   load_average_before=load_before, load_average_after=os.getloadavg()[0],
                   seconds=time.perf_counter() - t_start)
        try:
            with open("/proc/cpuinfo") as f:
                env["cpu"] = next(l.split(":", 1)[1].strip() for l in f
                                  if l.startswith("model name"))
        except (OSError, StopIteration):
            pass
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(dict(environment=env, cases=results), indent=1,
                                       ensure_ascii=False) + "\n")
        print(f"\n{len(results)} rows in {env['seconds']:.0f} s, load average "
              f"{load_before:.2f} -> {env['load_average_after']:.2f}; wrote {args.out}\n")
        print(markdown(results))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def markdown(results):
    lines = ["| case | threads | unit | native | wheel | wheel speed / native (range) "
             "| by CPU time | ≥ 0.97 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['case']} | {r['threads']} | {r['unit']} | "
            f"{fmt(statistics.median(r['native']))} | {fmt(statistics.median(r['wheel']))} | "
            f"{r['speed_median']:.3f} ({r['speed_min']:.3f}–{r['speed_max']:.3f}) | "
            f"{r['cpu_speed_median']:.3f} | {'yes' if r['met'] else '**no**'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
