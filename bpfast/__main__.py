"""`python -m bpfast`: bpfast and scikit-learn side by side on the digits data.

Both estimators get the same hyperparameters and random_state; the table
shows test accuracy, fit time and bpfast's speedup for each solver.
"""

import argparse
import time
import warnings

import numpy as np


def _fit_timed(est, X, y):
    t0 = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bpfast", description=__doc__)
    parser.add_argument("--hidden", type=int, nargs="+", default=[100],
                        help="hidden layer sizes (default: 100)")
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3,
                        help="fits per estimator; the best time is shown")
    parser.add_argument("--float32", action="store_true", help="train in float32")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="also write bpfast's loss curve (adam run) to FILE.png")
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SkMLP

    from bpfast import MLPClassifier as BpMLP

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32 if args.float32 else np.float64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0,
                                              stratify=y)
    print(f"digits: {X_tr.shape[0]} train / {X_te.shape[0]} test rows, "
          f"{X.shape[1]} features, 10 classes, {X.dtype}; "
          f"hidden={tuple(args.hidden)}, max_iter={args.max_iter}")
    header = (f"{'solver':<8} {'library':<13} {'accuracy':>9} {'fit s':>9} "
              f"{'epochs':>7} {'speedup':>8}")
    print(header)
    print("-" * len(header))
    fitted = None
    for solver in ("adam", "sgd", "lbfgs"):
        params = dict(hidden_layer_sizes=tuple(args.hidden), solver=solver,
                      max_iter=args.max_iter, random_state=0)
        if solver == "sgd":
            params["learning_rate_init"] = 0.05
        rows = {}
        for name, cls in (("scikit-learn", SkMLP), ("bpfast", BpMLP)):
            best = np.inf
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                for _ in range(max(1, args.repeat)):
                    est = cls(**params)
                    best = min(best, _fit_timed(est, X_tr, y_tr))
            rows[name] = (est.score(X_te, y_te), best, est.n_iter_)
            if name == "bpfast" and solver == "adam":
                fitted = est
        base = rows["scikit-learn"][1]
        for name, (acc, sec, n_iter) in rows.items():
            speed = "" if name == "scikit-learn" else f"{base / sec:7.1f}x"
            print(f"{solver:<8} {name:<13} {acc:9.4f} {sec:9.4f} {n_iter:7d} {speed:>8}")
    if args.plot:
        from bpfast import LossCurveDisplay

        disp = LossCurveDisplay.from_estimator(fitted)
        disp.figure_.savefig(args.plot, dpi=100)
        print(f"loss curve written to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
