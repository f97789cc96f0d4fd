#!/usr/bin/env python
"""Fuzz target for bpfast's compiled entry points.

    bpfast._kernels.train_epoch, loss_gradient, predict, _gemm

and the contexts the first three take (Layout, Data, FitContext,
LossContext), which check what they are given once, when they are built.
Every call (building the contexts from the arrays, then the entry point)
must either succeed with consistent output (equal, to rounding, to
a NumPy reference implementation of the same mathematics) or raise a Python
exception (ValueError, TypeError, ...); it must never crash, never write
outside the arrays it was given, and never write into its inputs.

Cases are drawn as a "recipe" (a small JSON-able dict: kernel, shapes, dtype,
hyperparameters, a seed for the array contents and one deliberate
malformation -- a wrong length, a corrupted meta array, an out-of-range
sample order, a broken CSR indptr / indices, a wrong dtype, a non-contiguous
or read-only buffer, a misaligned buffer, ...). Every array handed to a
kernel lies inside a larger buffer whose guard cells are checked after the
call; float guards (and the fresh workspace) are NaN, so an out-of-bounds or
uninitialised read shows up as NaN in the output.

Usage
-----
    # a long run: atheris (libFuzzer) if installed, otherwise hypothesis
    python fuzz/fuzz_kernels.py --budget-seconds 600
    # a fixed budget (what tests/test_reliability_fuzz.py runs, per kernel)
    python fuzz/fuzz_kernels.py --engine hypothesis --kernel train_epoch \\
        --max-examples 200 --seed 1
    # re-run one recorded case (printed on failure; the case being run is
    # also written to --last-case before the call, so a case that kills the
    # interpreter can be replayed)
    python fuzz/fuzz_kernels.py --replay '{"kernel": "predict", ...}'

Run it from the repository root with bpfast importable (installed, or built
in place and on PYTHONPATH) and hypothesis installed (the `test` extra);
atheris, when installed, takes the --budget-seconds runs. Run it against a
debug build (BPFAST_DEBUG=1, bounds checks on) as well as the release build:
put the build first on PYTHONPATH.

Not a test module: tests/test_reliability_fuzz.py runs it in subprocesses
with a fixed budget, and tests/test_reliability_runtime.py imports its
call_kernel (both find it in the repository's fuzz/ folder).
"""

import argparse
import collections
import inspect
import json
import math
import os
import sys
import tempfile
import time
import traceback

import numpy as np

from bpfast import _kernels as K
from bpfast._network import Network

KERNELS = ("gemm", "predict", "loss_gradient", "train_epoch")
ALLOWED_ERRORS = (ValueError, TypeError, IndexError, AssertionError, OverflowError,
                  BufferError, ZeroDivisionError)
ACT_NAMES = {v: k for k, v in K.ACTIVATIONS.items()}
OUT_NAMES = {v: k for k, v in K.OUTPUTS.items()}

# parameters the kernels may grow; these values leave the mathematics as the
# reference below implements it (no penalty mix, no dropout)
NEUTRAL_PARAMETERS = {"l1_ratio": 0.0, "dropout": 0.0, "seed": 0}

GUARD = 24                     # guard cells on each side of every array
INT_GUARD = 2**40 + 7          # what an out-of-bounds index read would find
CHUNK = K.CHUNK_SIZE            # the kernels' optimizer chunk (for scratch sizes)


class HarnessError(Exception):
    """The harness itself cannot call the kernels (e.g. a new parameter)."""


class FuzzFailure(AssertionError):
    """A kernel broke its contract on a case."""


# --------------------------------------------------------------------------------------
# Calling the kernels whatever their exact signature
# --------------------------------------------------------------------------------------
_SIGNATURES = {}


def call_kernel(fn, kwargs):
    """Call fn with arguments by name; parameters the harness does not pass
    get NEUTRAL_PARAMETERS values, unknown required ones are an error."""
    name = getattr(fn, "__name__", str(fn))
    if name not in _SIGNATURES:
        _SIGNATURES[name] = list(inspect.signature(fn).parameters.values())
    args = []
    for p in _SIGNATURES[name]:
        if p.name in kwargs:
            args.append(kwargs[p.name])
        elif p.name in NEUTRAL_PARAMETERS:
            args.append(NEUTRAL_PARAMETERS[p.name])
        elif p.default is not inspect.Parameter.empty:
            args.append(p.default)
        else:
            raise HarnessError(f"{name}() takes {p.name!r}, which the fuzz harness does "
                               "not know")
    return fn(*args)


# The three network entry points take contexts built from the arrays; the
# harness describes a call by those arrays and values (the names below), so
# that each malformation stays what it was, and a malformed case may be
# refused by a context's constructor or by the entry point itself.
def predict_call(X, X_data, X_indices, X_indptr, sparse, n_features, meta, slope, params,
                 work, out, n_threads):
    layout = K.Layout(meta, slope)
    rows = K.Data(X, X_data, X_indices, X_indptr, sparse, n_features)
    return K.predict(layout, rows, params, work, out, n_threads)


def loss_gradient_call(X, X_data, X_indices, X_indptr, sparse, n_features, Y,
                       sample_weight, meta, slope, params, grads, work, alpha, n_threads):
    layout = K.Layout(meta, slope)
    data = K.Data(X, X_data, X_indices, X_indptr, sparse, n_features, Y, sample_weight)
    context = K.LossContext(layout, work, alpha=alpha, **NEUTRAL_PARAMETERS)
    return K.loss_gradient(context, data, params, grads, n_threads)


def train_epoch_call(X, X_data, X_indices, X_indptr, sparse, n_features, Y, sample_weight,
                     order, gather, meta, slope, params, shadow, grads, work, state1, state2,
                     step_count, batch_size, solver, learning_rate, alpha, momentum,
                     nesterov, beta_1, beta_2, epsilon, n_threads):
    layout = K.Layout(meta, slope)
    data = K.Data(X, X_data, X_indices, X_indptr, sparse, n_features, Y, sample_weight)
    # (the reference's rmsprop decays by beta_2)
    context = K.FitContext(
        layout, params, grads, work, state1, state2, step_count, solver=solver,
        batch_size=batch_size, learning_rate=learning_rate, shadow=shadow, alpha=alpha,
        momentum=momentum, nesterov=nesterov, beta_1=beta_1, beta_2=beta_2, rho=beta_2,
        epsilon=epsilon, **NEUTRAL_PARAMETERS)
    return K.train_epoch(context, data, order, gather, n_threads)


# --------------------------------------------------------------------------------------
# Guarded arrays
# --------------------------------------------------------------------------------------
class Arena:
    """Arrays that live inside larger buffers with guard cells around them.
    check() verifies every guard and that no input was written."""

    def __init__(self):
        self._items = []

    def array(self, name, values, dtype=None, *, is_input, layout="C"):
        """A guarded copy of `values`. layout: 'C', 'noncontig', 'readonly',
        'fortran', 'misaligned'."""
        values = np.asarray(values, dtype=dtype)
        dtype = values.dtype
        guard = np.nan if dtype.kind == "f" else min(INT_GUARD, np.iinfo(dtype).max)
        n = values.size
        if layout == "misaligned":
            item = dtype.itemsize
            raw = np.empty((n + 2 * GUARD) * item + item, dtype=np.uint8)
            addr = raw.__array_interface__["data"][0]
            # start at an address that is NOT a multiple of the item size
            # (for 4-byte floats: 4 mod 8, which breaks the kernels' double
            # row-loss view; for 8-byte ones: 4 mod 8)
            shift = (4 - addr) % 8 if item >= 4 else 1
            base = raw[shift:shift + (n + 2 * GUARD) * item].view(dtype)
            base[...] = guard
            view = base[GUARD:GUARD + n].reshape(values.shape)
            view[...] = values
        elif layout == "noncontig":
            base = np.full(2 * n + 2 * GUARD, guard, dtype=dtype)
            inner = base[GUARD:GUARD + 2 * n]
            view = inner[::2][:n].reshape(values.shape) if values.ndim <= 1 else \
                inner.reshape(values.shape[0], 2 * values.shape[1])[:, ::2] \
                if values.ndim == 2 and values.shape[1] > 0 else inner[:n].reshape(values.shape)
            view[...] = values
        else:
            base = np.full(n + 2 * GUARD, guard, dtype=dtype)
            view = base[GUARD:GUARD + n].reshape(values.shape)
            if layout == "fortran" and values.ndim == 2:
                view = base[GUARD:GUARD + n].reshape(values.shape[::-1]).T
            view[...] = values
            if layout == "readonly":
                view.flags.writeable = False
        self._items.append(dict(name=name, base=base, view=view, n=n, is_input=is_input,
                                before=base.tobytes() if is_input else None,
                                guards=(base[:GUARD].tobytes(),
                                        base[base.size - GUARD:].tobytes())))
        return view

    def view(self, name):
        for it in self._items:
            if it["name"] == name:
                return it["view"]
        return None

    def check(self):
        for it in self._items:
            base = it["base"]
            if it["is_input"]:
                if base.tobytes() != it["before"]:
                    raise FuzzFailure(f"the kernel wrote into its input {it['name']!r} "
                                      "(or next to it)")
            elif (base[:GUARD].tobytes(), base[base.size - GUARD:].tobytes()) != it["guards"]:
                raise FuzzFailure(f"the kernel wrote outside the array {it['name']!r}")


# --------------------------------------------------------------------------------------
# NumPy reference of the mathematics (float64)
# --------------------------------------------------------------------------------------
def act_f(z, act, slope):
    name = ACT_NAMES[act]
    if name == "identity":
        return z
    if name == "logistic":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "elu":
        return np.where(z > 0, z, slope * np.expm1(np.minimum(z, 0)))
    raise AssertionError(name)


def act_fprime_from_a(a, act, slope):
    name = ACT_NAMES[act]
    if name == "identity":
        return np.ones_like(a)
    if name == "logistic":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, slope)
    if name == "elu":
        return np.where(a > 0, 1.0, a + slope)
    raise AssertionError(name)


def out_f(z, out):
    name = OUT_NAMES[out]
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "logistic":
        return 1 / (1 + np.exp(-z))
    if name == "exp":
        return np.exp(z)
    return z


def row_losses(p, y, out, eps):
    name = OUT_NAMES[out]
    if name == "softmax":
        pc = np.clip(p, eps, 1 - eps)
        return -np.where(y == 0, 0.0, y * np.log(pc)).sum(axis=1)
    if name == "logistic":
        pc = np.clip(p, eps, 1 - eps)
        return -(np.where(y == 0, 0.0, y * np.log(pc))
                 + np.where(1 - y == 0, 0.0, (1 - y) * np.log(1 - pc))).sum(axis=1)
    if name == "exp":
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(y == 0, 0.0, y * np.log(y / p))
        return (t - y + p).sum(axis=1)
    return 0.5 * ((y - p) ** 2).sum(axis=1) / y.shape[1]


class RefNet:
    def __init__(self, net, act, out, slope, dtype):
        self.net, self.act, self.out, self.slope = net, act, out, slope
        self.eps = float(np.finfo(dtype).eps)

    def unpack(self, flat):
        flat = np.asarray(flat, dtype=np.float64)
        return self.net.coef_views(flat), self.net.intercept_views(flat)

    def forward(self, flat, X):
        W, b = self.unpack(flat)
        A = [X]
        for l in range(len(W)):
            Z = A[-1] @ W[l] + b[l]
            if l < len(W) - 1:
                A.append(act_f(Z, self.act, self.slope))
            else:
                P = out_f(Z, self.out)
        return A, P

    def loss_grad(self, flat, X, Y, w, sw_sum):
        """(sum_i w_i loss_i, gradient of sum_i w_i loss_i / sw_sum) as the
        kernels define them (deltas (p - y) w_i / sw_sum)."""
        W, b = self.unpack(flat)
        A, P = self.forward(flat, X)
        loss = float(np.dot(w, row_losses(P, Y, self.out, self.eps)))
        g = np.zeros(self.net.n_params)
        gW, gb = self.net.coef_views(g), self.net.intercept_views(g)
        D = (P - Y) * (w / sw_sum)[:, None]
        for l in range(len(W) - 1, -1, -1):
            gW[l][...] = A[l].T @ D
            gb[l][...] = D.sum(axis=0)
            if l > 0:
                D = (D @ W[l].T) * act_fprime_from_a(A[l], self.act, self.slope)
        return loss, g


def close(got, want, dtype, scale=1.0, what="", rtol=None, atol=None):
    """got agrees with the reference: close where want is finite, and NaN
    where want is NaN (a reference that overflows: the kernels must too)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if not math.isfinite(scale):   # the reference overflowed somewhere
        finite = np.abs(want[np.isfinite(want)])
        scale = float(finite.max(initial=0))
    if rtol is None:
        rtol = 2e-3 if dtype == np.float32 else 1e-7
    if atol is None or not math.isfinite(atol):
        atol = (2e-3 if dtype == np.float32 else 1e-9) * (1.0 + scale)
    if got.shape != want.shape:
        raise FuzzFailure(f"{what}: shape {got.shape}, expected {want.shape}")
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        i = np.flatnonzero(bad.ravel())[0]
        raise FuzzFailure(f"{what}: {bad.sum()} of {bad.size} values differ from the "
                          f"reference, e.g. {got.ravel()[i]!r} vs {want.ravel()[i]!r}")


# --------------------------------------------------------------------------------------
# Recipes: what to fuzz, drawn from any source of choices
# --------------------------------------------------------------------------------------
class HypothesisSource:
    def __init__(self, data):
        from hypothesis import strategies as st

        self._data, self._st = data, st

    def int(self, lo, hi):
        return self._data.draw(self._st.integers(lo, hi))

    def choice(self, seq):
        return self._data.draw(self._st.sampled_from(list(seq)))

    def bool(self):
        return self._data.draw(self._st.booleans())


class AtherisSource:
    def __init__(self, fdp):
        self._fdp = fdp

    def int(self, lo, hi):
        return self._fdp.ConsumeIntInRange(lo, hi)

    def choice(self, seq):
        seq = list(seq)
        return seq[self._fdp.ConsumeIntInRange(0, len(seq) - 1)]

    def bool(self):
        return self._fdp.ConsumeBool()


INTERESTING_INTS = [-2**62, -2**31, -1000, -3, -1, 0, 1, 2, 3, 7, 64, 1000, 2**31 - 1,
                    2**31, 2**32, 2**62, 2**63 - 1]

COMMON_MUTATIONS = [
    "params_short", "params_long", "work_short", "work_long", "meta_truncated",
    "meta_extended", "meta_entry", "meta_L", "meta_capacity_overflow",
    "meta_units_overflow", "n_features_mismatch", "dtype_mix", "noncontig",
    "readonly_output", "misaligned", "nan_input", "huge_input", "n_threads",
    "csr_indptr_nonmonotonic", "csr_indptr_past_end", "csr_indptr_negative",
    "csr_indptr_first", "csr_indptr_last", "csr_indptr_length", "csr_indices_oob",
    "csr_indices_negative", "csr_data_length", "csr_unsorted", "x_cols",
    "n_threads_absurd",
]
KERNEL_MUTATIONS = {
    "predict": ["out_shape", "out_rows"],
    "loss_gradient": ["grads_short", "sw_length", "y_shape", "sw_zero", "alpha_extreme"],
    "train_epoch": ["grads_short", "state1_short", "state2_short", "step_empty",
                    "order_oob", "order_nogather_shuffled", "batch_size",
                    "solver_unknown", "sw_length", "y_shape", "act_off0_negative",
                    "sw_zero", "hyper_extreme", "aliasing", "shadow_short",
                    "shadow_aliasing"],
}
GEMM_MUTATIONS = ["shape_mismatch", "dtype_mix", "noncontig", "readonly_C", "fortran",
                  "nan_input", "misaligned"]


def draw_recipe(src, kernel=None):
    """A case as plain data (reproducible from JSON)."""
    kernel = kernel or src.choice(KERNELS)
    r = {"kernel": kernel, "seed": src.int(0, 2**31 - 1),
         "dtype": src.choice(["float64", "float32"])}
    if kernel == "gemm":
        zero = src.int(0, 5) == 5   # (hypothesis favours small draws: 5 is rare)
        r.update(m=src.int(0 if zero else 1, 9), n=src.int(0 if zero else 1, 9),
                 k=src.int(0 if zero else 1, 9), trans_a=src.bool(), trans_b=src.bool(),
                 alpha=src.choice([1.0, 0.0, -2.5, 0.5]), beta=src.choice([0.0, 1.0, -0.75]),
                 mutation=src.choice(["none"] * 6 + GEMM_MUTATIONS),
                 mut_i=src.int(0, 2))
        return r
    big = src.int(0, 19) == 19
    if big:  # wide enough for the OpenMP paths (rows x units >= PAR_MIN in
        # _kernels.pyx, n_coef >= 2 * CHUNK)
        units = [src.int(120, 160), src.int(280, 300), src.int(1, 3)]
        n_rows = src.int(950, 1000)
    else:
        L = src.int(1, 3)
        units = [src.int(1, 8) for _ in range(L + 1)]
        n_rows = src.int(0, 30) if src.int(0, 9) == 9 else src.int(1, 30)
    r.update(units=units, n_rows=n_rows, act=src.int(0, 5), out=src.int(0, 3),
             slope=src.choice([0.01, 0.3, 1.0]), sparse=src.bool(),
             density=src.choice([0.0, 0.3, 1.0]), weighted=src.bool(),
             n_threads=src.choice([1, 1, 2, 3]) if not big else src.choice([1, 2]))
    if kernel == "train_epoch":
        bs = src.int(940, n_rows) if big else src.int(1, max(1, n_rows + 2))
        r.update(batch_size=bs, cap=bs + src.choice([0, 0, 1, 5]),
                 gather=src.bool(), order=src.choice(["perm", "identity", "subset",
                                                      "empty"]),
                 solver=src.choice(["sgd", "adam", "rmsprop"]),
                 lr=src.choice([1e-3, 0.05]), alpha=src.choice([0.0, 1e-4, 0.5]),
                 momentum=src.choice([0.0, 0.9]), nesterov=src.bool(),
                 beta_1=src.choice([0.9, 0.0]), beta_2=src.choice([0.999, 0.9]),
                 epsilon=src.choice([1e-8, 1e-3]), state=src.choice(["zero", "random"]))
    else:
        r.update(cap=src.int(1, max(1, n_rows + 3)), alpha=src.choice([0.0, 1e-4, 0.5]))
    muts = ["none"] * 8 + COMMON_MUTATIONS + KERNEL_MUTATIONS[kernel]
    r.update(mutation=src.choice(muts), mut_i=src.int(0, 10**6),
             mut_v=src.choice(INTERESTING_INTS))
    return r


# --------------------------------------------------------------------------------------
# Building a case from a recipe
# --------------------------------------------------------------------------------------
class Case:
    """fn + kwargs to call, what is expected ('valid', 'raise',
    'raise_or_consistent', 'no_crash'), the arena, and check(result)."""

    def __init__(self, fn, kwargs, expect, arena, check):
        self.fn, self.kwargs, self.expect, self.arena, self.check = (fn, kwargs, expect,
                                                                     arena, check)


def _other(dtype):
    return np.float32 if np.dtype(dtype) == np.float64 else np.float64


def build_gemm(r):
    rng = np.random.RandomState(r["seed"])
    dt = np.dtype(r["dtype"])
    m, n, k, ta, tb = r["m"], r["n"], r["k"], r["trans_a"], r["trans_b"]
    A = rng.randn(*((k, m) if ta else (m, k)))
    B = rng.randn(*((n, k) if tb else (k, n)))
    C = rng.randn(m, n)
    mut = r["mutation"]
    arena = Arena()
    expect = "valid" if min(m, n, k) > 0 else "raise_or_consistent"
    shapes = {"A": A, "B": B, "C": C}
    layouts = {"A": "C", "B": "C", "C": "C"}
    dtypes = {"A": dt, "B": dt, "C": dt}
    target = "ABC"[r["mut_i"] % 3]
    if mut == "shape_mismatch":
        arr = shapes[target]
        axis = r["mut_i"] % 2
        grown = list(arr.shape)
        grown[axis] += 1
        shapes[target] = rng.randn(*grown)
        expect = "raise"
    elif mut == "dtype_mix":
        dtypes[target] = _other(dt)
        expect = "raise"
    elif mut in ("noncontig", "fortran"):
        layouts[target] = mut   # refused unless the view happens to be C-contiguous
    elif mut == "readonly_C":
        layouts["C"] = "readonly"
        expect = "raise"
    elif mut == "nan_input":
        if shapes[target].size:
            shapes[target].ravel()[r["mut_i"] % shapes[target].size] = np.nan
        expect = "no_crash"
    elif mut == "misaligned":
        layouts[target] = "misaligned"
        # a misaligned buffer may be refused; if taken, the result must be right
        expect = "raise_or_consistent"
    ref_C = C.astype(dt).astype(np.float64)
    a = arena.array("A", shapes["A"], dtypes["A"], is_input=True, layout=layouts["A"])
    b = arena.array("B", shapes["B"], dtypes["B"], is_input=True, layout=layouts["B"])
    c = arena.array("C", shapes["C"], dtypes["C"], is_input=False, layout=layouts["C"])
    if mut in ("noncontig", "fortran") and not {"A": a, "B": b, "C": c}[target].flags.c_contiguous:
        expect = "raise"
    A64 = np.asarray(a, dtype=np.float64)
    B64 = np.asarray(b, dtype=np.float64)
    alpha, beta = r["alpha"], r["beta"]

    def check(_):
        opA = A64.T if ta else A64
        opB = B64.T if tb else B64
        want = np.zeros((m, n))
        if alpha != 0 and k > 0:
            want += alpha * (opA @ opB)
        if beta != 0:
            want += beta * ref_C
        close(c, want, dt, scale=float(np.abs(want).max(initial=0)), what="_gemm C")

    kwargs = dict(trans_a=ta, trans_b=tb, alpha=alpha, A=a, B=b, beta=beta, C=c)
    return Case(K._gemm, kwargs, expect, arena, check)


def _network_data(r, rng, dt):
    units, n_rows = r["units"], r["n_rows"]
    d, K_out = units[0], units[-1]
    X = rng.randn(n_rows, d)
    if r["density"] < 1:
        X[rng.rand(n_rows, d) >= r["density"]] = 0
    out = OUT_NAMES[r["out"]]
    if out == "softmax":
        Y = np.zeros((n_rows, K_out))
        if n_rows:
            Y[np.arange(n_rows), rng.randint(0, K_out, n_rows)] = 1
    elif out == "logistic":
        Y = (rng.rand(n_rows, K_out) < 0.5).astype(float)
    elif out == "exp":
        Y = np.abs(rng.randn(n_rows, K_out)) * (rng.rand(n_rows, K_out) < 0.8)
    else:
        Y = rng.randn(n_rows, K_out)
    sw = rng.uniform(0.1, 2.0, n_rows) if r["weighted"] else np.zeros(0)
    return X.astype(dt), Y.astype(dt), sw.astype(dt)


def _csr(X):
    indptr = [0]
    indices, data = [], []
    for row in X:
        nz = np.flatnonzero(row)
        indices.extend(nz)
        data.extend(row[nz])
        indptr.append(len(indices))
    return (np.asarray(data, dtype=X.dtype), np.asarray(indices, dtype=np.intp),
            np.asarray(indptr, dtype=np.intp))


# the arrays each kernel takes (for dtype / layout malformations)
ARRAYS = {
    "predict": ["X", "params", "work", "out", "meta"],
    "loss_gradient": ["X", "params", "work", "Y", "grads", "meta", "sample_weight"],
    "train_epoch": ["X", "params", "work", "Y", "grads", "meta", "order", "state1",
                    "sample_weight"],
}


def build_network_case(r):
    kernel = r["kernel"]
    dt = np.dtype(r["dtype"])
    rng = np.random.RandomState(r["seed"])
    units, n_rows, mut = list(r["units"]), r["n_rows"], r["mutation"]
    act, out, slope = r["act"], r["out"], r["slope"]
    net = Network(units, ACT_NAMES[act], OUT_NAMES[out], dt, slope=slope)
    ref = RefNet(net, act, out, slope, dt)
    L, d, K_out = len(units) - 1, units[0], units[-1]
    # weights ~ 1/sqrt(fan_in): activations stay O(1) in any width, so valid
    # cases are far from overflow (exp outputs included)
    params = rng.randn(net.n_params) * 0.5
    for view, fan_in in zip(net.coef_views(params), units[:-1]):
        view /= np.sqrt(fan_in)
    params = params.astype(dt)
    X, Y, sw = _network_data(r, rng, dt)
    sparse = r["sparse"]
    if mut.startswith("csr_") or mut == "csr_unsorted":
        sparse = True
    gather = bool(r.get("gather", False)) and not sparse
    cap = r["cap"]
    meta, work_len = net.meta(cap, d if gather else 0)
    meta = meta.copy()
    expect = "valid"
    arena = Arena()
    M = meta.size
    layouts = collections.defaultdict(lambda: "C")
    dtype_override = {}
    lengths = {}
    n_features = d
    X_in = X
    data, indices, indptr = _csr(X)
    n_threads = r["n_threads"]

    def mi(n):  # a mutation index in [0, n)
        return r["mut_i"] % max(n, 1)

    # -- the deliberate malformation ------------------------------------------------
    if mut == "params_short":
        lengths["params"] = max(0, net.n_params - 1 - mi(3))
        expect = "raise"
    elif mut == "params_long":
        lengths["params"] = net.n_params + 1 + mi(3)
        expect = "raise"
    elif mut == "work_short":
        lengths["work"] = max(0, work_len - 1 - mi(work_len))
        expect = "raise"
    elif mut == "work_long":
        lengths["work"] = work_len + 1 + mi(50)
    elif mut == "meta_truncated":
        meta = meta[:mi(M)]
        expect = "raise"
    elif mut == "meta_extended":
        meta = np.concatenate([meta, np.zeros(1 + mi(4), dtype=np.intp)])
        expect = "raise"
    elif mut == "meta_entry":
        meta[mi(M)] = r["mut_v"]
        expect = "no_crash"   # some values describe another valid layout
    elif mut == "meta_L":
        meta[0] = r["mut_v"] if r["mut_v"] != L else L + 1
        expect = "raise"
    elif mut == "meta_capacity_overflow":
        # rows x units overflows Py_ssize_t: no real workspace has that room
        meta[3] = 2**62 + (mi(4) * 2**60 if mi(2) else 0)
        expect = "raise"
    elif mut == "meta_units_overflow":
        j = mi(L + 1)
        meta[8 + j] = 2**62 // max(1, min(units)) + 1
        expect = "raise"
    elif mut == "n_features_mismatch":
        n_features = d + (1 + mi(3)) * (1 if mi(2) else -1)
        if n_features == d:
            n_features += 1
        expect = "raise"
    elif mut == "x_cols":
        if not sparse:
            X_in = np.concatenate([X, np.zeros((n_rows, 1 + mi(2)), dtype=dt)], axis=1)
            expect = "raise"
    elif mut == "dtype_mix":
        name = ARRAYS[kernel][mi(len(ARRAYS[kernel]))]
        name = "X_data" if (name == "X" and sparse) else name
        dtype_override[name] = np.int32 if name in ("meta", "order") else _other(dt)
        expect = "raise"
    elif mut == "noncontig":
        name = ARRAYS[kernel][mi(len(ARRAYS[kernel]))]
        layouts["X_data" if (name == "X" and sparse) else name] = "noncontig"
        expect = "raise"   # unless the view is C-contiguous after all (below)
    elif mut == "readonly_output":
        name = {"predict": ["out", "work"], "loss_gradient": ["grads", "work"],
                "train_epoch": ["params", "grads", "work", "state1", "step_count"]}[kernel]
        layouts[name[mi(len(name))]] = "readonly"
        expect = "raise"
    elif mut == "misaligned":
        name = ARRAYS[kernel][mi(len(ARRAYS[kernel]))]
        layouts["X_data" if (name == "X" and sparse) else name] = "misaligned"
        expect = "raise_or_consistent"
    elif mut == "nan_input":
        if X.size:
            X.ravel()[mi(X.size)] = [np.nan, np.inf, -np.inf][mi(3)]
            data, indices, indptr = _csr(X)
            X_in = X
        expect = "no_crash"
    elif mut == "huge_input":
        X = (X * np.finfo(dt).max / 4).astype(dt)
        X_in = X
        data, indices, indptr = _csr(X)
        expect = "no_crash"
    elif mut == "n_threads":
        n_threads = [0, -1, -7, 2, 4, 16][mi(6)]
    elif mut == "n_threads_absurd":
        # more threads than any machine can start: clamp to the budget or
        # refuse (only matters where a kernel opens a parallel region)
        n_threads = [10**6, 2**31 - 1][mi(2)]
        expect = "raise_or_consistent"
    elif mut.startswith("csr_"):
        nnz = data.size
        expect = "raise"
        if mut == "csr_indptr_nonmonotonic":
            if n_rows >= 2:
                indptr = indptr.copy()
                j = 1 + mi(n_rows - 1)   # an inner entry
                # below its left neighbour, or above its right one
                indptr[j] = indptr[j - 1] - 1 if indptr[j - 1] > 0 else indptr[j + 1] + 1
            else:
                expect = "valid"   # [0, nnz] is all there is
        elif mut == "csr_indptr_past_end":
            if n_rows >= 2:
                indptr = indptr.copy()
                indptr[1 + mi(n_rows - 1)] = nnz + 1 + mi(1000)
            elif n_rows == 1:
                indptr = indptr.copy()
                indptr[1] = nnz + 1
            else:
                expect = "valid"
        elif mut == "csr_indptr_negative":
            if n_rows >= 2:
                indptr = indptr.copy()
                indptr[1 + mi(n_rows - 1)] = -1 - mi(1000)
            else:
                expect = "valid"
        elif mut == "csr_indptr_first":
            indptr = indptr.copy()
            if indptr.size:
                indptr[0] = [1, -1, 2**40][mi(3)]
        elif mut == "csr_indptr_last":
            indptr = indptr.copy()
            indptr[-1] = nnz + [1, -1, 2**40][mi(3)]
        elif mut == "csr_indptr_length":
            indptr = indptr[:-1] if mi(2) else np.append(indptr, nnz)
        elif mut == "csr_indices_oob":
            if nnz:
                indices = indices.copy()
                indices[mi(nnz)] = [d, d + 1, 2**31, 2**40][mi(4)]
            else:
                expect = "valid"
        elif mut == "csr_indices_negative":
            if nnz:
                indices = indices.copy()
                indices[mi(nnz)] = [-1, -d - 1, -2**40][mi(3)]
            else:
                expect = "valid"
        elif mut == "csr_data_length":
            data = data[:-1] if (mi(2) and nnz) else np.append(data, 1.0).astype(dt)
        elif mut == "csr_unsorted":
            # unsorted but in-range columns: the kernels compute rows as sums,
            # the order of the terms does not matter
            indices = indices.copy()
            data = data.copy()
            for i in range(n_rows):
                lo, hi = indptr[i], indptr[i + 1]
                indices[lo:hi] = indices[lo:hi][::-1]
                data[lo:hi] = data[lo:hi][::-1]
            expect = "valid"
    elif mut == "out_shape":
        lengths["out_cols"] = K_out + 1 + mi(2)
        expect = "raise"
    elif mut == "out_rows":
        lengths["out_rows"] = n_rows + (1 if mi(2) or n_rows == 0 else -1)
        expect = "raise"
    elif mut == "grads_short":
        # (not 0: an empty gradient may mean "loss only")
        lengths["grads"] = max(1, net.n_params - 1 - mi(3))
        expect = "raise"
    elif mut == "sw_length":
        length = n_rows + (1 + mi(3)) * (1 if mi(2) else -1)
        if length < 1:   # (length 0 means "no weights", which is valid)
            length = n_rows + 1
        sw = rng.uniform(0.1, 2, length).astype(dt)
        expect = "raise"
    elif mut == "y_shape":
        if mi(2):
            Y = np.zeros((n_rows + 1, K_out), dtype=dt)
        else:
            Y = np.zeros((n_rows, K_out + 1), dtype=dt)
        expect = "raise"
    elif mut == "sw_zero":
        sw = np.zeros(n_rows, dtype=dt)
        expect = "no_crash"
    elif mut == "alpha_extreme":
        expect = "no_crash"
    elif mut == "state1_short":
        lengths["state1"] = max(0, net.n_params - 1 - mi(3))
        expect = "raise"
    elif mut == "state2_short":
        lengths["state2"] = max(0, net.n_params - 1 - mi(net.n_params))
        expect = "raise" if r["solver"] != "sgd" else "valid"
    elif mut == "step_empty":
        lengths["step_count"] = 0
        expect = "raise"
    elif mut == "order_oob":
        expect = "raise"
    elif mut == "order_nogather_shuffled":
        if not sparse:
            gather = False
            meta, work_len = net.meta(cap, 0)
            meta = meta.copy()
            M = meta.size
            expect = "raise_or_consistent"
    elif mut == "batch_size":
        expect = "raise"
    elif mut == "solver_unknown":
        expect = "raise"
    elif mut == "act_off0_negative":
        if gather:
            meta[8 + (L + 1) + 2 * L] = -[1, 64, 10**6, 2**40][mi(4)]
            expect = "raise"
        else:
            meta[8 + (L + 1) + 2 * L] = -[1, 64, 10**6, 2**40][mi(4)]
            expect = "no_crash"   # the gather buffer is not used
    elif mut == "hyper_extreme":
        expect = "no_crash"
    elif mut == "aliasing":
        expect = "no_crash"
    elif mut == "shadow_short":
        lengths["shadow"] = max(1, net.n_params - 1 - mi(3))
        expect = "raise"
    elif mut == "shadow_aliasing":
        expect = "raise"

    # -- the arrays, guarded ----------------------------------------------------------
    def arr(name, values, dtype=None, is_input=True):
        return arena.array(name, values,
                           dtype_override.get(name, dt if dtype is None else dtype),
                           is_input=is_input, layout=layouts[name])

    if sparse:
        kin = dict(X=arr("X", np.zeros((0, 0)), dt), X_data=arr("X_data", data),
                   X_indices=arr("X_indices", indices, np.intp),
                   X_indptr=arr("X_indptr", indptr, np.intp), sparse=True,
                   n_features=n_features)
    else:
        kin = dict(X=arr("X", X_in), X_data=arr("X_data", np.zeros(0), dt),
                   X_indices=arr("X_indices", np.zeros(0), np.intp),
                   X_indptr=arr("X_indptr", np.zeros(1), np.intp), sparse=False,
                   n_features=n_features)
    meta_a = arr("meta", meta, np.intp)
    p_len = lengths.get("params", net.n_params)
    p_vals = np.resize(params, p_len)
    work = arena.array("work", np.full(lengths.get("work", work_len), np.nan),
                       dtype_override.get("work", dt), is_input=False, layout=layouts["work"])
    Xd = np.asarray(X, dtype=np.float64)
    Yd = np.asarray(Y, dtype=np.float64)

    if kernel == "predict":
        params_a = arr("params", p_vals)
        rows = lengths.get("out_rows", n_rows)
        cols = lengths.get("out_cols", K_out)
        out_a = arena.array("out", np.full((rows, cols), np.nan), dtype_override.get("out", dt),
                            is_input=False, layout=layouts["out"])
        kwargs = dict(kin, meta=meta_a, slope=slope, params=params_a, work=work,
                      out=out_a, n_threads=n_threads)

        def check(result):
            _, P = ref.forward(params, Xd)
            close(out_a, P, dt, scale=float(np.abs(P).max(initial=0)), what="predict out")

        return Case(predict_call, kwargs, _layout_expect(expect, mut, arena, layouts), arena,
                    check)

    alpha = r["alpha"]
    if kernel == "loss_gradient":
        if mut == "alpha_extreme":
            alpha = [1e300, -1.0, np.nan, np.inf][mi(4)]
        params_a = arr("params", p_vals)
        grads = arena.array("grads", np.full(lengths.get("grads", net.n_params), np.nan),
                            dtype_override.get("grads", dt), is_input=False, layout=layouts["grads"])
        Y_a = arr("Y", Y)
        sw_a = arr("sample_weight", sw)
        kwargs = dict(kin, Y=Y_a, sample_weight=sw_a, meta=meta_a, slope=slope,
                      params=params_a, grads=grads, work=work, alpha=alpha,
                      n_threads=n_threads)
        if n_rows == 0 and expect == "valid":
            expect = "raise"   # "no rows"

        def check(result):
            w = np.asarray(sw, dtype=np.float64) if sw.size else np.ones(n_rows)
            s = w.sum()
            loss, g = ref.loss_grad(params, Xd, Yd, w, s)
            Wc = params[:net.n_coef].astype(np.float64)
            want_loss = loss / s + 0.5 * alpha * float(Wc @ Wc) / s
            g[:net.n_coef] += alpha / s * Wc
            close(result, want_loss, dt, scale=abs(want_loss), what="loss")
            close(grads, g, dt, scale=float(np.abs(g).max(initial=0)), what="gradient")

        return Case(loss_gradient_call, kwargs, _layout_expect(expect, mut, arena, layouts),
                    arena, check)

    # -- train_epoch ------------------------------------------------------------------
    solver = r["solver"]
    bs = r["batch_size"]
    order_kind = r["order"]
    if order_kind == "perm":
        order = rng.permutation(n_rows)
    elif order_kind == "identity":
        order = np.arange(n_rows)
    elif order_kind == "subset":
        order = rng.randint(0, max(n_rows, 1), rng.randint(0, n_rows + 1)) if n_rows \
            else np.zeros(0)
    else:
        order = np.zeros(0)
    order = np.asarray(order, dtype=np.intp)
    if mut == "order_oob":
        if order.size == 0:
            order = np.zeros(1, dtype=np.intp)
        order[mi(order.size)] = [-1, n_rows, n_rows + 1, 2**40, -2**40, 2**62][mi(6)]
    if mut == "order_nogather_shuffled" and not sparse:
        order = rng.permutation(n_rows).astype(np.intp)
        if n_rows >= 2:
            order[:2] = [n_rows - 1, 0]  # never the identity
    if mut == "batch_size":
        bs = [0, -1, cap + 1, 2**40, -2**62][mi(5)]
    lr, momentum, b1, b2, eps = r["lr"], r["momentum"], r["beta_1"], r["beta_2"], \
        r["epsilon"]
    if mut == "hyper_extreme":
        lr = [1e300, np.nan, -1.0, np.inf][mi(4)]
        alpha = [1e300, np.nan, -1.0, 0.0][mi(4) - 1]
        b1 = [1.0, np.nan, 2.0, 0.0][mi(4) - 2]
        b2 = [1.0, -1.0, np.nan, 0.0][mi(4) - 3]
        eps = [0.0, np.nan, 1e-300, -1.0][mi(4)]
    solver_arg = "bogus" if mut == "solver_unknown" else solver
    if r["state"] == "random":
        s1 = rng.randn(net.n_params) * 0.01               # adam m, sgd velocity
        s2 = np.abs(rng.randn(net.n_params)) * 0.01       # adam v >= 0
        if solver == "rmsprop":                           # mean square >= 0, momentum
            s1, s2 = np.abs(s1), s2 * np.sign(rng.randn(net.n_params))
        t0 = int(rng.randint(0, 5))
    else:
        s1 = np.zeros(net.n_params)
        s2 = np.zeros(net.n_params)
        t0 = 0
    s1 = s1.astype(dt)
    s2 = s2.astype(dt)
    if solver == "sgd" and mut != "state2_short" and r["seed"] % 2:
        s2_vals = np.zeros(0, dtype=dt)   # sgd has no second state
    else:
        s2_vals = np.resize(s2, lengths.get("state2", net.n_params))
    params_a = arr("params", p_vals, is_input=False)
    grads = arena.array("grads", np.full(lengths.get("grads", net.n_params), np.nan),
                        dtype_override.get("grads", dt), is_input=False, layout=layouts["grads"])
    state1 = arena.array("state1", np.resize(s1, lengths.get("state1", net.n_params)),
                         dtype_override.get("state1", dt), is_input=False,
                         layout=layouts["state1"])
    state2 = arena.array("state2", s2_vals, dt, is_input=False, layout=layouts["state2"])
    step = arena.array("step_count", np.resize(np.array([t0, 0], dtype=np.intp),
                                               lengths.get("step_count", 2)),
                       np.intp, is_input=False, layout=layouts["step_count"])
    # the epoch team's second parameter vector: empty (updates in place) or
    # as long as params, its contents never read (NaN here to show it)
    n_shadow = lengths.get("shadow", net.n_params if r["seed"] % 3 else 0)
    shadow = arena.array("shadow", np.full(n_shadow, np.nan), dt, is_input=False)
    Y_a = arr("Y", Y)
    sw_a = arr("sample_weight", sw)
    order_a = arr("order", order, np.intp)
    if mut == "aliasing":
        grads = params_a
    if mut == "shadow_aliasing":
        shadow = [params_a, grads, state1, work][mi(4)][:net.n_params]
        if shadow.shape[0] != net.n_params:
            shadow = params_a
    kwargs = dict(kin, Y=Y_a, sample_weight=sw_a, order=order_a, gather=gather,
                  meta=meta_a, slope=slope, params=params_a, shadow=shadow, grads=grads,
                  work=work, state1=state1, state2=state2, step_count=step,
                  batch_size=bs, solver=solver_arg, learning_rate=lr, alpha=alpha,
                  momentum=momentum, nesterov=r["nesterov"], beta_1=b1, beta_2=b2,
                  epsilon=eps, n_threads=n_threads)
    if bs > cap and expect == "valid":
        expect = "raise"
    if (not sparse and not gather and expect == "valid"
            and not np.array_equal(order, np.arange(order.size))):
        # rows read in place: only right if each minibatch is consecutive rows
        expect = "raise_or_consistent"

    def check(result):
        W = params.astype(np.float64)
        S1 = s1.astype(np.float64)
        S2 = s2.astype(np.float64)
        t = t0
        w_all = np.asarray(sw, dtype=np.float64) if sw.size else None
        total = 0.0
        n_batches = 0
        for start in range(0, order.size, bs):
            idx = order[start:start + bs]
            m = idx.size
            w = w_all[idx] if w_all is not None else np.ones(m)
            s = w.sum()
            loss, G = ref.loss_grad(W, Xd[idx], Yd[idx], w, s)
            Wc = W[:net.n_coef]
            total += (loss / s + 0.5 * alpha * float(Wc @ Wc) / s) * m
            G[:net.n_coef] += alpha / s * Wc
            if solver == "sgd":
                S1 = momentum * S1 - lr * G
                W = W + (momentum * S1 - lr * G if r["nesterov"] else S1)
            elif solver == "adam":
                t += 1
                lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                S1 = b1 * S1 + (1 - b1) * G
                S2 = b2 * S2 + (1 - b2) * G * G
                W = W - lr_t * S1 / (np.sqrt(S2) + eps)
            else:
                S1 = b2 * S1 + (1 - b2) * G * G
                if momentum > 0:
                    S2 = momentum * S2 + G / (np.sqrt(S1) + eps)
                    W = W - lr * S2
                else:
                    W = W - lr * G / (np.sqrt(S1) + eps)
            n_batches += 1
        scale = float(np.abs(W).max(initial=0))
        atol = None
        if dt == np.float32 and solver != "sgd":
            # adam / rmsprop steps are ~lr * sign(g): a float32 rounding of a
            # tiny g can flip a step
            atol = 2e-3 * (1 + scale) + 2 * lr * n_batches
        close(params_a, W, dt, scale=scale, what="parameters after the epoch", atol=atol)
        close(result, total, dt, scale=abs(total) + 1, what="epoch loss",
              atol=None if atol is None else atol * (1 + abs(total)))
        if solver == "adam" and step.size:
            if int(step[0]) != t:
                raise FuzzFailure(f"adam step {int(step[0])}, expected {t}")

    return Case(train_epoch_call, kwargs, _layout_expect(expect, mut, arena, layouts), arena,
                check)


def _layout_expect(expect, mut, arena, layouts):
    """A 'non-contiguous' view of 0 or 1 element, or of one row, is
    C-contiguous after all; then the call is valid."""
    if mut == "noncontig":
        views = [arena.view(n) for n, lay in layouts.items() if lay == "noncontig"]
        if all(v is None or v.flags.c_contiguous for v in views):
            return "valid"
    return expect


def build_case(recipe):
    if recipe["kernel"] == "gemm":
        return build_gemm(recipe)
    return build_network_case(recipe)


# --------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------
STATS = collections.Counter()
EXCLUDED = set()      # mutations not to draw (--exclude)
VERBOSE = False


def effective_recipe(recipe):
    """The recipe with the --exclude'd malformations taken out."""
    if recipe.get("mutation") in EXCLUDED:
        recipe = dict(recipe, mutation="none")
    if "nogather_perm" in EXCLUDED and recipe["kernel"] == "train_epoch":
        # (a known finding: dense rows read in place with a shuffled order)
        recipe = dict(recipe, gather=True)
        if recipe["mutation"] == "order_nogather_shuffled":
            recipe["mutation"] = "none"
    return recipe


def run_case(recipe, last_case=None):
    """Run one case; raise FuzzFailure if the kernel broke its contract.
    Returns 'ok' or the name of the exception raised."""
    recipe = effective_recipe(recipe)
    if last_case:
        with open(last_case, "w") as fh:
            fh.write(json.dumps(recipe))
            fh.flush()
            os.fsync(fh.fileno())
    try:
        case = build_case(recipe)
    except (ValueError, IndexError) as exc:
        # a malformation NumPy itself refuses to build (e.g. a negative length)
        STATS[f"{recipe['kernel']}:unbuildable"] += 1
        return f"unbuildable:{type(exc).__name__}"
    error = None
    try:
        with np.errstate(all="ignore"):
            result = call_kernel(case.fn, case.kwargs)
    except HarnessError:
        raise
    except ALLOWED_ERRORS as exc:
        error = exc
    except Exception as exc:
        raise FuzzFailure(f"unexpected exception type {type(exc).__name__}: {exc}") from exc
    outcome = "ok" if error is None else type(error).__name__
    STATS[f"{recipe['kernel']}:{recipe['mutation']}:{outcome}"] += 1
    if VERBOSE:
        print(f"{recipe['kernel']:13s} {recipe['mutation']:26s} {case.expect:19s} {outcome}",
              flush=True)
    case.arena.check()
    if case.expect == "valid":
        if error is not None:
            raise FuzzFailure(f"a valid call raised {type(error).__name__}: {error}")
        with np.errstate(all="ignore"):
            case.check(result)
    elif case.expect == "raise":
        if error is None:
            raise FuzzFailure(f"malformed input ({recipe['mutation']}) was accepted "
                              "without an error")
    elif case.expect == "raise_or_consistent":
        if error is None:
            with np.errstate(all="ignore"):
                case.check(result)
    return outcome


def describe_failure(recipe, exc):
    recipe = effective_recipe(recipe)
    return ("\n" + "=" * 70 + "\nFUZZ FAILURE: " + str(exc) + "\nrecipe: " + json.dumps(recipe)
            + "\nreplay: python fuzz/fuzz_kernels.py --replay '" + json.dumps(recipe) + "'\n"
            + "=" * 70)


# --------------------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------------------
def _make_hypothesis_target(kernel, max_examples, seed, failures, last_case):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    @hseed(seed)
    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(st.data())
    def fuzz(data):
        recipe = draw_recipe(HypothesisSource(data), kernel)
        try:
            run_case(recipe, last_case)
        except FuzzFailure as exc:
            failures.append(describe_failure(recipe, exc))
            raise

    return fuzz


def run_hypothesis(kernels, max_examples, seed, budget_seconds, last_case):
    t_end = time.monotonic() + budget_seconds if budget_seconds else None
    batch = 0
    total = 0
    while True:
        for kernel in kernels:
            per_run = max_examples if t_end is None else 200
            failures = []

            fuzz = _make_hypothesis_target(kernel, per_run, seed + 7919 * batch, failures,
                                           last_case)
            before = sum(STATS.values())
            try:
                fuzz()
            except FuzzFailure:
                total += sum(STATS.values()) - before
                print(failures[-1], flush=True)   # the shrunk (last) failure
                return total, False
            total += sum(STATS.values()) - before
            if t_end is not None and time.monotonic() > t_end:
                return total, True
        batch += 1
        if t_end is None:
            return total, True


def run_atheris(kernels, budget_seconds, last_case):
    import atheris

    def one_input(data):
        fdp = atheris.FuzzedDataProvider(data)
        kernel = kernels[fdp.ConsumeIntInRange(0, len(kernels) - 1)]
        recipe = draw_recipe(AtherisSource(fdp), kernel)
        try:
            run_case(recipe, last_case)
        except FuzzFailure as exc:
            print(describe_failure(recipe, exc), flush=True)
            raise

    args = [sys.argv[0], "-max_total_time=%d" % int(budget_seconds or 60)]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget-seconds", type=float, default=0,
                    help="run until this many seconds have passed")
    ap.add_argument("--max-examples", type=int, default=200,
                    help="examples per kernel (without --budget-seconds)")
    ap.add_argument("--kernel", action="append", choices=KERNELS,
                    help="kernel(s) to fuzz (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    ap.add_argument("--last-case", default=os.path.join(tempfile.gettempdir(),
                                                        "bpfast-fuzz-last-case-%d.json" % os.getpid()),
                    help="file the running case is written to before each call")
    ap.add_argument("--summary-json", help="write a JSON summary here")
    ap.add_argument("--replay", help="a recipe (JSON) to run once")
    ap.add_argument("--exclude", action="append", default=[], metavar="MUTATION",
                    help="do not draw this malformation (e.g. one already reported)")
    ap.add_argument("--verbose", action="store_true", help="print every case")
    args = ap.parse_args(argv)
    global VERBOSE
    VERBOSE = args.verbose
    EXCLUDED.update(args.exclude)
    import faulthandler

    faulthandler.enable()
    print(f"bpfast._kernels from {K.__file__} (debug build: {K.DEBUG_BUILD})", flush=True)
    if args.replay:
        recipe = json.loads(args.replay)
        try:
            print("outcome:", run_case(recipe, args.last_case))
        except FuzzFailure as exc:
            print(describe_failure(recipe, exc))
            traceback.print_exc()
            return 1
        return 0
    kernels = args.kernel or list(KERNELS)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris" if args.budget_seconds else "hypothesis"
        except ImportError:
            engine = "hypothesis"
    t0 = time.monotonic()
    if engine == "atheris":
        run_atheris(kernels, args.budget_seconds, args.last_case)
        return 0
    total, ok = run_hypothesis(kernels, args.max_examples, args.seed, args.budget_seconds,
                               args.last_case)
    summary = dict(engine=engine, examples=total, ok=ok, seconds=round(time.monotonic() - t0, 1),
                   debug_build=bool(K.DEBUG_BUILD),
                   outcomes=dict(sorted(collections.Counter(
                       k.rsplit(":", 1)[-1] for k in STATS.elements()).items())),
                   by_kernel=dict(collections.Counter(
                       k.split(":", 1)[0] for k in STATS.elements())))
    print("summary:", json.dumps(summary), flush=True)
    if args.summary_json:
        with open(args.summary_json, "w") as fh:
            json.dump(dict(summary, stats=dict(STATS)), fh)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
