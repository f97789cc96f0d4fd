"""Fuzzing the compiled entry points (train_epoch, loss_gradient, predict,
_gemm) with a fixed budget; see fuzz/fuzz_kernels.py for the target, its
oracle and the long-running command line.

Each run happens in a subprocess, so a crash (a segfault is exactly what a
fuzzer looks for) fails one test with the case that crashed instead of
killing pytest. The examples are drawn from a fixed seed (the same cases on
every run); run `python fuzz/fuzz_kernels.py --budget-seconds N` for new
ones. The directed tests below replay, one by one, the malformations the
fuzzer has found, each a precise reproducer:

    python fuzz/fuzz_kernels.py --replay '<recipe>'
"""

import json
import os
import subprocess
import sys

import pytest

import bpfast

sys.path.insert(0, os.path.dirname(__file__))
import _reliability_stats as stats  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# the harness lives beside tests/, in the repository's fuzz/ folder
FUZZ = os.path.join(os.path.dirname(HERE), "fuzz", "fuzz_kernels.py")
BPFAST_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(bpfast.__file__)))
SEED = 20240522
# examples per kernel; BPFAST_FUZZ_SCALE multiplies them (.ci/debug-tests.sh
# halves them for the slower -O0 build)
SCALE = float(os.environ.get("BPFAST_FUZZ_SCALE", "1"))
EXAMPLES = {k: max(10, int(n * SCALE)) for k, n in
            {"gemm": 150, "predict": 250, "loss_gradient": 250, "train_epoch": 300}.items()}


@pytest.fixture(scope="module", autouse=True)
def _case_summary(request):
    stats.register(request.config)
    yield


def run_fuzz(args, cwd, timeout=600):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (BPFAST_ROOT, env.get("PYTHONPATH", ""))
                                        if p)
    return subprocess.run([sys.executable, FUZZ, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def explain(proc, last_case=None):
    crashed = proc.returncode < 0
    text = [f"return code {proc.returncode}" + (" (killed by a signal: a crash)"
                                                  if crashed else "")]
    if crashed and last_case and os.path.exists(last_case):
        with open(last_case) as fh:
            case = fh.read()
        text.append(f"crashing case: {case}")
        text.append(f"replay: python fuzz/fuzz_kernels.py --replay '{case}'")
    text.append("--- output (tail) ---")
    text.append((proc.stdout + proc.stderr)[-6000:])
    return "\n".join(text)


@pytest.mark.parametrize("kernel", list(EXAMPLES))
def test_fuzz_kernel(kernel, tmp_path):
    last_case = str(tmp_path / "last-case.json")
    summary = str(tmp_path / "summary.json")
    proc = run_fuzz(["--engine", "hypothesis", "--kernel", kernel,
                     "--max-examples", str(EXAMPLES[kernel]), "--seed", str(SEED),
                     "--last-case", last_case, "--summary-json", summary], tmp_path)
    if os.path.exists(summary):
        with open(summary) as fh:
            done = json.load(fh)
        stats.count(f"fuzz {kernel} (inputs tried)", done["examples"])
    assert proc.returncode == 0, explain(proc, last_case)
    assert done["examples"] >= EXAMPLES[kernel]


# --------------------------------------------------------------------------------------
# directed: the malformations found so far, replayed one by one
# --------------------------------------------------------------------------------------
def recipe(kernel, **changes):
    r = dict(kernel=kernel, seed=0, dtype="float64", units=[4, 3, 2], n_rows=10, act=3,
             out=2, slope=0.01, sparse=False, density=1.0, weighted=False, n_threads=1,
             cap=5, alpha=1e-4, mutation="none", mut_i=0, mut_v=0)
    if kernel == "train_epoch":
        r.update(batch_size=5, gather=True, order="perm", solver="adam", lr=1e-3,
                 momentum=0.9, nesterov=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 state="zero")
    r.update(changes)
    return r


BIG = dict(units=[150, 300, 2], n_rows=1000, cap=1000)   # rows x units >= PAR_MIN
DIRECTED = {
    # CSR column index one past the last column / negative / far out: the
    # release build does not look at the indices (check_csr checks them only
    # under BPFAST_DEBUG): csr_t_matmul writes the gradient at G + col * n
    # (silent corruption next to W_0's gradient, or a segfault), csr_row_matmul
    # reads W there
    "train_epoch-csr-column-past-the-end": recipe("train_epoch", sparse=True,
                                                  mutation="csr_indices_oob", mut_i=0),
    "loss_gradient-csr-column-negative": recipe("loss_gradient", sparse=True,
                                                mutation="csr_indices_negative", mut_i=0),
    "predict-csr-column-2**40": recipe("predict", sparse=True, mutation="csr_indices_oob",
                                       mut_i=3),
    # indptr not monotonic / beyond nnz: rows read the wrong entries or past
    # the end of data / indices (checked only in debug builds)
    "train_epoch-csr-indptr-not-monotonic": recipe("train_epoch", sparse=True,
                                                   mutation="csr_indptr_nonmonotonic"),
    "loss_gradient-csr-indptr-past-nnz": recipe("loss_gradient", sparse=True,
                                                mutation="csr_indptr_past_end", mut_i=0),
    "predict-csr-indptr-not-monotonic": recipe("predict", sparse=True,
                                               mutation="csr_indptr_nonmonotonic"),
    # meta capacity 2**62: capacity * units overflows Py_ssize_t, so
    # unpack_meta's "buffer inside the workspace" checks pass and rows are
    # written past the end of `work`
    "train_epoch-meta-capacity-overflow": recipe("train_epoch",
                                                 mutation="meta_capacity_overflow"),
    "predict-meta-capacity-overflow": recipe("predict", mutation="meta_capacity_overflow"),
    # more OpenMP threads than can be started (the prange paths need a wide
    # layer): clamp to the budget or refuse, never crash
    "predict-absurd-n_threads": recipe("predict", mutation="n_threads_absurd", n_threads=2,
                                       **BIG),
    # meta act_off[0] (the gather buffer) negative: unpack_meta does not check
    # it and train_epoch's room check only bounds it from above
    "train_epoch-gather-offset-negative": recipe("train_epoch",
                                                 mutation="act_off0_negative", mut_i=2),
    # gather=False with a shuffled order: rows order[start] .. order[start]+m-1
    # are read in place (past the end of X when order[start] is near n_rows)
    # while Y and the weights follow `order`
    "train_epoch-no-gather-shuffled-order": recipe("train_epoch",
                                                   mutation="order_nogather_shuffled"),
}


@pytest.fixture(scope="module")
def directed_results(tmp_path_factory):
    """Every directed case replayed in its own interpreter, a few at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def one(name):
        d = tmp_path_factory.mktemp("directed")
        last_case = str(d / "last-case.json")
        proc = run_fuzz(["--replay", json.dumps(DIRECTED[name]), "--last-case", last_case],
                        d, timeout=300)
        return name, proc, last_case

    with ThreadPoolExecutor(max_workers=3) as pool:
        return {name: (proc, last) for name, proc, last in pool.map(one, DIRECTED)}


@pytest.mark.parametrize("name", list(DIRECTED))
def test_directed_malformation(name, directed_results):
    proc, last_case = directed_results[name]
    case = json.dumps(DIRECTED[name])
    stats.count("fuzz directed cases", 1)
    assert proc.returncode == 0 and "FUZZ FAILURE" not in proc.stdout, (
        f"{name}\nreplay: python fuzz/fuzz_kernels.py --replay '{case}'\n"
        + explain(proc, last_case))
