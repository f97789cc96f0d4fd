"""bpfast on a busy machine: its default thread count against one thread and scikit-learn.

    python benchmarks/contention.py                          # full run (see below)
    python benchmarks/contention.py --quick --cases 'iris*'  # a smoke run
    python benchmarks/contention.py --cases 'mlp-*' --conditions quiet 2-busy --rounds 5

A full run starts 8 cases x 3 conditions x 3 sides x 3 rounds = 216 processes, and their
imports (scikit-learn's ~1-2 s each) take most of its ~10-12 minutes on 2 quiet cores;
on a machine loaded from elsewhere it takes longer (scikit-learn's fits slow down the
most: its digits fit was seen at 12 s where bpfast's one-thread fit takes 0.1 s).

bpfast threads its kernels with OpenMP over every core. When other processes hold some
of the cores, a team of threads that meets at a barrier several times a minibatch can
end up slower than one thread. This benchmark measures that, in three conditions:

- ``quiet``: nothing started beside the measurement;
- ``1-busy`` / ``2-busy``: one or two plain Python processes (not pinned) spin beside
  it, each in a bare loop that every ~20 ms looks whether this benchmark is still
  there (so a killed run leaves none behind). They are started ~0.3 s before the first measurement of
  a (case, round, condition) block and killed after its last one; their start times and
  the CPU seconds they got are recorded.

For each case and condition there are three sides: bpfast with its default settings,
bpfast forced to one thread (``OMP_NUM_THREADS=1`` in that process's environment) and
scikit-learn (with its defaults: its BLAS threads as many as the cores).
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` are removed from
the environment of the other two sides, so "default" means the default.

Every measurement is a fresh Python process (``sys.executable``) that imports,
builds its data, warms up (a one-epoch fit, or one call) and then times the case's call
in-process with ``time.perf_counter``: repetitions until about ``budget`` seconds of
them have run (at least one, at most ``max_reps``; so a slow side gets fewer), and
reports their median. The per-call cases (``predict_proba`` on 1 or 10 rows) time
every call of many on their own and report the median per-call time.
The sides alternate round-robin (the side that opens a round rotates) for
``--rounds`` rounds, so load from elsewhere on the machine falls on all of them alike;
the conditions alternate inside each round too.

Reported per side: the median over rounds and the min-max over rounds. The ratios
(bpfast default / bpfast one thread, scikit-learn / bpfast default) are the medians of
the per-round ratios, with their min-max. Targets: bpfast's default takes at most
1.25x the one-thread time, and is faster than scikit-learn (both on those medians).

Results go to ``<out-dir>/contention.json`` (machine, versions, load average before
and after, every round's raw times); the run ends by printing a markdown table.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__" and str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))    # for `benchmarks.compare` when run as a script

from benchmarks.compare import (CASES as COMPARE_CASES, NEVER, SEED, select,  # noqa: E402
                                SklearnAPI, fmt, glorot, make_data, quiet_fit)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SIDES = ("bpfast", "bpfast-1thread", "scikit-learn")
CONDITIONS = {"quiet": 0, "1-busy": 1, "2-busy": 2}
SPIN_UP = 0.3           # seconds the busy processes get to start spinning
# A busy process: a plain Python loop that spins, and every million turns
# (~20 ms) looks whether this benchmark, its parent, is still there, so that
# a run killed before it could stop them leaves no spinning process behind
SPIN = ("import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n"
        "    for _ in range(1000000):\n        pass\n")
MAX_RATIO = 1.25        # target: default <= this x the one-thread time
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
CHILD_TIMEOUT = 600     # seconds; a measurement taking longer is recorded as failed


# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------
def _compare_case(name):
    return next(c for c in COMPARE_CASES if c.name == name)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str            # "fit", "predict" (one call on many rows) or "call" (per call)
    description: str
    data: str            # "iris", "digits" or "synthetic"
    units: tuple = ()    # layer sizes, input to output (synthetic data)
    rows: int = 0        # rows of the synthetic data / of each prediction call
    batch: int = 200
    epochs: int = 0
    dtype: str = "float64"


def _train_case(name, compare_name):
    c = _compare_case(compare_name)
    return Case(name, "fit", f"{'-'.join(map(str, c.units))}, batch {c.batch}, "
                f"{c.n_samples} rows, {c.dtype}, adam, 3 epochs", "synthetic",
                units=c.units, rows=c.n_samples, batch=c.batch, epochs=3, dtype=c.dtype)


_PREDICT = _compare_case("predict-64-100-10")
CASES = [
    Case("iris-200", "fit", "iris, MLPClassifier(max_iter=200), all 200 epochs", "iris",
         epochs=200),
    Case("digits-50", "fit", "digits (1797 rows / 16), adam, hidden 100, 50 epochs",
         "digits", epochs=50),
    _train_case("mlp-20-32-2-b32", "mlp-20-32-2-b32"),
    _train_case("mlp-64-100-10-b200", "mlp-64-100-10-b200"),
    _train_case("mlp-784-256-128-10-b200-f32", "mlp-784-256-128-10-b200-f32"),
    Case("predict-64-100-10-100k", "predict",
         f"64-100-10, predict_proba on {_PREDICT.n_samples} rows, {_PREDICT.dtype}",
         "synthetic", units=_PREDICT.units, rows=_PREDICT.n_samples, dtype=_PREDICT.dtype),
    Case("predict-64-100-10-1row", "call", "64-100-10, predict_proba on 1 row, per call",
         "synthetic", units=_PREDICT.units, rows=1, dtype=_PREDICT.dtype),
    Case("predict-64-100-10-10rows", "call",
         "64-100-10, predict_proba on 10 rows, per call", "synthetic",
         units=_PREDICT.units, rows=10, dtype=_PREDICT.dtype),
]


@dataclass(frozen=True)
class Budget:
    rounds: int
    seconds: float       # timed repetitions per measurement: about this long in all
    max_reps: int        # ... and at most this many (fits / large calls)
    max_calls: int       # per-call cases: at most this many timed calls
    min_calls: int       # ... and at least this many


FULL = Budget(rounds=3, seconds=0.5, max_reps=5, max_calls=1000, min_calls=200)
QUICK = Budget(rounds=2, seconds=0.25, max_reps=3, max_calls=500, min_calls=100)


# ---------------------------------------------------------------------------------------
# Child: one measurement in a fresh process
# ---------------------------------------------------------------------------------------
def _estimator_class(library):
    if library == "scikit-learn":
        from sklearn.neural_network import MLPClassifier
    else:
        from bpfast import MLPClassifier
    return MLPClassifier


def _prepare(case, library):
    """(warm-up, timed call) for the case: zero-argument callables; the timed one returns
    the seconds of its call (set-up such as building the estimator is left out)."""
    import numpy as np

    cls = _estimator_class(library)
    if case.kind == "fit":
        if case.data == "iris":
            from sklearn.datasets import load_iris

            X, y = load_iris(return_X_y=True)
            params = dict(random_state=SEED)
        elif case.data == "digits":
            from sklearn.datasets import load_digits

            X, y = load_digits(return_X_y=True)
            X = X / 16.0
            params = dict(hidden_layer_sizes=(100,), solver="adam", random_state=SEED)
        else:
            X, y = make_data(case.rows, case.units[0], case.units[-1], case.dtype)
            params = dict(hidden_layer_sizes=case.units[1:-1], batch_size=case.batch,
                          shuffle=True, random_state=SEED)
        params.update(tol=0.0, n_iter_no_change=NEVER)

        def warm():
            quiet_fit(cls(**params, max_iter=1), X, y)

        def timed():
            est = cls(**params, max_iter=case.epochs)
            t0 = time.perf_counter()
            quiet_fit(est, X, y)
            took = time.perf_counter() - t0
            assert est.n_iter_ == case.epochs, (est.n_iter_, case.epochs)
            return took
        return warm, timed

    # Prediction: Glorot weights set into an estimator fitted for one epoch on a few rows
    # that hold every class (as compare.py's predictors are made).
    n_classes = case.units[-1]
    X, _ = make_data(max(case.rows, 20 * n_classes), case.units[0], n_classes, case.dtype)
    est = quiet_fit(SklearnAPI(library, cls).estimator(case.units[1:-1], max_iter=1),
                    X[:20 * n_classes], np.arange(20 * n_classes) % n_classes)
    for coef, intercept, (W, b) in zip(est.coefs_, est.intercepts_,
                                       glorot(case.units, case.dtype)):
        coef[...] = W
        intercept[...] = b
    X = np.ascontiguousarray(X[:case.rows])

    def predict():
        est.predict_proba(X)

    def timed():
        t0 = time.perf_counter()
        predict()
        return time.perf_counter() - t0
    return predict, timed


def measure(case, library, budget):
    """The child's work: {median seconds, every timed repetition, ...}."""
    import numpy as np

    warm, timed = _prepare(case, library)
    if case.kind == "call":
        for _ in range(20):
            warm()
        times, start = [], time.perf_counter()
        while len(times) < budget.max_calls and (
                len(times) < budget.min_calls
                or time.perf_counter() - start < budget.seconds):
            times.append(timed())
        q = np.percentile(times, [10, 50, 90])
        raw = dict(calls=len(times), p10=q[0], p90=q[2])
        median = float(q[1])
    else:
        warm()
        times = []
        while len(times) < budget.max_reps and (not times or sum(times) < budget.seconds):
            times.append(timed())
        raw = dict(times=times)
        median = statistics.median(times)
    out = dict(seconds=median, **raw)
    if library != "scikit-learn":
        import bpfast
        from bpfast._threads import kernel_threads

        out.update(threads=kernel_threads(), bpfast_file=bpfast.__file__)
    out["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    return out


def child_main(case_name, library, budget):
    warnings.filterwarnings("ignore", category=UserWarning, module="threadpoolctl")
    case = next(c for c in CASES if c.name == case_name)
    print(json.dumps(measure(case, library, budget)))
    return 0


# ---------------------------------------------------------------------------------------
# Parent: busy processes, rounds, reporting
# ---------------------------------------------------------------------------------------
def _cpu_seconds(pid):
    """utime + stime of a process (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Busy:
    """`n` spinning Python processes, from entering to leaving the block."""

    def __init__(self, n):
        self.n, self.procs, self.record = n, [], []

    def __enter__(self):
        try:
            for _ in range(self.n):
                started = time.time()
                p = subprocess.Popen([sys.executable, "-c", SPIN],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                self.procs.append((p, started, time.perf_counter()))
            if self.n:
                time.sleep(SPIN_UP)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for p, started, t0 in self.procs:
            cpu = _cpu_seconds(p.pid)
            p.kill()
            p.wait()
            self.record.append(dict(pid=p.pid, started=started,
                                    seconds=time.perf_counter() - t0, cpu_seconds=cpu))
        return False


def child_env(side):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if side == "bpfast-1thread":
        env["OMP_NUM_THREADS"] = "1"
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(ROOT) not in paths:
        paths.append(str(ROOT))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_child(case, side, budget):
    library = "scikit-learn" if side == "scikit-learn" else "bpfast"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", case.name, library,
           "--budget", json.dumps(asdict(budget))]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=child_env(side), cwd=ROOT, capture_output=True,
                              text=True, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return dict(seconds=None, error=f"timed out after {CHILD_TIMEOUT} s")
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return dict(seconds=None, error=proc.stderr.strip()[-2000:], process_seconds=wall)
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return dict(seconds=None, error="no result: " + proc.stdout[-500:],
                    process_seconds=wall)
    out["process_seconds"] = wall
    return out


def load_average():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def environment(quick, budget):
    import numpy as np
    import scipy
    import sklearn

    import bpfast

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    affinity = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else None)
    return dict(date=time.strftime("%Y-%m-%d %H:%M:%S"), machine=platform.machine(),
                cpu=cpu, cores=os.cpu_count(), usable_cores=affinity,
                platform=platform.platform(), python_executable=sys.executable,
                quick=quick, budget=asdict(budget),
                thread_variables={k: os.environ.get(k) for k in THREAD_VARS},
                versions={"python": platform.python_version(), "numpy": np.__version__,
                          "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
                          "bpfast": bpfast.__version__},
                bpfast_file=bpfast.__file__, load_average_before=load_average())


def spread(values):
    """(median, min, max) of the values that are not None, or (None, None, None)."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def summarize(case, rounds):
    """Per side the median and min-max over rounds; the ratios' medians over rounds."""
    out = {}
    for side in SIDES:
        out[side] = dict(zip(("median", "min", "max"),
                             spread([r[side]["seconds"] for r in rounds])))

    def ratios(num, den):
        return [r[num]["seconds"] / r[den]["seconds"] for r in rounds
                if r[num]["seconds"] and r[den]["seconds"]]

    out["default_over_1thread"] = dict(zip(("median", "min", "max"),
                                           spread(ratios("bpfast", "bpfast-1thread"))))
    out["sklearn_over_default"] = dict(zip(("median", "min", "max"),
                                           spread(ratios("scikit-learn", "bpfast"))))
    r1, gain = out["default_over_1thread"]["median"], out["sklearn_over_default"]["median"]
    if r1 is None or gain is None:
        out["met"] = None
    else:
        out["met"] = dict(vs_1thread=r1 <= MAX_RATIO, vs_sklearn=gain > 1)
    return out


def fmt_time(seconds, per_call):
    if seconds is None:
        return "—"
    return f"{fmt(seconds * 1e6)} µs" if per_call else f"{fmt(seconds * 1e3)} ms"


def cell_time(s, per_call):
    """'12.3 ms (11.8–14.0)': the median over rounds and the min-max, in its unit."""
    if s["median"] is None:
        return "failed"
    scale, unit = (1e6, "µs") if per_call else (1e3, "ms")
    return (f"{fmt(s['median'] * scale)} {unit} "
            f"({fmt(s['min'] * scale)}–{fmt(s['max'] * scale)})")


def cell_ratio(s):
    if s["median"] is None:
        return "—"
    return f"{fmt(s['median'])}× ({fmt(s['min'])}–{fmt(s['max'])})"


def verdict(met, markdown=True):
    if met is None:
        return "?"
    missed = [what for what, ok in (("> 1.25× 1-thread", met["vs_1thread"]),
                                    ("slower than scikit-learn", met["vs_sklearn"]))
              if not ok]
    if not missed:
        return "yes"
    return ("**no**" if markdown else "NO") + " (" + ", ".join(missed) + ")"


def markdown_table(cases, results, conditions):
    head = ["case", "condition", "bpfast default", "bpfast 1-thread", "scikit-learn",
            "default / 1-thread", "scikit-learn / default", "targets met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in cases:
        for cond in conditions:
            s = results[case.name][cond]["summary"]
            per_call = case.kind == "call"
            lines.append("| " + " | ".join([
                case.name, cond, *(cell_time(s[side], per_call) for side in SIDES),
                cell_ratio(s["default_over_1thread"]),
                cell_ratio(s["sklearn_over_default"]),
                verdict(s["met"])]) + " |")
    return "\n".join(lines)


def run(args):
    budget = QUICK if args.quick else FULL
    rounds = args.rounds or budget.rounds
    cases = select(args.cases, CASES)
    conditions = args.conditions
    env = environment(args.quick, budget)
    env.update(rounds=rounds, conditions=conditions)
    if any(env["thread_variables"].values()):
        print("note: " + ", ".join(f"{k}={v}" for k, v in env["thread_variables"].items()
                                   if v)
              + " in this environment; removed for the default sides")
    print(f"{env['cpu']}, {env['usable_cores']} usable core(s), load average "
          f"{' '.join(f'{x:.2f}' for x in env['load_average_before'] or [])}; "
          + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    print(f"{len(cases)} case(s) x {len(conditions)} condition(s) x {len(SIDES)} sides x "
          f"{rounds} round(s), a fresh process each")
    t_start = time.perf_counter()
    results = {}
    for case in cases:
        t_case = time.perf_counter()
        raw = {cond: [] for cond in conditions}
        per_call = case.kind == "call"
        for r in range(rounds):
            order = SIDES[r % len(SIDES):] + SIDES[:r % len(SIDES)]
            for cond in conditions[r % len(conditions):] + conditions[:r % len(conditions)]:
                load = load_average()
                with Busy(CONDITIONS[cond]) as busy:
                    measured = {side: run_child(case, side, budget) for side in order}
                raw[cond].append(dict(round=r + 1, order=list(order), **measured,
                                      busy=busy.record, load_average_before=load))
                print(f"  {case.name} round {r + 1}/{rounds} {cond:<7} "
                      + ", ".join(f"{side} {fmt_time(measured[side]['seconds'], per_call)}"
                                  for side in SIDES), flush=True)
                for side in SIDES:
                    if measured[side].get("error"):
                        print(f"    {side} failed: {measured[side]['error']}",
                              file=sys.stderr)
        results[case.name] = {cond: dict(summary=summarize(case, raw[cond]),
                                         rounds=raw[cond]) for cond in conditions}
        results[case.name]["seconds"] = time.perf_counter() - t_case
        print(f"{case.name}: {case.description}  [{results[case.name]['seconds']:.0f} s]")
        for cond in conditions:
            s = results[case.name][cond]["summary"]
            print(f"  {cond:<7} " + "  ".join(f"{side} {cell_time(s[side], per_call)}"
                                                for side in SIDES)
                  + f"  default/1-thread {cell_ratio(s['default_over_1thread'])}"
                  f"  gain {cell_ratio(s['sklearn_over_default'])}"
                  f"  {verdict(s['met'], markdown=False)}")
    env["seconds"] = time.perf_counter() - t_start
    env["load_average_after"] = load_average()

    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / "contention.json"
    payload = dict(environment=env, cases=[dict(asdict(c), **results[c.name])
                                           for c in cases])
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    print(f"\n{len(cases)} case(s) in {env['seconds']:.0f} s (load average "
          f"{' '.join(f'{x:.2f}' for x in env['load_average_after'] or [])} at the end); "
          f"wrote {path}\n")
    print(markdown_table(cases, results, conditions))
    return 0


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="cases: " + ", ".join(c.name for c in CASES))
    p.add_argument("--cases", nargs="+", metavar="PATTERN",
                   help="run only the cases matching these shell patterns")
    p.add_argument("--conditions", nargs="+", choices=list(CONDITIONS),
                   default=list(CONDITIONS), help="default: all three")
    p.add_argument("--rounds", type=int,
                   help=f"rounds of every side (default {FULL.rounds}, "
                        f"{QUICK.rounds} with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="fewer rounds and shorter measurements")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR,
                   help=f"where contention.json goes (default: {RESULTS_DIR})")
    p.add_argument("--child", nargs=2, metavar=("CASE", "LIBRARY"), help=argparse.SUPPRESS)
    p.add_argument("--budget", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        p.error("--rounds must be at least 1")
    args.conditions = list(dict.fromkeys(args.conditions))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child_main(*args.child, Budget(**json.loads(args.budget)))
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
