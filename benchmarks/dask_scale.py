"""bpfast.dask on LocalClusters against bpfast in memory: speed, parity, client memory.

    python benchmarks/dask_scale.py                      # full run (see below)
    python benchmarks/dask_scale.py --quick              # a smoke run (~30 s)
    python benchmarks/dask_scale.py --workers 2 4 8 --rows 4000000

Not an asv suite (asv does not import it): each part starts its own
LocalCluster of worker processes with nannies.

Scale. X (rows x features, standard normal) and its labels (a random linear
teacher's argmax over 10 classes) are generated on the workers, chunked
into --chunks-per-worker chunks a worker. For each worker count W the cluster
has W single-threaded worker processes, and each process's kernels get
cores / W OpenMP threads (OMP_NUM_THREADS in the nanny's environment for
the worker it spawns). A fit of --iterations L-BFGS iterations is timed,
and every loss-and-gradient evaluation in it (SciPy calls it on the client:
it is timed there, by wrapping the function SciPy is given); the first
evaluation (where the shards build their contexts) is left out of the
median. In memory: the same rows computed to the client, bpfast's own
fit, on all the cores. The per-evaluation overhead is an evaluation of
the same network on 64 rows a worker (one chunk each): the actor round
trip with the parameters each way, the tree's sums, nothing to compute.

Memory. X of --memory-rows x --memory-features float64 (several GB) is
generated on the workers and fitted; the client's RSS (psutil: bpfast's
test extra does not have it, so this part is skipped without it) is read
before the fit and sampled every 50 ms during it. The target: growth
under 10% of X's size.

Parity. How far several chunks follow the in-memory fit: --parity-rows rows
in 8 chunks, --parity-iterations L-BFGS iterations (tol=0) in memory and
on the cluster; the loss at every iteration (SciPy's callback), the first
iteration whose relative difference passes 1e-10, and the share of equal
predictions at the end.

Stochastic. bpfast.dask's adam (chunk-averaged epochs: a different model)
against the in-memory adam, per epoch: --parity-rows rows, --adam-epochs
epochs, in memory and in 2 and 8 chunks on 2 workers.

Results go to <out-dir>/dask_scale.json; the run ends with markdown tables.
"""

import argparse
import json
import os
import platform
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__" and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class LossRecorder:
    """The loss at every L-BFGS iteration of the fits run inside, one list a
    fit (through scipy.optimize.minimize's callback)."""

    def __init__(self):
        import scipy.optimize

        self.module = scipy.optimize
        self.real = scipy.optimize.minimize
        self.curves = []

    def __enter__(self):
        def minimize(fun, x0, **kwargs):
            curve = []
            self.curves.append(curve)
            return self.real(fun, x0, callback=lambda intermediate_result: curve.append(
                intermediate_result.fun), **kwargs)

        self.module.minimize = minimize
        return self

    def __exit__(self, *exc):
        self.module.minimize = self.real


class EvaluationClock:
    """Times every call of the loss function scipy.optimize.minimize is given
    (both fits, in memory and on dask, call it on the client)."""

    def __init__(self):
        import scipy.optimize

        self.module = scipy.optimize
        self.real = scipy.optimize.minimize
        self.times = []

    def __enter__(self):
        def minimize(fun, x0, **kwargs):
            def timed(x):
                start = time.perf_counter()
                out = fun(x)
                self.times.append(time.perf_counter() - start)
                return out
            return self.real(timed, x0, **kwargs)

        self.module.minimize = minimize
        return self

    def __exit__(self, *exc):
        self.module.minimize = self.real

    def median(self):
        times = self.times[1:] if len(self.times) > 1 else self.times
        return float(np.median(times))


def generated(rows, features, chunk_rows, n_classes=10, seed=0, dtype="float64"):
    """(X, y) as dask arrays computed on the workers when needed."""
    import dask.array as da

    rs = da.random.RandomState(seed)
    X = rs.standard_normal((rows, features), chunks=(chunk_rows, features)).astype(dtype)
    teacher = np.random.RandomState(seed + 1).standard_normal((features, n_classes))
    y = (X @ teacher.astype(dtype)).argmax(axis=1)
    return X, y


def cluster(n_workers, cores):
    import distributed

    threads = max(1, cores // n_workers)
    lc = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                  processes=True, dashboard_address=None,
                                  env={"OMP_NUM_THREADS": str(threads)})
    return lc, distributed.Client(lc)


def fit_params(args, max_iter):
    return dict(hidden_layer_sizes=tuple(args.hidden), solver="lbfgs", max_iter=max_iter,
                tol=0.0, random_state=0)


def scale_part(args, cores):
    import bpfast
    import bpfast.dask as bdask

    results = []
    params = fit_params(args, args.iterations)
    for n_workers in args.workers:
        lc, client = cluster(n_workers, cores)
        try:
            chunk_rows = -(-args.rows // (n_workers * args.chunks_per_worker))
            X, y = generated(args.rows, args.features, chunk_rows)
            X, y = client.persist([X, y])
            client.wait_for_workers(n_workers)
            from distributed import wait
            wait([X, y])
            with EvaluationClock() as clock:
                start = time.perf_counter()
                bdask.MLPClassifier(**params).fit(X, y)
                fit_s = time.perf_counter() - start
            tiny = generated(64 * n_workers, args.features, 64)
            with EvaluationClock() as overhead:
                bdask.MLPClassifier(**fit_params(args, args.iterations)).fit(*tiny)
            results.append({"side": f"dask, {n_workers} worker(s)", "workers": n_workers,
                            "threads_per_worker": max(1, cores // n_workers),
                            "fit_s": fit_s, "evaluations": len(clock.times),
                            "evaluation_s": clock.median(),
                            "overhead_s": overhead.median()})
            if n_workers == args.workers[0]:
                X_local, y_local = client.compute([X, y], sync=True)
            del X, y
        finally:
            client.close()
            lc.close()
        print(results[-1], flush=True)
    with EvaluationClock() as clock:
        start = time.perf_counter()
        bpfast.MLPClassifier(**params).fit(X_local, y_local)
        fit_s = time.perf_counter() - start
    results.insert(0, {"side": f"in memory ({cores} threads)", "workers": 0,
                       "threads_per_worker": cores, "fit_s": fit_s,
                       "evaluations": len(clock.times),
                       "evaluation_s": clock.median(), "overhead_s": None})
    print(results[0], flush=True)
    return results


def parity_part(args, cores):
    import bpfast
    import bpfast.dask as bdask

    lc, client = cluster(2, cores)
    try:
        X, y = generated(args.parity_rows, args.features, -(-args.parity_rows // 8),
                         n_classes=3)
        X, y = client.persist([X, y])
        X_local, y_local = client.compute([X, y], sync=True)
        params = fit_params(args, args.parity_iterations)
        with LossRecorder() as recorder:
            local = bpfast.MLPClassifier(**params).fit(X_local, y_local)
            fitted = bdask.MLPClassifier(**params).fit(X, y)
        same = float((local.predict(X_local) == fitted.predict(X_local)).mean())
    finally:
        client.close()
        lc.close()
    a, b = (np.asarray(c) for c in recorder.curves)
    n = min(len(a), len(b))
    rel = np.abs(a[:n] - b[:n]) / np.abs(a[:n])
    over = np.nonzero(rel > 1e-10)[0]
    result = {"rows": args.parity_rows, "chunks": 8, "iterations": [len(a), len(b)],
              "relative": rel.tolist(), "max_first_50": float(rel[:50].max()),
              "first_above_1e-10": int(over[0]) + 1 if len(over) else None,
              "same_predictions": same}
    print({k: v for k, v in result.items() if k != "relative"}, flush=True)
    return result


def stochastic_part(args, cores):
    import bpfast
    import bpfast.dask as bdask

    params = dict(hidden_layer_sizes=tuple(args.hidden), solver="adam",
                  max_iter=args.adam_epochs, learning_rate_init=1e-3, tol=0.0,
                  random_state=0)
    lc, client = cluster(2, cores)
    curves = {}
    try:
        X, y = generated(args.parity_rows, args.features, args.parity_rows, n_classes=3)
        X_local, y_local = client.compute([X, y], sync=True)
        start = time.perf_counter()
        curves["in memory"] = (bpfast.MLPClassifier(**params).fit(X_local, y_local)
                               .loss_curve_, time.perf_counter() - start)
        for n_chunks in (2, 8):
            rows = -(-args.parity_rows // n_chunks)
            Xd = da_from(X_local, rows)
            yd = da_from(y_local, rows)
            start = time.perf_counter()
            curves[f"bpfast.dask, {n_chunks} chunks"] = (
                bdask.MLPClassifier(**params).fit(Xd, yd).loss_curve_,
                time.perf_counter() - start)
    finally:
        client.close()
        lc.close()
    result = {name: {"loss_curve": list(map(float, c)), "fit_s": t}
              for name, (c, t) in curves.items()}
    print({k: (v["loss_curve"][-1], v["fit_s"]) for k, v in result.items()}, flush=True)
    return result


def da_from(array, rows):
    import dask.array as da

    return da.from_array(array, chunks=(rows,) + array.shape[1:])


def memory_part(args, cores):
    try:
        import psutil
    except ImportError:
        print("memory part skipped: psutil is not installed", flush=True)
        return None
    import bpfast.dask as bdask
    from distributed import wait

    lc, client = cluster(args.workers[-1], cores)
    try:
        chunk_rows = -(-args.memory_rows // (args.workers[-1] * args.chunks_per_worker))
        X, y = generated(args.memory_rows, args.memory_features, chunk_rows)
        X, y = client.persist([X, y])
        wait([X, y])
        process = psutil.Process()
        before = process.memory_info().rss
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                peak[0] = max(peak[0], process.memory_info().rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        bdask.MLPClassifier(**fit_params(args, args.memory_iterations)).fit(X, y)
        fit_s = time.perf_counter() - start
        done.set()
        sampler.join()
        peak[0] = max(peak[0], process.memory_info().rss)
        data_bytes = X.nbytes
    finally:
        client.close()
        lc.close()
    result = {"rows": args.memory_rows, "features": args.memory_features,
              "x_bytes": int(data_bytes), "rss_before": before, "rss_peak": peak[0],
              "growth": peak[0] - before, "growth_share": (peak[0] - before) / data_bytes,
              "fit_s": fit_s}
    print(result, flush=True)
    return result


def tables(scale, memory, parity=None, stochastic=None):
    lines = ["| side | threads a worker | fit (s) | evaluations | s / evaluation | "
             "overhead / evaluation (ms) |", "|---|---|---|---|---|---|"]
    for r in scale:
        overhead = "" if r["overhead_s"] is None else "%.1f" % (1e3 * r["overhead_s"])
        lines.append("| %s | %d | %.2f | %d | %.3f | %s |" % (
            r["side"], r["threads_per_worker"], r["fit_s"], r["evaluations"],
            r["evaluation_s"], overhead))
    if memory is not None:
        lines += ["", "| X | X's size | client RSS before | peak growth | share of X |",
                  "|---|---|---|---|---|",
                  "| %d x %d float64 | %.2f GB | %.2f GB | %.1f MB | %.2f%% |" % (
                      memory["rows"], memory["features"], memory["x_bytes"] / 1e9,
                      memory["rss_before"] / 1e9, memory["growth"] / 1e6,
                      100 * memory["growth_share"])]
    if parity is not None:
        rel = np.asarray(parity["relative"])
        n = rel.shape[0]
        marks = [m for m in (10, 25, 50, 75, 100, 150, 200) if m < n] + [n]
        lines += ["", "| %d rows, 8 chunks | " % parity["rows"]
                  + " | ".join("first %d iterations" % m for m in marks)
                  + " | first above 1e-10 | same predictions |",
                  "|---|" + "---|" * (len(marks) + 2),
                  "| largest relative loss difference | "
                  + " | ".join("%.1e" % rel[:m].max() for m in marks)
                  + " | %s | %.4f |" % (parity["first_above_1e-10"],
                                        parity["same_predictions"])]
    if stochastic is not None:
        epochs = len(next(iter(stochastic.values()))["loss_curve"])
        marks = sorted({1, 2, 3, 5, epochs} & set(range(1, epochs + 1)))
        lines += ["", "| adam, loss at epoch | " + " | ".join(map(str, marks))
                  + " | fit (s) |", "|---|" + "---|" * (len(marks) + 1)]
        for name, r in stochastic.items():
            lines.append("| %s | " % name + " | ".join(
                "%.4f" % r["loss_curve"][m - 1] for m in marks) + " | %.1f |" % r["fit_s"])
    return "\n".join(lines)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--hidden", type=int, nargs="+", default=[64])
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--chunks-per-worker", type=int, default=4)
    p.add_argument("--memory-rows", type=int, default=4_000_000)
    p.add_argument("--memory-features", type=int, default=100)
    p.add_argument("--memory-iterations", type=int, default=2)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--parity-rows", type=int, default=200_000)
    p.add_argument("--parity-iterations", type=int, default=150)
    p.add_argument("--no-parity", action="store_true")
    p.add_argument("--adam-epochs", type=int, default=10)
    p.add_argument("--no-stochastic", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="small sizes, to check that the script runs")
    p.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.features, args.hidden, args.iterations = 40_000, 16, [16], 3
        args.memory_rows, args.memory_features = 100_000, 20
        args.parity_rows, args.parity_iterations = 20_000, 30
        args.adam_epochs = 3
    return args


def main(argv=None):
    args = parse(argv)
    warnings.simplefilter("ignore")
    from bpfast._threads import kernel_threads

    cores = kernel_threads()
    scale = scale_part(args, cores)
    parity = None if args.no_parity else parity_part(args, cores)
    stochastic = None if args.no_stochastic else stochastic_part(args, cores)
    memory = None if args.no_memory else memory_part(args, cores)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {"machine": platform.platform(), "python": platform.python_version(),
              "cores": cores, "args": vars(args), "scale": scale, "memory": memory,
              "parity": parity, "stochastic": stochastic,
              "loadavg_after": os.getloadavg()}
    (out / "dask_scale.json").write_text(json.dumps(record, indent=1))
    print(tables(scale, memory, parity, stochastic))


if __name__ == "__main__":
    main()
