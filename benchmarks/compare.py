"""bpfast against scikit-learn (and PyTorch and JAX where they import), timed side by side.

    python benchmarks/compare.py                 # full run, a few minutes on 2 cores
    python benchmarks/compare.py --quick         # fewer repeats, shorter runs (~2 min)
    python benchmarks/compare.py --cases 'mlp-784*' predict-64-100-10 --threads 1

Every library sees the same data, the same layer sizes, the same minibatch size and the
same thread count. What is measured, per case:

- ``mlp-*`` training: ``MLPClassifier(solver="adam").fit`` with ``max_iter`` epochs,
  ``tol=0`` and a huge ``n_iter_no_change`` so every epoch runs, ``shuffle=True``;
  the time per minibatch is the fit time / (epochs x minibatches per epoch), the best of
  a few repeats after a warm-up. PyTorch runs an eager loop of the same network
  (Linear+ReLU..., softmax cross-entropy, Adam) over shuffled minibatches; JAX a jitted
  epoch, ``lax.scan`` over its minibatches. Rivals have no L2 term (scikit-learn's
  alpha=1e-4 costs one pass over the weights per minibatch).
  GFLOP/s = 6 * rows * sum(fan_in * fan_out) per epoch over the case's layer sizes.
  % of roofline = the time of the minibatch's GEMMs (per layer: forward A @ W, weight
  gradient A^T @ D, and for all but the first layer the delta propagation D @ W^T) made
  alone through ``bpfast._kernels._gemm`` - the kernels' own BLAS wrapper - divided by
  bpfast's time per minibatch. The Python cost of a ``_gemm`` call, measured on 1x1
  products, is taken off, so the small networks' rooflines mean something too.
- ``predict-*``: ``predict_proba`` on 100k rows (20k with --quick); roofline = the
  forward GEMMs alone over the same rows in bpfast's blocks of ``BLOCK_ROWS`` rows.
- ``lbfgs-digits``: ``solver="lbfgs"`` on scikit-learn's digits, time per iteration =
  fit time / ``n_iter_`` (both libraries take the same steps for the same random_state;
  50 iterations, 20 with --quick).
- ``memory-*``: one fit in a fresh process per library: the peak of the allocations
  tracemalloc sees during it (numpy's included), and how far the peak resident set size
  rises over it (Linux: the peak is reset through /proc/self/clear_refs just before).

Each case times its libraries (and the roofline's GEMM loops) in interleaved rounds and
keeps each one's best, so load from elsewhere on the machine falls on all of them alike
(with a pause of ``SETTLE`` seconds before each timed run, so the previous library's
thread pool has stopped spinning);
the load average before and after the run is recorded with the results.

"gain" is scikit-learn's number over bpfast's (time or memory): higher is better.
Results go to ``<out-dir>/compare.json`` and a chart to ``<out-dir>/compare.png``; the
run ends by printing a markdown table of every case.
"""

import argparse
import fnmatch
import json
import math
import os
import platform
import subprocess
import sys
import time
import tracemalloc
import warnings
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NEVER = 10**9          # n_iter_no_change that never stops a fit
DISTURBED = 1.05       # a share of the roofline above this is noise, not speed
# Pause before each timed run: a thread pool keeps its threads spinning for a while after
# its last parallel call (OpenBLAS ~0.1 s, libgomp, PyTorch's, XLA's), and a run started
# inside that window shares the cores with the previous library's spinning threads.
SETTLE = 0.25
SEED = 0
BASELINE = "scikit-learn"
CANDIDATE = "bpfast"


# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """What bpfast should reach on a case: a gain over scikit-learn (time or memory)
    and/or a share of the roofline."""
    gain: float | None = None
    roofline: float | None = None

    def met(self, gain, roofline):
        ok = True
        if self.gain is not None:
            ok &= gain is not None and gain >= self.gain
        if self.roofline is not None:
            ok &= roofline is not None and roofline >= self.roofline
        return ok

    def __str__(self):
        parts = []
        if self.gain is not None:
            parts.append(f"≥{self.gain:g}×")
        if self.roofline is not None:
            parts.append(f"≥{self.roofline:.0%} roofline")
        return ", ".join(parts)


@dataclass(frozen=True)
class TrainCase:
    name: str
    units: tuple           # layer sizes, input to output (output = number of classes)
    batch: int
    n_batches: int         # minibatches per epoch
    dtype: str
    target: Target
    kind: str = "train"

    @property
    def n_samples(self):
        return self.batch * self.n_batches


@dataclass(frozen=True)
class PredictCase:
    name: str
    units: tuple
    n_samples: int
    dtype: str
    target: Target
    kind: str = "predict"


@dataclass(frozen=True)
class LbfgsCase:
    name: str
    hidden: tuple
    max_iter: int
    target: Target
    kind: str = "lbfgs"


@dataclass(frozen=True)
class MemoryCase:
    name: str
    solver: str
    units: tuple
    n_samples: int
    batch: int
    max_iter: int          # epochs (sgd, adam) or iterations (lbfgs)
    target: Target
    dtype: str = "float64"
    kind: str = "memory"


CASES = [
    TrainCase("mlp-20-32-2-b32", (20, 32, 2), 32, 250, "float64", Target(gain=40)),
    TrainCase("mlp-64-100-10-b200", (64, 100, 10), 200, 50, "float64", Target(gain=4)),
    TrainCase("mlp-100-64-64-5-b64", (100, 64, 64, 5), 64, 150, "float64", Target(gain=5)),
    TrainCase("mlp-784-256-128-10-b200", (784, 256, 128, 10), 200, 25, "float64",
              Target(gain=1.8, roofline=0.9)),
    TrainCase("mlp-784-256-128-10-b200-f32", (784, 256, 128, 10), 200, 25, "float32",
              Target(gain=2.0, roofline=0.9)),
    PredictCase("predict-64-100-10", (64, 100, 10), 100_000, "float64", Target(gain=2)),
    PredictCase("predict-784-256-128-10", (784, 256, 128, 10), 100_000, "float64",
                Target(roofline=0.9)),
    LbfgsCase("lbfgs-digits", (100,), 50, Target(gain=5)),
    MemoryCase("memory-adam", "adam", (784, 256, 128, 10), 6000, 200, 2, Target(gain=1)),
    MemoryCase("memory-sgd", "sgd", (784, 256, 128, 10), 6000, 200, 2, Target(gain=1)),
    MemoryCase("memory-lbfgs-200k", "lbfgs", (100, 100, 10), 200_000, 200, 5,
               Target(gain=10)),
]


@dataclass(frozen=True)
class Budget:
    """How hard to try. A case times its contenders in interleaved rounds and keeps each
    one's best time; rounds go on until `repeats` are done, or until `case_seconds` have
    passed once `min_repeats` are."""
    repeats: int
    min_repeats: int
    case_seconds: float
    fit_seconds: float       # epochs per timed training fit: about this long
    gemm_seconds: float      # passes per timed loop of roofline GEMMs: about this long
    predict_rows: int | None = None   # rows of the prediction cases (None: the case's)
    lbfgs_iter: int | None = None     # max_iter of the lbfgs timing (None: the case's)

    def sized(self, case):
        """The case as this budget runs it."""
        if case.kind == "predict" and self.predict_rows:
            return replace(case, n_samples=min(case.n_samples, self.predict_rows))
        if case.kind == "lbfgs" and self.lbfgs_iter:
            return replace(case, max_iter=min(case.max_iter, self.lbfgs_iter))
        return case


FULL = Budget(repeats=7, min_repeats=3, case_seconds=30, fit_seconds=0.25, gemm_seconds=0.1)
QUICK = Budget(repeats=3, min_repeats=2, case_seconds=5, fit_seconds=0.1, gemm_seconds=0.03,
               predict_rows=20_000, lbfgs_iter=20)


# ---------------------------------------------------------------------------------------
# Data and shared helpers
# ---------------------------------------------------------------------------------------
def make_data(n_samples, n_features, n_classes, dtype, seed=SEED):
    """Standard-normal X and labels from a random linear teacher."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype, copy=False)
    teacher = rng.standard_normal((n_features, n_classes)).astype(dtype)
    return X, np.argmax(X @ teacher, axis=1)


def glorot(units, dtype, seed=SEED):
    """[(W, b)] per layer, Glorot-uniform as scikit-learn draws them; W is fan_in x
    fan_out."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        layers.append((rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype),
                       rng.uniform(-bound, bound, fan_out).astype(dtype)))
    return layers


def sum_fan(units):
    return sum(a * b for a, b in zip(units[:-1], units[1:]))


def estimator_units(units):
    """Layer sizes scikit-learn's and bpfast's classifiers build: two classes get one
    logistic output unit."""
    return tuple(units[:-1]) + ((1,) if units[-1] == 2 else (units[-1],))


def seconds(fn, *args):
    time.sleep(SETTLE)
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def best_interleaved(runs, budget):
    """{name: best seconds} of `runs` ({name: zero-argument callable}), timed in rounds
    that run every entry once, so load from elsewhere on the machine falls on all of them
    alike."""
    best = {name: math.inf for name in runs}
    start = time.perf_counter()
    for done in range(budget.repeats):
        if done >= budget.min_repeats and time.perf_counter() - start > budget.case_seconds:
            break
        for name, run in runs.items():
            best[name] = min(best[name], seconds(run))
    return best


def epochs_for(fit, wanted, took):
    """Epochs that make `fit(epochs)` last about `wanted` seconds, given that `fit(1)`
    took `took`. Epochs grow until a fit takes a good part of that, so a fit's fixed cost
    (validation, set-up) does not pass for the cost of its epochs."""
    epochs = 1
    while took < wanted / 4:
        epochs = max(2 * epochs, math.ceil(epochs * wanted / 2 / max(took, 1e-9)))
        took = seconds(fit, epochs)
    return max(1, round(epochs * wanted / took))


def quiet_fit(est, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


# ---------------------------------------------------------------------------------------
# Libraries: each one makes a `fit(epochs)` for a training case and a `predict()` for a
# prediction case, both zero-setup callables that are timed as they are.
# ---------------------------------------------------------------------------------------
class SklearnAPI:
    """scikit-learn's MLPClassifier or its drop-in, bpfast's."""

    def __init__(self, name, estimator_class):
        self.name = name
        self.estimator_class = estimator_class

    def estimator(self, hidden, solver="adam", batch=200, max_iter=200, **extra):
        params = dict(hidden_layer_sizes=tuple(hidden), solver=solver, batch_size=batch,
                      max_iter=max_iter, tol=0.0, n_iter_no_change=NEVER, shuffle=True,
                      random_state=SEED)
        params.update(extra)
        return self.estimator_class(**params)

    def trainer(self, case, X, y):
        def fit(epochs):
            quiet_fit(self.estimator(case.units[1:-1], batch=case.batch, max_iter=epochs),
                      X, y)
        return fit

    def predictor(self, layers, X):
        """predict_proba with the given weights (set after a one-epoch fit on a few
        rows that hold every class, which fixes classes_ and the layer sizes)."""
        n_classes = layers[-1][0].shape[1]
        rows = 20 * n_classes
        est = quiet_fit(self.estimator([W.shape[1] for W, _ in layers[:-1]], max_iter=1),
                        X[:rows], np.arange(rows) % n_classes)
        for coef, intercept, (W, b) in zip(est.coefs_, est.intercepts_, layers):
            coef[...] = W
            intercept[...] = b
        return lambda: est.predict_proba(X)


class TorchMLP:
    """PyTorch, eager: the textbook training loop."""

    name = "PyTorch"

    def __init__(self, threads):
        import torch

        torch.set_num_threads(threads)
        self.torch = torch

    def model(self, layers):
        torch = self.torch
        modules = []
        for W, b in layers:
            linear = torch.nn.Linear(*W.shape, dtype=torch.from_numpy(W).dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                linear.bias.copy_(torch.from_numpy(b))
            modules += [linear, torch.nn.ReLU()]
        return torch.nn.Sequential(*modules[:-1])

    def trainer(self, case, X, y):
        torch = self.torch
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        layers = glorot(case.units, case.dtype)

        def fit(epochs):
            model = self.model(layers)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            gen = torch.Generator().manual_seed(SEED)
            for _ in range(epochs):
                order = torch.randperm(case.n_samples, generator=gen)
                for start in range(0, case.n_samples, case.batch):
                    rows = order[start:start + case.batch]
                    loss = torch.nn.functional.cross_entropy(model(Xt[rows]), yt[rows])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        return fit

    def predictor(self, layers, X):
        torch = self.torch
        model, Xt = self.model(layers), torch.from_numpy(X)

        def predict():
            with torch.inference_mode():
                return torch.softmax(model(Xt), dim=1)
        return predict


class JaxMLP:
    """JAX: one jit-compiled epoch, lax.scan over its minibatches."""

    name = "JAX"

    def __init__(self):
        os.environ.setdefault("JAX_PLATFORMS", "cpu")  # a CPU benchmark, like the rest
        import jax

        jax.config.update("jax_enable_x64", True)
        self.jax = jax

    @staticmethod
    def _logits(jnp, params, X):
        a = X
        for W, b in params[:-1]:
            a = jnp.maximum(a @ W + b, 0)
        W, b = params[-1]
        return a @ W + b

    def trainer(self, case, X, y, lr=1e-3, beta_1=0.9, beta_2=0.999, eps=1e-8):
        jax = self.jax
        jnp = jax.numpy
        dtype = np.dtype(case.dtype)
        n_batches, batch = case.n_batches, case.batch
        layers = glorot(case.units, case.dtype)

        def loss(params, xb, yb):
            logp = jax.nn.log_softmax(self._logits(jnp, params, xb))
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

        def step(state, minibatch):
            params, m, v, t = state
            g = jax.grad(loss)(params, *minibatch)
            t = t + 1
            m = jax.tree.map(lambda m, g: beta_1 * m + (1 - beta_1) * g, m, g)
            v = jax.tree.map(lambda v, g: beta_2 * v + (1 - beta_2) * g * g, v, g)
            lr_t = (lr * jnp.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)).astype(dtype)
            params = jax.tree.map(lambda p, m, v: p - lr_t * m / (jnp.sqrt(v) + eps),
                                  params, m, v)
            return (params, m, v, t), None

        def epoch(state, X, y, order):
            xb = X[order].reshape(n_batches, batch, X.shape[1])
            yb = y[order].reshape(n_batches, batch)
            return jax.lax.scan(step, state, (xb, yb))[0]

        def initial_state():
            params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in layers]
            zeros = jax.tree.map(jnp.zeros_like, params)
            return params, zeros, zeros, jnp.asarray(0, dtype=jnp.int32)

        Xj, yj = jnp.asarray(X), jnp.asarray(y.astype(np.int32))
        epoch = jax.jit(epoch).lower(initial_state(), Xj, yj,
                                     np.arange(case.n_samples)).compile()

        def fit(epochs):
            state = initial_state()
            rng = np.random.default_rng(SEED)
            for _ in range(epochs):
                state = epoch(state, Xj, yj, rng.permutation(case.n_samples))
            jax.block_until_ready(state)
        return fit

    def predictor(self, layers, X):
        jax = self.jax
        jnp = jax.numpy
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in layers]
        Xj = jnp.asarray(X)
        forward = jax.jit(lambda p, X: jax.nn.softmax(self._logits(jnp, p, X), axis=1))
        forward = forward.lower(params, Xj).compile()         # compiled here, not timed
        return lambda: forward(params, Xj).block_until_ready()


def libraries(threads, rivals=True):
    """scikit-learn and bpfast, then the rivals that import, in that order."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    from bpfast import MLPClassifier as BpMLP

    libs = [SklearnAPI(BASELINE, SkMLP), SklearnAPI(CANDIDATE, BpMLP)]
    if rivals:
        for make in (lambda: TorchMLP(threads), JaxMLP):
            try:
                libs.append(make())
            except ImportError:
                pass
    return libs


# ---------------------------------------------------------------------------------------
# Roofline: the same GEMMs alone, through the kernels' own BLAS wrapper
# ---------------------------------------------------------------------------------------
def training_gemms(units, batch, dtype):
    """(trans_a, trans_b, A, B, C) for one minibatch's products, layer by layer:
    forward Z = A @ W, weight gradient G = A^T @ D, delta propagation D @ W^T (l > 0)."""
    rng = np.random.default_rng(SEED)

    def rand(*shape):
        return rng.standard_normal(shape).astype(dtype)

    calls = []
    for l, (fan_in, fan_out) in enumerate(zip(units[:-1], units[1:])):
        A, W, D = rand(batch, fan_in), rand(fan_in, fan_out), rand(batch, fan_out)
        calls.append((False, False, A, W, np.empty((batch, fan_out), dtype)))
        calls.append((True, False, A, D, np.empty((fan_in, fan_out), dtype)))
        if l > 0:
            calls.append((False, True, D, W, np.empty((batch, fan_in), dtype)))
    return calls


def forward_gemms(layers, X, block_rows):
    """The forward products of a blocked prediction over the rows of X."""
    outs = [np.empty((block_rows, W.shape[1]), X.dtype) for W, _ in layers]
    calls = []
    for start in range(0, X.shape[0], block_rows):
        A = X[start:start + block_rows]
        for (W, _), out in zip(layers, outs):
            C = out[:A.shape[0]]
            calls.append((False, False, A, W, C))
            A = C
    return calls


GEMMS, BARE_CALLS = "GEMMs alone", "1x1 calls"


def gemm_runs(calls, budget):
    """The roofline's two timed loops, to run beside the libraries: `times` passes over
    `calls`, and as many calls on 1x1 operands (the Python cost of making them, taken
    off by gemm_seconds). Returns (runs, times)."""
    from bpfast._kernels import _gemm

    one = np.ones((1, 1), calls[0][2].dtype)
    bare = [(ta, tb, one, one, np.empty_like(one)) for ta, tb, *_ in calls]

    def loop(calls, times):
        def run():
            for _ in range(times):
                for ta, tb, A, B, C in calls:
                    _gemm(ta, tb, 1.0, A, B, 0.0, C)
        return run

    once = seconds(loop(calls, 1))
    times = max(1, math.ceil(budget.gemm_seconds / max(once, 1e-9)))
    return {GEMMS: loop(calls, times), BARE_CALLS: loop(bare, times)}, times


def gemm_seconds(best, times):
    """Seconds of one pass over the roofline's GEMMs, from best_interleaved's times;
    None where they are lost in the noise of the 1x1-call correction."""
    gemm = best[GEMMS] - best[BARE_CALLS]
    return gemm / times if gemm > 0 else None


def roofline_fields(gemm, bpfast_seconds, flop, scale):
    """A result's roofline entries: the GEMMs' time (in the result's unit, `scale` per
    second), their GFLOP/s and bpfast's share of the roofline (None where unmeasured)."""
    if gemm is None:
        return dict(gemms_alone=None, gemms_gflops=None, roofline=None)
    return dict(gemms_alone=gemm * scale, gemms_gflops=flop / gemm / 1e9,
                roofline=gemm / bpfast_seconds)


# ---------------------------------------------------------------------------------------
# Runners, one per kind of case; each returns a result dict (see summarize()).
# ---------------------------------------------------------------------------------------
def run_train(case, libs, budget):
    X, y = make_data(case.n_samples, case.units[0], case.units[-1], case.dtype)
    flop = 6 * case.n_samples * sum_fan(case.units) / case.n_batches   # per minibatch
    runs, epochs = {}, {}
    for lib in libs:
        fit = lib.trainer(case, X, y)
        seconds(fit, 1)                      # warm-up (first-call costs)
        epochs[lib.name] = epochs_for(fit, budget.fit_seconds, seconds(fit, 1))
        runs[lib.name] = partial(fit, epochs[lib.name])
    roofline, times = gemm_runs(training_gemms(estimator_units(case.units), case.batch,
                                               case.dtype), budget)
    best = best_interleaved({**runs, **roofline}, budget)
    libs_out = {}
    for name in runs:
        per_mb = best[name] / (epochs[name] * case.n_batches)
        libs_out[name] = dict(us_per_minibatch=per_mb * 1e6, epochs=epochs[name],
                              gflops=flop / per_mb / 1e9)
    bpfast_seconds = libs_out[CANDIDATE]["us_per_minibatch"] / 1e6
    return dict(value_key="us_per_minibatch", unit="µs/minibatch", libraries=libs_out,
                **roofline_fields(gemm_seconds(best, times), bpfast_seconds, flop, 1e6))


def run_predict(case, libs, budget):
    from bpfast._network import BLOCK_ROWS

    X, _ = make_data(case.n_samples, case.units[0], case.units[-1], case.dtype)
    layers = glorot(case.units, case.dtype)
    flop = 2 * case.n_samples * sum_fan(case.units)
    runs = {lib.name: lib.predictor(layers, X) for lib in libs}
    roofline, times = gemm_runs(forward_gemms(layers, X, BLOCK_ROWS), budget)
    best = best_interleaved({**runs, **roofline}, budget)
    libs_out = {name: dict(ms=best[name] * 1e3, gflops=flop / best[name] / 1e9)
                for name in runs}
    return dict(value_key="ms", unit=f"ms/{case.n_samples // 1000}k rows",
                libraries=libs_out,
                **roofline_fields(gemm_seconds(best, times), best[CANDIDATE], flop, 1e3))


def run_lbfgs(case, libs, budget):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0

    def fit(lib):
        return quiet_fit(lib.estimator(case.hidden, solver="lbfgs", max_iter=case.max_iter),
                         X, y)

    sklearn_api = libs[:2]
    n_iter = {lib.name: fit(lib).n_iter_ for lib in sklearn_api}   # also the warm-up
    best = best_interleaved({lib.name: partial(fit, lib) for lib in sklearn_api}, budget)
    libs_out = {name: dict(ms_per_iteration=sec * 1e3 / n_iter[name], n_iter=n_iter[name])
                for name, sec in best.items()}
    return dict(value_key="ms_per_iteration", unit="ms/iteration", libraries=libs_out,
                samples=X.shape[0])


def _proc_status_kib(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise OSError(f"no {name} in /proc/self/status")


def reset_peak_rss():
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS and return that, in
    bytes; None where this cannot be done (not Linux, or not allowed)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _proc_status_kib("VmRSS") * 1024
    except OSError:
        return None


def fit_memory(case, lib):
    """Run in a fresh process: the tracemalloc peak of one fit and how far the peak RSS
    rises over it (None where it cannot be read), in bytes. A small warm-up fit first
    loads and starts everything the fit uses."""
    from sklearn.base import clone

    X, y = make_data(case.n_samples, case.units[0], case.units[-1], case.dtype)
    est = lib.estimator(case.units[1:-1], solver=case.solver, batch=case.batch,
                        max_iter=case.max_iter)
    quiet_fit(clone(est).set_params(max_iter=1), X[:4 * case.batch], y[:4 * case.batch])
    if lib.name == CANDIDATE:
        # the warm-up's buffer mappings, kept for a next fit of the same network, are
        # let go: the measured fit maps its own, as a process's first fit does
        from bpfast._memory import release_block_cache
        release_block_cache()
    rss_before = reset_peak_rss()
    tracemalloc.start()
    try:
        quiet_fit(est, X, y)
        traced = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rss_rise = None if rss_before is None else _proc_status_kib("VmHWM") * 1024 - rss_before
    return dict(traced=traced, rss_rise=rss_rise)


def run_memory(case, libs, threads):
    """fit_memory of scikit-learn and bpfast, each in a fresh interpreter, so neither
    sees the other's (or the rivals') leftovers."""
    libs_out = {}
    for lib in libs[:2]:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--threads", str(threads),
               "--memory-child", case.name, lib.name]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"memory measurement of {lib.name} failed:\n{proc.stderr}")
        mem = json.loads(proc.stdout.strip().splitlines()[-1])
        libs_out[lib.name] = dict(
            traced_mib=mem["traced"] / 2**20,
            rss_rise_mib=None if mem["rss_rise"] is None else mem["rss_rise"] / 2**20)
    return dict(value_key="traced_mib", unit="MiB traced peak", libraries=libs_out)


def run_case(case, libs, budget, threads):
    if case.kind == "train":
        return run_train(case, libs, budget)
    if case.kind == "predict":
        return run_predict(case, libs, budget)
    if case.kind == "lbfgs":
        return run_lbfgs(case, libs, budget)
    return run_memory(case, libs, threads)


# ---------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------
def describe(case):
    if case.kind == "train":
        return (f"{'-'.join(map(str, case.units))}, batch {case.batch}, {case.dtype}, "
                f"{case.n_samples} rows = {case.n_batches} minibatches/epoch, adam")
    if case.kind == "predict":
        return (f"{'-'.join(map(str, case.units))}, predict_proba on {case.n_samples} "
                f"rows, {case.dtype}")
    if case.kind == "lbfgs":
        return f"digits, hidden {case.hidden}, lbfgs, max_iter={case.max_iter}"
    return (f"{'-'.join(map(str, case.units))}, {case.solver} fit, {case.n_samples} rows, "
            f"max_iter={case.max_iter}, {case.dtype}")


def summarize(case, result):
    """Add bpfast's gain over scikit-learn (and each rival's), and whether the target is
    met, to a runner's result."""
    key = result["value_key"]
    base = result["libraries"][BASELINE][key]
    for lib in result["libraries"].values():
        lib["gain"] = base / lib[key] if lib[key] else None
    result["gain"] = result["libraries"][CANDIDATE]["gain"]
    if case.kind == "memory":
        rss = [result["libraries"][n]["rss_rise_mib"] for n in (BASELINE, CANDIDATE)]
        result["rss_gain"] = rss[0] / rss[1] if None not in rss and rss[1] > 0 else None
    result["target_text"] = str(case.target)
    roofline = result.get("roofline")
    # bpfast makes these very GEMM calls, so it cannot beat them: a share well over 100%
    # means the GEMM loop was slowed by other work on the machine.
    result["roofline_disturbed"] = roofline is not None and roofline > DISTURBED
    if result["roofline_disturbed"] and case.target.roofline is not None:
        result["met"] = None
    else:
        result["met"] = case.target.met(result["gain"], roofline)
    return result


def verdict(result, markdown=False):
    if result["met"] is None:
        return "? (roofline disturbed)"
    if markdown:
        return "yes" if result["met"] else "**no**"
    return "met" if result["met"] else "MISSED"


def fmt(x, digits=3):
    """A number with `digits` significant digits, no exponent for everyday sizes."""
    if x is None:
        return "—"
    if x == 0 or abs(x) >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    return f"{x:.{max(0, digits - 1 - math.floor(math.log10(abs(x))))}f}"


def percent(share):
    return fmt(100 * share, 2) + "%"


def print_case(case, result):
    key = result["value_key"]
    print(f"\n{case.name}: {describe(case)}  [{result['seconds']:.0f} s]")
    for name, lib in result["libraries"].items():
        line = f"  {name:<13} {fmt(lib[key]):>10} {result['unit']:<16}"
        if "gflops" in lib:
            line += f" {fmt(lib['gflops']):>6} GFLOP/s"
        line += f"   {fmt(lib['gain'])}× scikit-learn"
        if "epochs" in lib:
            line += f"   ({lib['epochs']} epoch{'s' * (lib['epochs'] > 1)} a fit)"
        if "n_iter" in lib:
            line += f"   ({lib['n_iter']} iterations)"
        if lib.get("rss_rise_mib") is not None:
            line += f"   peak RSS +{fmt(lib['rss_rise_mib'])} MiB"
        print(line)
    if "roofline" in result:
        if result["roofline"] is None:
            print(f"  {'GEMMs alone':<13} lost in the noise of the 1x1-call correction")
        else:
            print(f"  {'GEMMs alone':<13} {fmt(result['gemms_alone']):>10}"
                  f" {result['unit']:<16}"
                  f" {fmt(result['gemms_gflops']):>6} GFLOP/s"
                  f"   bpfast at {percent(result['roofline'])} of roofline"
                  + ("  (disturbed: rerun)" if result["roofline_disturbed"] else ""))
    print(f"  target {result['target_text']}: {verdict(result)}")


RIVAL_NAMES = ("PyTorch", "JAX")


def markdown_table(cases, results):
    head = ["case", "measure", BASELINE, CANDIDATE, "gain", "bpfast GFLOP/s",
            "% of roofline", *RIVAL_NAMES, "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in cases:
        r = results[case.name]
        libs, key = r["libraries"], r["value_key"]

        def cell(name):
            if name not in libs:
                return "—"
            text = fmt(libs[name][key])
            if case.kind == "memory" and libs[name].get("rss_rise_mib") is not None:
                text += f" (RSS +{fmt(libs[name]['rss_rise_mib'])})"
            if name in RIVAL_NAMES:
                text += f" ({fmt(libs[name]['gain'])}×)"
            return text

        measure = r["unit"] + (" (peak RSS rise)" if case.kind == "memory" else "")
        row = [case.name, measure, cell(BASELINE), cell(CANDIDATE),
               f"{fmt(r['gain'])}×", fmt(libs[CANDIDATE].get("gflops")),
               percent(r["roofline"]) if r.get("roofline") is not None else "—",
               *(cell(n) for n in RIVAL_NAMES), r["target_text"] or "—",
               verdict(r, markdown=True)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot(cases, results, path, title):
    """Gain over scikit-learn per case and library, and bpfast's share of the roofline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    names = [c.name for c in cases][::-1]
    libs = [CANDIDATE, *RIVAL_NAMES]
    colors = {CANDIDATE: "tab:blue", "PyTorch": "tab:orange", "JAX": "tab:green"}
    roof = [(n, results[n]["roofline"]) for n in names
            if results[n].get("roofline") is not None]
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(13, 0.45 * len(names) + 2.2),
        gridspec_kw=dict(width_ratios=[3, 2]))
    height = 0.8 / len(libs)
    for i, lib in enumerate(libs):
        ys, gains = [], []
        for y, n in enumerate(names):
            gain = results[n]["libraries"].get(lib, {}).get("gain")
            if gain:
                ys.append(y + (len(libs) / 2 - i - 0.5) * height)
                gains.append(gain)
        bars = ax1.barh(ys, gains, height=height, color=colors[lib], label=lib)
        if lib == CANDIDATE:
            ax1.bar_label(bars, [f"{fmt(g, 2)}×" for g in gains], padding=2,
                          fontsize="x-small")
    for y, n in enumerate(names):
        target = next(c.target for c in cases if c.name == n).gain
        if target:
            ax1.plot([target, target], [y - 0.45, y + 0.45], color="black", lw=1,
                     zorder=1)
    ax1.axvline(1, color="grey", lw=0.8)
    ax1.set_xscale("log")
    ax1.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax1.set_yticks(range(len(names)), names)
    ax1.set_xlabel("gain over scikit-learn (time or memory; black: target)")
    ax1.legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=len(libs), frameon=False,
               fontsize="small")
    if roof:
        bars = ax2.barh(range(len(roof)), [100 * r for _, r in roof],
                        color=colors[CANDIDATE])
        ax2.bar_label(bars, [percent(r) for _, r in roof], padding=2, fontsize="x-small")
        ax2.set_yticks(range(len(roof)), [n for n, _ in roof])
        ax2.axvline(90, color="black", lw=1, zorder=1)
        ax2.set_xlim(0, max(110, 115 * max(r for _, r in roof)))
        ax2.set_xlabel("bpfast: % of roofline (black: 90%)")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_average():
    """1-minute load average: other work on the machine makes every number noisier."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def environment(threads, libs, quick):
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    import bpfast

    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
                "bpfast": bpfast.__version__}
    for lib in libs:
        if isinstance(lib, TorchMLP):
            versions["torch"] = lib.torch.__version__
        elif isinstance(lib, JaxMLP):
            versions["jax"] = lib.jax.__version__
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return dict(date=time.strftime("%Y-%m-%d %H:%M:%S"), machine=platform.machine(),
                cpu=cpu, cores=os.cpu_count(), threads=threads, quick=quick,
                load_average_before=load_average(),
                versions=versions,
                threadpools=[{k: p.get(k) for k in ("internal_api", "version",
                                                     "num_threads", "filepath")}
                             for p in threadpool_info()])


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------
def limit_threads(threads):
    """One thread budget for everything in this process: CPU affinity (XLA sizes its
    pools from it), environment for libraries not loaded yet; threadpoolctl covers
    the BLAS and OpenMP pools already loaded (see main)."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if available and threads < len(available):
        os.sched_setaffinity(0, available[:threads])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()


def select(patterns, cases=None):
    """The cases (compare.py's own by default) whose names match a pattern."""
    cases = CASES if cases is None else cases
    if not patterns:
        return list(cases)
    chosen = [c for c in cases if any(fnmatch.fnmatch(c.name, p) for p in patterns)]
    if not chosen:
        raise SystemExit(f"no case matches {patterns}; cases: "
                         + ", ".join(c.name for c in cases))
    return chosen


def parse_args(argv):
    default_threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                       else os.cpu_count() or 1)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="cases: " + ", ".join(c.name for c in CASES))
    p.add_argument("--threads", type=int, default=default_threads,
                   help=f"threads for every library (default: all, {default_threads})")
    p.add_argument("--quick", action="store_true",
                   help="fewer repeats, shorter fits, 20k prediction rows, 20 lbfgs "
                        "iterations (~2 minutes)")
    p.add_argument("--cases", nargs="+", metavar="PATTERN",
                   help="run only the cases matching these shell patterns")
    p.add_argument("--no-rivals", action="store_true",
                   help="skip PyTorch and JAX even where they import")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR,
                   help=f"where compare.json and compare.png go (default: {RESULTS_DIR})")
    p.add_argument("--memory-child", nargs=2, metavar=("CASE", "LIBRARY"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    limit_threads(args.threads)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads):
        if args.memory_child:
            case = next(c for c in CASES if c.name == args.memory_child[0])
            lib = next(l for l in libraries(args.threads, rivals=False)
                       if l.name == args.memory_child[1])
            print(json.dumps(fit_memory(case, lib)))
            return 0
        return run(args)


def run(args):
    budget = QUICK if args.quick else FULL
    cases = [budget.sized(case) for case in select(args.cases)]
    libs = libraries(args.threads, rivals=not args.no_rivals)
    env = environment(args.threads, libs, args.quick)
    print(f"{env['cpu']}, {args.threads} thread(s), load average "
          f"{fmt(env['load_average_before'])}; "
          + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    t_start = time.perf_counter()
    results = {}
    for case in cases:
        t_case = time.perf_counter()
        results[case.name] = summarize(case, run_case(case, libs, budget, args.threads))
        results[case.name]["seconds"] = time.perf_counter() - t_case
        print_case(case, results[case.name])
    env["seconds"] = time.perf_counter() - t_start
    env["load_average_after"] = load_average()

    args.out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = args.out_dir / "compare.json", args.out_dir / "compare.png"
    payload = dict(environment=env,
                   cases=[dict(asdict(c), description=describe(c), **results[c.name])
                          for c in cases])
    json_path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    try:
        others = ", ".join(lib.name for lib in libs if lib.name != CANDIDATE)
        plot(cases, results, png_path, f"{CANDIDATE} vs {others}: {args.threads} "
             f"thread(s), {env['cpu']} ({env['date'][:10]})")
        wrote = f"{json_path} and {png_path}"
    except ImportError:
        wrote = (f"{json_path} (no chart: matplotlib is not installed; it is in the "
                 "'bench' extra)")
    print(f"\n{len(cases)} case(s) in {env['seconds']:.0f} s (load average "
          f"{fmt(env['load_average_after'])} at the end); wrote {wrote}\n")
    print(markdown_table(cases, results))
    return 0


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning, module="threadpoolctl")
    raise SystemExit(main())
