"""The digits fit of CI's aarch64 leg (.ci/aarch64-leg.sh): bpfast against
scikit-learn's MLPClassifier with the same parameters, on this machine.

    python .ci/aarch64-digits.py OUT.npz
    python .ci/aarch64-digits.py OUT.npz --against OTHER.npz

Fits both estimators on the first 1500 digits (sklearn.datasets.load_digits,
scaled to [0, 1]) for three cases: adam and sgd with Nesterov momentum in
float64, adam in float32 (one hidden layer of 40 relu units, 20 epochs,
random_state=0; tests/test_parity.py's classifier cases). Checks what
tests/test_parity.py holds bpfast to: the same number of epochs, loss curves
equal within 1e-6 relative (float32: 1e-3), the same predictions on the 297
other digits (agreement >= 0.999), coefficients within 100 times that
tolerance. Saves both estimators' loss curves, coefficients and predictions
in OUT.npz. With --against, prints how far this machine's results are from
OTHER.npz's (another machine's or another CPU level's run of this script):
the largest relative difference of bpfast's final loss, loss curve and
coefficients (element by element, and against the largest coefficient), and
the same for scikit-learn's, for comparison. It asserts
nothing about those: they are measurements (docs/cpu-levels.md).
"""
import argparse
import platform
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier

import bpfast
from bpfast import _kernels

CASES = {
    "adam-float64": (np.float64, dict(solver="adam", learning_rate_init=0.001)),
    "sgd-nesterov-float64": (np.float64, dict(solver="sgd", momentum=0.9,
                                              nesterovs_momentum=True,
                                              learning_rate_init=0.01)),
    "adam-float32": (np.float32, dict(solver="adam", learning_rate_init=0.001)),
}
COMMON = dict(hidden_layer_sizes=(40,), activation="relu", max_iter=20, random_state=0)
RTOL = {np.float64: 1e-6, np.float32: 1e-3}


def max_rel(a, b):
    """max |a - b| / max(|a|, |b|) elementwise (0 where both are 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.maximum(np.abs(a), np.abs(b))
    diff = np.abs(a - b)
    nonzero = scale > 0
    return float((diff[nonzero] / scale[nonzero]).max()) if nonzero.any() else 0.0


def max_rel_norm(a, b):
    """max |a - b| / max |b|: the largest difference against the largest value."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max()
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a - b).max())


def flat(est):
    return np.concatenate([w.ravel() for w in est.coefs_ + est.intercepts_]).astype(np.float64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--against")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    where = f"{platform.machine()}, {_kernels.__name__}"
    print(f"digits: {where}; bpfast {bpfast.__version__}, "
          f"scikit-learn {sys.modules['sklearn'].__version__}, numpy {np.__version__}")
    saved = {}
    failures = []
    for case, (dtype, solver) in CASES.items():
        Xc = X.astype(dtype)
        X_tr, X_te, y_tr = Xc[:1500], Xc[1500:], y[:1500]
        times = {}
        fitted = {}
        for name, cls in (("sklearn", SkClassifier), ("bpfast", bpfast.MLPClassifier)):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fitted[name] = cls(**COMMON, **solver).fit(X_tr, y_tr)
            times[name] = time.perf_counter() - t0
        sk, bp = fitted["sklearn"], fitted["bpfast"]
        rtol = RTOL[dtype]
        agree = float(np.mean(bp.predict(X_te) == sk.predict(X_te)))
        curve = max_rel(bp.loss_curve_, sk.loss_curve_) \
            if len(bp.loss_curve_) == len(sk.loss_curve_) else float("inf")
        coefs = max(max_rel(a, b) for a, b in zip(bp.coefs_ + bp.intercepts_,
                                                  sk.coefs_ + sk.intercepts_))
        ok = (len(bp.loss_curve_) == len(sk.loss_curve_) == COMMON["max_iter"]
              and curve <= rtol and agree >= 0.999 and bp.coefs_[0].dtype == dtype)
        for a, b in zip(bp.coefs_ + bp.intercepts_, sk.coefs_ + sk.intercepts_):
            ok = ok and np.allclose(a, b, rtol=rtol * 100, atol=rtol * 10)
        print(f"  {case}: loss_ bpfast {bp.loss_!r}, sklearn {sk.loss_!r}; loss curve max rel "
              f"diff {curve:.2e} (<= {rtol:g}); coefs max rel diff {coefs:.2e}; predictions "
              f"agree {agree:.4f}; fit {times['sklearn']:.1f} s sklearn, "
              f"{times['bpfast']:.1f} s bpfast: {'ok' if ok else 'FAILED'}")
        if not ok:
            failures.append(case)
        for name, est in fitted.items():
            saved[f"{case}/{name}/loss_curve"] = np.asarray(est.loss_curve_, dtype=np.float64)
            saved[f"{case}/{name}/coefs"] = flat(est)
            saved[f"{case}/{name}/predict"] = est.predict(X_te)
    saved["where"] = np.array(where)
    np.savez(args.out, **saved)

    if args.against:
        other = np.load(args.against)
        print(f"against {args.against} ({other['where']}):")
        for case in CASES:
            parts = []
            for name in ("bpfast", "sklearn"):
                a = saved[f"{case}/{name}/loss_curve"]
                b = other[f"{case}/{name}/loss_curve"]
                n = min(len(a), len(b))
                loss = max_rel(a[-1], b[-1]) if len(a) == len(b) else float("inf")
                ca, cb = saved[f"{case}/{name}/coefs"], other[f"{case}/{name}/coefs"]
                agree = np.mean(saved[f"{case}/{name}/predict"] == other[f"{case}/{name}/predict"])
                parts.append(
                    f"{name}: loss_ {loss:.2e}, loss curve {max_rel(a[:n], b[:n]):.2e}, coefs "
                    f"{max_rel(ca, cb):.2e} (against the largest: {max_rel_norm(ca, cb):.2e}), "
                    f"predictions agree {agree:.4f}")
            print(f"  {case}: max rel diff " + "; ".join(parts))
    if failures:
        print(f"digits: bpfast differs from scikit-learn: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
