"""`python -m bpfast`: bpfast and scikit-learn side by side on the digits data.

Both estimators get the same hyperparameters and random_state. Their fits
alternate (scikit-learn, bpfast, scikit-learn, bpfast, ...) for --repeat
rounds, so load from elsewhere on the machine falls on both alike; the table
shows, per solver, test accuracy, the median fit time of each library and
bpfast's speedup: the median of the rounds' ratios, with their range.

`python -m bpfast --version` prints bpfast.show_config() instead: the build
of the kernels loaded (CPU level) and why, the OpenMP runtime, SciPy's BLAS
and the thread budget.
"""

import argparse
import os
import statistics
import time
import warnings

import numpy as np

LIBRARIES = ("scikit-learn", "bpfast")


def _fit_timed(est, X, y):
    t0 = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - t0


def _load_average():
    """The 1-minute load average, or None where the platform has none
    (Windows) or cannot give it."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _fmt_load(load):
    return "n/a" if load is None else f"{load:.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bpfast", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true",
                        help="print bpfast.show_config() (version, the kernels' CPU level, "
                             "OpenMP, BLAS, threads) and exit")
    parser.add_argument("--hidden", type=int, nargs="+", default=[100],
                        help="hidden layer sizes (default: 100)")
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds, each one fit of scikit-learn then one of bpfast "
                             "(default: 5); medians over them are shown")
    parser.add_argument("--float32", action="store_true", help="train in float32")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="also write bpfast's loss curve (adam run) to FILE.png")
    args = parser.parse_args(argv)
    if args.version:
        from bpfast import show_config

        show_config()
        return 0
    rounds = max(1, args.repeat)

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SkMLP

    from bpfast import MLPClassifier as BpMLP
    from bpfast._threads import kernel_threads

    classes = {"scikit-learn": SkMLP, "bpfast": BpMLP}
    load_before = _load_average()
    threads = kernel_threads()
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32 if args.float32 else np.float64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0,
                                              stratify=y)
    print(f"digits: {X_tr.shape[0]} train / {X_te.shape[0]} test rows, "
          f"{X.shape[1]} features, 10 classes, {X.dtype}; "
          f"hidden={tuple(args.hidden)}, max_iter={args.max_iter}; "
          f"{rounds} round(s) of alternating fits (scikit-learn, bpfast), medians shown")
    header = (f"{'solver':<8} {'library':<13} {'accuracy':>9} {'fit s':>9} "
              f"{'epochs':>7}  {'speedup (range over rounds)'}")
    print(header)
    print("-" * len(header))
    fitted = None
    for solver in ("adam", "sgd", "lbfgs"):
        params = dict(hidden_layer_sizes=tuple(args.hidden), solver=solver,
                      max_iter=args.max_iter, random_state=0)
        if solver == "sgd":
            params["learning_rate_init"] = 0.05
        times = {name: [] for name in LIBRARIES}
        last = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for _ in range(rounds):
                for name in LIBRARIES:
                    est = classes[name](**params)
                    times[name].append(_fit_timed(est, X_tr, y_tr))
                    last[name] = est
        if solver == "adam":
            fitted = last["bpfast"]
        ratios = [sk / bp for sk, bp in zip(times["scikit-learn"], times["bpfast"])]
        for name in LIBRARIES:
            est = last[name]
            line = (f"{solver:<8} {name:<13} {est.score(X_te, y_te):9.4f} "
                    f"{statistics.median(times[name]):9.4f} {est.n_iter_:7d}")
            if name == "bpfast":
                line += (f"  {statistics.median(ratios):.1f}x "
                         f"({min(ratios):.1f}-{max(ratios):.1f})")
            print(line)
    print(f"load average (1 min): {_fmt_load(load_before)} before, "
          f"{_fmt_load(_load_average())} after, on {os.cpu_count()} cores; "
          f"bpfast used {threads} thread{'s' * (threads != 1)}")
    if args.plot:
        from bpfast import LossCurveDisplay

        disp = LossCurveDisplay.from_estimator(fitted)
        disp.figure_.savefig(args.plot, dpi=100)
        print(f"loss curve written to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
