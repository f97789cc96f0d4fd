"""bpfast's models exported through skl2onnx (bpfast/_onnx.py), run by onnxruntime.

    python benchmarks/onnx_runtime.py            # both parts
    python benchmarks/onnx_runtime.py --quick    # fewer repetitions, 20k rows

1. Agreement: for every hidden activation, output kind (binary, multiclass and
   multilabel classifiers: predict_proba; single- and multi-output regressors:
   predict) and float type, the largest |onnxruntime - bpfast| over 10,000 rows
   (standard normal x 2, beyond the training range), and the share of labels
   that differ.
2. Speed: predict_proba of a 64-100-10 classifier (one epoch of adam on the asv
   suites' data) on 1 row and on 100,000 rows, float32 and float64: bpfast
   against onnxruntime's ``session.run`` (the probabilities and labels; ZipMap
   off) with its default thread count and with one thread. Each side's time is
   the median over repetitions (at least 5, until ``--budget`` seconds; the
   1-row case times every call of a batch of 200 on its own).
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.datasets import make_multilabel_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from benchmarks._common import make_data  # noqa: E402
from bpfast import MLPClassifier, MLPRegressor  # noqa: E402

ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu"]
KINDS = ["binary", "multiclass", "multilabel", "single", "multi"]


def session(onx, threads=0):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(onx.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def agreement(dtype, n_rows=10_000):
    rows = []
    rng = np.random.RandomState(0)
    X_test = (2 * rng.normal(size=(n_rows, 8))).astype(dtype)
    for kind in KINDS:
        if kind == "multilabel":
            X, y = make_multilabel_classification(400, n_features=8, n_classes=4,
                                                  random_state=0)
        elif kind in ("binary", "multiclass"):
            X, y = make_classification(400, n_features=8, n_informative=5,
                                       n_classes=2 if kind == "binary" else 4,
                                       random_state=0)
        else:
            X = rng.normal(size=(400, 8))
            y = X @ rng.normal(size=(8, 3)) + np.sin(2 * X[:, :3])
            y = y[:, 0] if kind == "single" else y
        X = ((X - X.mean(0)) / X.std(0)).astype(dtype)
        for activation in ACTIVATIONS:
            cls = MLPRegressor if kind in ("single", "multi") else MLPClassifier
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = cls(hidden_layer_sizes=(32, 16), activation=activation,
                            max_iter=50, learning_rate_init=0.01, random_state=0,
                            negative_slope=0.2, elu_alpha=0.7).fit(X, y)
            options = {"zipmap": False} if cls is MLPClassifier else None
            outputs = session(to_onnx(model, X[:1], options=options), 1).run(
                None, {"X": X_test})
            if cls is MLPClassifier:
                labels, values = outputs
                expected = model.predict_proba(X_test)
                label_diff = np.mean(np.asarray(labels).reshape(n_rows, -1)
                                     != model.predict(X_test).reshape(n_rows, -1))
            else:
                values, label_diff = outputs[0], None
                expected = model.predict(X_test).reshape(n_rows, -1)
            rows.append((kind, activation, np.dtype(dtype).name,
                         float(np.abs(values - expected).max()),
                         float(np.abs(expected).max()), label_diff))
    return rows


def median_time(fn, budget, per_call=1):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        for _ in range(per_call):
            fn()
        times.append((time.perf_counter() - t0) / per_call)
        if len(times) >= 2000:
            break
    return statistics.median(times)


def speed(dtype, n_rows, budget):
    X, y, _, hidden, batch = make_data("64-100-10 b200", dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden, batch_size=batch, max_iter=1,
                              random_state=0).fit(X, y)
    onx = to_onnx(model, X[:1], options={"zipmap": False})
    sessions = {"onnxruntime": session(onx), "onnxruntime 1 thread": session(onx, 1)}
    results = []
    for rows in (1, n_rows):
        X_test = make_data("64-100-10 b200", dtype, n_rows=rows, seed=1)[0]
        per_call = 200 if rows == 1 else 1
        sides = {"bpfast": lambda: model.predict_proba(X_test)}
        for name, sess in sessions.items():
            sides[name] = (lambda s=sess: s.run(None, {"X": X_test}))
        diff = np.abs(sessions["onnxruntime"].run(None, {"X": X_test})[1]
                      - model.predict_proba(X_test)).max()
        times = {name: median_time(fn, budget, per_call) for name, fn in sides.items()}
        results.append((np.dtype(dtype).name, rows, times, float(diff)))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--budget", type=float, default=2.0,
                        help="seconds of repetitions per side and case")
    parser.add_argument("--skip-agreement", action="store_true")
    args = parser.parse_args()
    n_rows = 20_000 if args.quick else 100_000
    budget = 0.3 if args.quick else args.budget
    print(f"onnxruntime {ort.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")

    if not args.skip_agreement:
        print("\n| kind | activation | dtype | max abs diff | max abs value | "
              "labels differing |\n|---|---|---|---|---|---|")
        for dtype in (np.float32, np.float64):
            for kind, act, name, diff, scale, labels in agreement(dtype):
                lab = "" if labels is None else f"{labels:.4%}"
                print(f"| {kind} | {act} | {name} | {diff:.2e} | {scale:.3g} | {lab} |")

    print("\n| dtype | rows | bpfast | onnxruntime | onnxruntime 1 thread | "
          "onnxruntime / bpfast | max abs diff |\n|---|---|---|---|---|---|---|")
    for dtype in (np.float32, np.float64):
        for name, rows, times, diff in speed(dtype, n_rows, budget):
            unit, scale = ("us", 1e6) if rows == 1 else ("ms", 1e3)
            cells = " | ".join(f"{times[k] * scale:.1f} {unit}" for k in
                               ("bpfast", "onnxruntime", "onnxruntime 1 thread"))
            ratio = times["onnxruntime"] / times["bpfast"]
            print(f"| {name} | {rows:,} | {cells} | {ratio:.2f}x | {diff:.1e} |")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
