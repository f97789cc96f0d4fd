"""Explanations by backpropagation (bpfast.explain) against NumPy and SHAP.

    python benchmarks/explain.py                  # the full run (~2-4 minutes on 2 cores)
    python benchmarks/explain.py --quick          # fewer rounds and rows for SHAP

The model: an MLPClassifier 64-32-16-10 (relu, adam, 200 epochs) fitted on
scikit-learn's digits (pixels / 16). Measured, alternating the sides inside
each round, medians and min-max over the rounds:

- integrated gradients of 1,000 rows, 50 steps, from the zero baseline:
  bpfast.explain.integrated_gradients (the predicted class, and all ten
  classes), and the same arithmetic in NumPy (the same 50 Gauss-Legendre
  points a row, the forward pass and backpropagation to the input as array
  operations on all 50,000 points at once, float64);
- gradient SHAP of the same rows (200 background rows, 50 draws a row);
- per row against SHAP's KernelExplainer (nsamples=200, a 10-centre k-means
  background, bpfast's predict_proba as its model) and PermutationExplainer
  (a masker of the same background, max_evals=2 x 64 + 1, its minimum), on
  a few rows: seconds a row and the ratio;
- agreement: Spearman's rank correlation, across the 64 pixels, of the mean
  absolute attribution (over the rows and classes explained) of integrated
  gradients against KernelExplainer's and PermutationExplainer's.

Prints a markdown table and writes benchmarks/results/explain.json (or
--out). A benchmark, not a test: no figure here is asserted.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = Path(__file__).resolve().parent / "results" / "explain.json"


def _model():
    from sklearn.datasets import load_digits

    from bpfast import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=200,
                              random_state=0).fit(X, y)
    return model, X


def numpy_integrated_gradients(model, X, target, steps=50):
    """Integrated gradients of class column `target` (one a row) in NumPy:
    the same Gauss-Legendre points, every point's forward pass and
    backpropagation to the input as array operations, float64."""
    from scipy.special import roots_legendre

    nodes, weights = roots_legendre(steps)
    nodes, weights = (nodes + 1) / 2, weights / 2
    n, d = X.shape
    P = (nodes[None, :, None] * X[:, None, :]).reshape(n * steps, d)   # baseline 0
    acts = [P]
    for W, b in zip(model.coefs_[:-1], model.intercepts_[:-1]):
        acts.append(np.maximum(acts[-1] @ W + b, 0.0))                  # relu
    z = acts[-1] @ model.coefs_[-1] + model.intercepts_[-1]
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    cols = np.repeat(np.asarray(target), steps)
    pc = p[np.arange(n * steps), cols]
    delta = -pc[:, None] * p
    delta[np.arange(n * steps), cols] += pc
    for layer in range(len(model.coefs_) - 1, 0, -1):
        delta = (delta @ model.coefs_[layer].T) * (acts[layer] > 0)
    grad = delta @ model.coefs_[0].T
    grad = grad.reshape(n, steps, d)
    return X * np.einsum("s,nsd->nd", weights, grad)


def _timed(fn, rounds):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _summary(times):
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "rounds": len(times)}


def run(args):
    from scipy.stats import spearmanr

    from bpfast import explain
    from bpfast._threads import kernel_threads

    model, X = _model()
    rows = X[:1000]
    pred_idx = np.searchsorted(model.classes_, model.predict(rows))
    pred = model.classes_[pred_idx]
    background = X[1000:1200]

    sides = {
        "bpfast IG, predicted class": lambda: explain.integrated_gradients(
            model, rows, target=pred, steps=50),
        "bpfast IG, all 10 classes": lambda: explain.integrated_gradients(
            model, rows, steps=50),
        "NumPy IG, predicted class": lambda: numpy_integrated_gradients(
            model, rows, pred_idx, steps=50),
        "bpfast gradient SHAP, predicted class": lambda: explain.gradient_shap(
            model, rows, background, target=pred, n_samples=50, random_state=0),
    }
    # the two implementations agree
    ours = explain.integrated_gradients(model, rows, target=pred, steps=50)
    ref = numpy_integrated_gradients(model, rows, pred_idx, steps=50)
    agreement = float(np.abs(ours - ref).max() / np.abs(ref).max())
    for fn in sides.values():   # warm-up
        fn()
    times = {name: [] for name in sides}
    names = list(sides)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]   # rotate who goes first
        for name in order:
            times[name] += _timed(sides[name], 1)
    results = {name: _summary(t) for name, t in times.items()}

    # SHAP, per row
    shap_rows = X[1200:1200 + args.shap_rows]
    shap_info = {}
    try:
        import shap
    except ImportError:
        shap = None
    if shap is not None:
        km = shap.kmeans(X[:1000], 10)
        kernel = shap.KernelExplainer(model.predict_proba, km, link="identity")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            kvals = kernel.shap_values(shap_rows, nsamples=200, silent=True)
            t_kernel = time.perf_counter() - t0
        if isinstance(kvals, list):    # older shap: a list, an array a class
            kvals = np.stack(kvals, axis=-1)
        kvals = np.asarray(kvals)       # (rows, features, classes)
        masker = shap.maskers.Independent(km.data, max_samples=10)
        perm = shap.PermutationExplainer(model.predict_proba, masker)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            pvals = perm(shap_rows, max_evals=2 * X.shape[1] + 1, silent=True).values
            t_perm = time.perf_counter() - t0
        # ours on the same rows, every class, per row
        t_ours = statistics.median(_timed(
            lambda: explain.integrated_gradients(model, shap_rows, steps=50), 5))
        ig_rows = explain.integrated_gradients(model, shap_rows, steps=50)
        gs_rows = explain.gradient_shap(model, shap_rows, X[:1000], n_samples=200,
                                        random_state=0)
        per_row_ours_1000 = results["bpfast IG, all 10 classes"]["median"] / len(rows)

        def importance(v):
            return np.abs(v).mean(axis=(0, 2))

        imp_k, imp_p = importance(kvals), importance(pvals)
        # constant pixels (always 0 in digits) have no attribution anywhere
        live = (imp_k > 0) | (importance(ig_rows) > 0)
        shap_info = {
            "shap_version": shap.__version__, "rows": int(len(shap_rows)),
            "kernel_seconds_per_row": t_kernel / len(shap_rows),
            "permutation_seconds_per_row": t_perm / len(shap_rows),
            "bpfast_ig_seconds_per_row_same_rows": t_ours / len(shap_rows),
            "bpfast_ig_seconds_per_row_of_1000": per_row_ours_1000,
            "kernel_over_bpfast": (t_kernel / len(shap_rows)) / per_row_ours_1000,
            "permutation_over_bpfast": (t_perm / len(shap_rows)) / per_row_ours_1000,
            "spearman_ig_vs_kernel": float(spearmanr(importance(ig_rows)[live],
                                                     imp_k[live])[0]),
            "spearman_ig_vs_permutation": float(spearmanr(importance(ig_rows)[live],
                                                          imp_p[live])[0]),
            "spearman_gradient_shap_vs_kernel": float(spearmanr(
                importance(gs_rows)[live], imp_k[live])[0]),
            "spearman_kernel_vs_permutation": float(spearmanr(imp_k[live],
                                                              imp_p[live])[0]),
            "pixels_compared": int(live.sum()),
        }
    try:
        load = os.getloadavg()
    except (AttributeError, OSError):
        load = None
    env = {"machine": platform.machine(), "processor": platform.processor(),
           "python": platform.python_version(), "threads": kernel_threads(),
           "cpus": os.cpu_count(), "load_average_after": load,
           "numpy_vs_bpfast_max_relative_difference": agreement}
    payload = {"environment": env, "timings": results, "shap": shap_info}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(table(payload))
    print(f"\nwrote {out}")
    return 0


def _ms(x):
    return f"{1e3 * x:,.1f}"


def table(payload):
    t = payload["timings"]
    lines = ["| integrated gradients, 1,000 digits rows, 50 steps | median (ms) | "
             "min-max (ms) |", "|---|---|---|"]
    for name, r in t.items():
        lines.append(f"| {name} | {_ms(r['median'])} | {_ms(r['min'])}-{_ms(r['max'])} |")
    np_ratio = (t["NumPy IG, predicted class"]["median"]
                / t["bpfast IG, predicted class"]["median"])
    lines.append(f"\nNumPy / bpfast (predicted class): {np_ratio:.1f}x; the two agree to "
                 f"{payload['environment']['numpy_vs_bpfast_max_relative_difference']:.1e} "
                 "of the largest attribution.")
    s = payload["shap"]
    if s:
        lines += ["", f"| per row (all 10 classes), {s['rows']} rows | seconds a row | "
                  "bpfast faster by |", "|---|---|---|",
                  f"| bpfast integrated gradients (of 1,000 rows) | "
                  f"{s['bpfast_ig_seconds_per_row_of_1000'] * 1e6:,.0f} us | |",
                  f"| bpfast integrated gradients (these rows alone) | "
                  f"{s['bpfast_ig_seconds_per_row_same_rows'] * 1e6:,.0f} us | |",
                  f"| SHAP KernelExplainer (nsamples=200, k-means 10) | "
                  f"{s['kernel_seconds_per_row'] * 1e3:,.1f} ms | "
                  f"{s['kernel_over_bpfast']:,.0f}x |",
                  f"| SHAP PermutationExplainer (max_evals=129) | "
                  f"{s['permutation_seconds_per_row'] * 1e3:,.1f} ms | "
                  f"{s['permutation_over_bpfast']:,.0f}x |",
                  "", f"Rank agreement (Spearman, mean |attribution| over "
                  f"{s['pixels_compared']} pixels): integrated gradients vs KernelExplainer "
                  f"{s['spearman_ig_vs_kernel']:.2f}, vs PermutationExplainer "
                  f"{s['spearman_ig_vs_permutation']:.2f}; gradient SHAP vs KernelExplainer "
                  f"{s['spearman_gradient_shap_vs_kernel']:.2f}; KernelExplainer vs "
                  f"PermutationExplainer {s['spearman_kernel_vs_permutation']:.2f}."]
    else:
        lines.append("\n(shap is not installed: no SHAP comparison)")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--shap-rows", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 5 if args.quick else 11
    if args.shap_rows is None:
        args.shap_rows = 10 if args.quick else 40
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
