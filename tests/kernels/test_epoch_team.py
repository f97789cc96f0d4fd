"""train_epoch's threaded paths, each the same bits on 1 and 2 threads: the
row-block pass, the epoch team against the product-by-product path, updates
shared among threads into a shadow vector, layer 0's product in two halves
of its inputs, and which nets take a team or a shadow. (The team's size
changing between minibatches, and the thread budget: tests/test_threads.py.)"""
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import scipy.sparse as sp

from bpfast import _kernels
from bpfast._network import Network, as_kernel_csr, kernel_data


@contextmanager
def _budget_of_two():
    """A tile budget of 2 (the grid of a 2-core machine) inside; on the way
    out, the budget and the rows_local switch as they were."""
    saved_budget, saved_local = _kernels.tile_budget(), _kernels._set_rows_local(True)
    try:
        _kernels.set_tile_budget(2)
        yield
    finally:
        _kernels.set_tile_budget(saved_budget)
        _kernels._set_rows_local(saved_local)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden,activation,n_classes,batch", [
    ((32,), "relu", 2, 32),              # one output unit, one row block
    ((100,), "relu", 10, 200),
    ((64, 64), "tanh", 5, 64),
    ((70,), "elu", 3, 77),               # row blocks of 38 and 39 rows
    ((40, 9), "logistic", 4, 130),
])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_row_block_pass_gives_the_bits_of_the_product_by_product_path(
        dtype, hidden, activation, n_classes, batch, solver):
    """Fits through row_block_pass (one parallel region for the row-wise
    passes) equal fits that make every product in its own region (to
    rounding: see _same_bits_per_path_close_across), each path the same bits
    on 1 and 2 threads, under a tile budget of 2 (so minibatches of 64 rows or
    more are cut into two row blocks)."""
    from threadpoolctl import threadpool_limits

    from bpfast import MLPClassifier

    rng = np.random.RandomState(batch)
    X = rng.randn(600, 13).astype(dtype)
    y = rng.randint(0, n_classes, 600)
    fits = []
    with _budget_of_two():
        for local in (True, False):
            _kernels._set_rows_local(local)
            for threads in (1, 2):
                with threadpool_limits(threads):
                    clf = MLPClassifier(hidden, activation=activation, solver=solver,
                                        batch_size=batch, max_iter=4, random_state=0)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        clf.fit(X, y)
                fits.append((np.concatenate([c.ravel() for c in clf.coefs_]),
                             np.array(clf.loss_curve_ if solver == "adam" else [clf.loss_])))
    _same_bits_per_path_close_across(fits, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("params", [
    dict(solver="adam"),
    dict(solver="adam", alpha=0.01, l1_ratio=0.5),
    dict(solver="adam", shuffle=False),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    dict(solver="sgd", momentum=0.5, nesterovs_momentum=False, alpha=0.0),
    dict(solver="rmsprop", rmsprop_momentum=0.9),
    dict(solver="rmsprop", rmsprop_momentum=0.0, l1_ratio=1.0),
])
@pytest.mark.parametrize("weighted", [False, True])
def test_epoch_team_gives_the_bits_of_the_product_by_product_path(dtype, params, weighted):
    """An epoch in one team of threads (epoch_team: two barriers a minibatch,
    each weight gradient's row tiles updated by the thread that made them)
    equals the epoch that opens a parallel region a product and updates the
    flat vector in chunks (to rounding: see _same_bits_per_path_close_across),
    each the same bits on 1 and 2 threads, for every
    optimizer, with the L1 part of the penalty, sample weights, rows read in
    place (shuffle=False) and a last, short minibatch. Budget 2: 128-row
    minibatches are cut in two row blocks, and the 70- and 96-row weight
    gradients in two row tiles."""
    from threadpoolctl import threadpool_limits

    from bpfast import MLPClassifier

    rng = np.random.RandomState(7)
    X = rng.randn(530, 70).astype(dtype)          # 4 minibatches of 128, one of 18
    y = rng.randint(0, 3, 530)
    sw = rng.uniform(0.5, 2.0, 530) if weighted else None
    fits = []
    with _budget_of_two():
        for local in (True, False):
            _kernels._set_rows_local(local)
            for threads in (1, 2):
                clf = MLPClassifier((96, 40), batch_size=128, max_iter=3, random_state=0,
                                    learning_rate_init=0.01, **params)
                with threadpool_limits(threads), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    clf.fit(X, y, sample_weight=sw)
                meta = clf._network.workspace(128, 70)[0]
                assert _kernels._epoch_team(meta, 128) == local
                fits.append((np.concatenate([c.ravel() for c in clf.coefs_ + clf.intercepts_]),
                             np.array(clf.loss_curve_)))
    assert np.all(np.isfinite(fits[0][0])) and len(fits[0][1]) == 3
    _same_bits_per_path_close_across(fits, dtype)


def _same_bits_per_path_close_across(fits, dtype):
    """fits: (coefs, losses) of the team on 1 and 2 threads, then of the
    product-by-product path on 1 and 2 threads. Each path's bits do not depend
    on the thread count; the two paths agree to rounding only: their grids
    differ (row blocks and row tiles against tiles of each product), and
    OpenBLAS's kernels for some CPUs (AVX2: Haswell, Zen) round a product cut
    in other tiles differently (AVX-512 ones were seen not to)."""
    for a, b in ((0, 1), (2, 3)):
        assert np.array_equal(fits[b][0], fits[a][0])
        assert np.array_equal(fits[b][1], fits[a][1])
    tol = dict(rtol=2e-3, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(fits[2][0], fits[0][0], **tol)
    np.testing.assert_allclose(fits[2][1], fits[0][1], **tol)


def _team_epochs(dtype, n_rows, shadow_len, threads, alpha=1e-3, l1_ratio=0.0,
                 epochs=2, solver="adam", dropout=0.0, sparse=False):
    """params, the epoch losses and adam's step after `epochs` train_epoch calls
    of a 70-96-40-3 net on 128-row minibatches, with a shadow of shadow_len
    (filled with NaN: never read) on `threads` threads."""
    rng = np.random.RandomState(3)
    X = rng.randn(n_rows, 70).astype(dtype)
    X[X < 0.3] = 0
    Xin = as_kernel_csr(sp.csr_matrix(X), dtype) if sparse else X
    Y = np.eye(3, dtype=dtype)[rng.randint(0, 3, n_rows)]
    net = Network([70, 96, 40, 3], "relu", "softmax", dtype)
    net.params[...] = rng.uniform(-0.2, 0.2, net.n_params)
    layout = net.layout(128, 70)
    params = net.params.copy()
    grads, s1, s2 = (np.zeros(net.n_params, dtype) for _ in range(3))
    work = np.zeros(layout.work_len, dtype)
    shadow = np.full(shadow_len, np.nan, dtype)
    step = np.zeros(2, np.intp)
    context = _kernels.FitContext(
        layout, params, grads, work, s1, s2, step, solver=solver, batch_size=128,
        learning_rate=0.01, shadow=shadow, alpha=alpha, l1_ratio=l1_ratio, dropout=dropout,
        seed=11)
    data = kernel_data(Xin, Y)
    losses = []
    for epoch in range(epochs):
        order = rng.permutation(n_rows).astype(np.intp)
        losses.append(_kernels.train_epoch(context, data, order, not sparse, threads))
    return params, losses, step.copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [530, 640, 256])
@pytest.mark.parametrize("penalty", [(1e-3, 0.0), (0.02, 0.5), (0.0, 0.0)])
def test_epoch_team_with_a_shadow_gives_the_bits_of_the_update_in_place(dtype, n_rows,
                                                                         penalty):
    """The team updating into a second parameter vector, minibatch by
    minibatch (so that no core writes parameters the other one has just
    read): params, losses and adam's step are those of the update in place,
    on 1 and 2 threads, over two epochs of an odd number of minibatches (5,
    the last one short: 530 rows; 5 full ones: 640) and an even one (2: 256),
    with and without the penalty, and the shadow's contents are never read."""
    alpha, l1_ratio = penalty
    with _budget_of_two():
        reference = _team_epochs(dtype, n_rows, 0, 1, alpha, l1_ratio)
        net = Network([70, 96, 40, 3], "relu", "softmax", dtype)
        assert _kernels._epoch_team(net.meta(128, 70)[0], 128)
        for threads in (1, 2):
            for shadow_len in (0, net.n_params):
                params, losses, step = _team_epochs(dtype, n_rows, shadow_len, threads,
                                                    alpha, l1_ratio)
                assert np.all(np.isfinite(params))
                assert np.array_equal(params, reference[0])
                assert losses == reference[1]
                assert np.array_equal(step, reference[2])


def _halves_epochs(dtype, threads, local=True, gather=True, weighted=False,
                   activation="tanh", solver="adam", epochs=2, units=(384, 160, 24, 4),
                   n_rows=530):
    """params, the epoch losses and adam's step after `epochs` train_epoch
    calls on 128-row minibatches (with the defaults: a 384-160-24-4 net, 530
    rows: four minibatches, then one of 18; under a tile budget of 2
    epoch_team makes the first product of the four, 15.7 MFLOP, in two halves
    of its inputs), with a shadow (NaN: never read) on more than one
    thread."""
    rng = np.random.RandomState(5)
    X = rng.randn(n_rows, units[0]).astype(dtype)
    Y = np.eye(units[-1], dtype=dtype)[rng.randint(0, units[-1], n_rows)]
    sw = rng.uniform(0.5, 2.0, n_rows).astype(dtype) if weighted else np.zeros(0, dtype)
    net = Network(list(units), activation, "softmax", dtype)
    net.params[...] = rng.uniform(-0.1, 0.1, net.n_params)
    layout = net.layout(128, units[0])
    params = net.params.copy()
    grads, s1, s2 = (np.zeros(net.n_params, dtype) for _ in range(3))
    work = np.full(layout.work_len, np.nan, dtype)
    shadow = np.full(net.n_params if threads > 1 else 0, np.nan, dtype)
    step = np.zeros(2, np.intp)
    context = _kernels.FitContext(
        layout, params, grads, work, s1, s2, step, solver=solver, batch_size=128,
        learning_rate=0.01, shadow=shadow, alpha=1e-3, seed=11)
    data = kernel_data(X, Y, sw)
    losses = []
    saved = _kernels._set_rows_local(local)
    try:
        for epoch in range(epochs):
            order = (rng.permutation(n_rows) if gather else np.arange(n_rows)).astype(np.intp)
            losses.append(_kernels.train_epoch(context, data, order, gather, threads))
    finally:
        _kernels._set_rows_local(saved)
    return params, losses, step.copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gather,weighted,activation", [
    (True, False, "tanh"), (False, True, "relu"), (True, True, "logistic")])
def test_input_halves_give_the_same_bits_on_1_and_2_threads(dtype, gather, weighted,
                                                            activation):
    """Where epoch_team makes layer 0's product in two halves of its inputs
    (input_halves), it does so on one thread too, so the bits do not depend
    on the thread count; they differ from the product by product path only
    by rounding (the two halves are summed, then the bias added: compared
    under sgd, whose steps do not magnify rounding as adam's do). With the
    rows gathered or read in place, with sample weights, and a last, short
    minibatch (18 rows, one row block: made whole)."""
    with _budget_of_two():
        net = Network([384, 160, 24, 4], activation, "softmax", dtype)
        meta = net.meta(128, 384)[0]
        assert _kernels._input_halves(meta, 128) and _kernels._epoch_team(meta, 128)
        assert not _kernels._input_halves(meta, 18)
        one = _halves_epochs(dtype, 1, gather=gather, weighted=weighted,
                             activation=activation)
        two = _halves_epochs(dtype, 2, gather=gather, weighted=weighted,
                             activation=activation)
        assert np.all(np.isfinite(one[0]))
        assert np.array_equal(one[0], two[0])
        assert one[1] == two[1]
        assert np.array_equal(one[2], two[2]) and one[2][1] == 10
        halves, whole = (_halves_epochs(dtype, 2, local=local, gather=gather,
                                        weighted=weighted, activation=activation,
                                        solver="sgd") for local in (True, False))
        tol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-11,
                                                                          atol=1e-14)
        # (equal bits are possible: OpenBLAS may itself cut the inner
        # dimension of the whole product where the halves meet)
        np.testing.assert_allclose(halves[0], whole[0], **tol)
        np.testing.assert_allclose(halves[1], whole[1], **tol)


def test_input_halves_of_a_last_short_minibatch_only():
    """Under a tile budget of 4 a 120-350-20-3 net's 128-row minibatches are
    cut in four row blocks (no halves), its last one of 100 rows in two
    (halves): W_0 moves to params for that one, and one thread takes the
    team too, for the same bits on 1 and 2 threads."""
    saved = _kernels.tile_budget()
    try:
        _kernels.set_tile_budget(4)
        net = Network([120, 350, 20, 3], "relu", "softmax", np.float64)
        meta = net.meta(128, 120)[0]
        assert not _kernels._input_halves(meta, 128) and _kernels._input_halves(meta, 100)
        for dtype in (np.float64, np.float32):
            kw = dict(units=(120, 350, 20, 3), n_rows=3 * 128 + 100, activation="relu")
            one, two = (_halves_epochs(dtype, threads, **kw) for threads in (1, 2))
            assert np.all(np.isfinite(one[0]))
            assert np.array_equal(one[0], two[0]) and one[1] == two[1]
            halves, whole = (_halves_epochs(dtype, 2, local=local, solver="sgd", **kw)
                             for local in (True, False))
            tol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(
                rtol=1e-11, atol=1e-14)
            assert not np.array_equal(halves[0], whole[0])
            np.testing.assert_allclose(halves[0], whole[0], **tol)
    finally:
        _kernels.set_tile_budget(saved)


def test_input_halves_only_for_a_large_first_product_cut_in_two():
    """Halves of the inputs where the minibatch is cut in two row blocks, the
    first weight gradient in two row tiles, and the first product has at
    least 8 MFLOP; never without a hidden layer or under a budget of 1."""
    with _budget_of_two():
        mnist = Network([784, 256, 128, 10], "relu", "softmax", np.float32).meta(200, 784)[0]
        assert _kernels._input_halves(mnist, 200) and _kernels._input_halves(mnist, 64)
        assert not _kernels._input_halves(mnist, 63)           # one row block
        small = Network([64, 100, 10], "relu", "softmax", np.float64).meta(200, 64)[0]
        assert not _kernels._input_halves(small, 200)          # 2.6 MFLOP
        linear = Network([784, 10], "relu", "softmax", np.float64).meta(200, 784)[0]
        assert not _kernels._input_halves(linear, 200)
        _kernels.set_tile_budget(1)
        assert not _kernels._input_halves(mnist, 200)


@pytest.mark.openmp_threads
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", [dict(dropout=0.2), dict(sparse=True)])
@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_chunked_update_with_a_shadow_gives_the_bits_of_the_update_in_place(dtype, path,
                                                                            solver):
    """Outside the epoch team (dropout, sparse input), an update shared among
    threads in chunks also goes to the shadow: the same bits as in place, on
    1 and 2 threads, for an odd and an even number of minibatches."""
    with _budget_of_two():
        net = Network([70, 96, 40, 3], "relu", "softmax", dtype)
        meta = net.meta(128, 70)[0]
        assert _kernels._shared_update(meta, 128, 2, path.get("sparse", False),
                                       path.get("dropout", 0) > 0)
        for n_rows in (640, 256):
            reference = _team_epochs(dtype, n_rows, 0, 1, solver=solver, **path)
            for threads in (1, 2):
                got = _team_epochs(dtype, n_rows, net.n_params, threads, solver=solver,
                                   **path)
                assert np.all(np.isfinite(got[0]))
                assert np.array_equal(got[0], reference[0])
                assert got[1] == reference[1]


@pytest.mark.openmp_threads
def test_shared_update_says_where_a_fit_takes_a_shadow():
    """A shadow where an update is shared among threads: the epoch team, or
    chunks on several threads; none on one thread or for a net whose update
    stays on one thread."""
    with _budget_of_two():
        wide = Network([70, 96, 40, 3], "relu", "softmax", np.float64).meta(128, 70)[0]
        small = Network([20, 32, 1], "relu", "logistic", np.float64).meta(32, 20)[0]
        for sparse, dropout in [(False, False), (True, False), (False, True)]:
            assert _kernels._shared_update(wide, 128, 2, sparse, dropout)
            assert not _kernels._shared_update(wide, 128, 1, sparse, dropout)
            assert not _kernels._shared_update(small, 32, 2, sparse, dropout)


def test_train_epoch_rejects_a_bad_shadow():
    """A shadow must be empty or as long as params and apart from every
    other buffer."""
    rng = np.random.RandomState(0)
    X = rng.randn(256, 70)
    Y = np.eye(3)[rng.randint(0, 3, 256)]
    net = Network([70, 96, 40, 3], "relu", "softmax", np.float64)
    layout = net.layout(128, 70)
    n = net.n_params
    block = np.zeros(5 * n + layout.work_len)
    params, grads, s1, s2 = (block[i * n:(i + 1) * n] for i in range(4))
    work = block[4 * n:]
    order = np.arange(256, dtype=np.intp)

    def call(shadow):
        context = _kernels.FitContext(
            layout, params, grads, work, s1, s2, np.zeros(2, np.intp), solver="adam",
            batch_size=128, learning_rate=1e-3, shadow=shadow, alpha=1e-4)
        _kernels.train_epoch(context, kernel_data(X, Y), order, True, 2)

    call(np.zeros(0))
    call(np.zeros(n))
    with pytest.raises(ValueError, match="shadow must be empty or as long"):
        call(np.zeros(n - 1))
    for overlapping in (params, block[n // 2:n // 2 + n], s2, work[:n], block[-n:]):
        with pytest.raises(ValueError, match="shadow must not share memory"):
            call(overlapping)


def test_no_epoch_team_for_a_net_it_would_not_cut():
    """A net whose products the team's grid leaves whole (20-32-1, 32-row
    minibatches) runs on one thread, without a team: cutting it was measured
    slower on 2 cores (its rows and gradients would cross between the cores'
    caches every minibatch)."""
    from bpfast._network import Network

    with _budget_of_two():
        small = Network([20, 32, 1], "relu", "logistic", np.float64)
        assert not _kernels._epoch_team(small.workspace(32, 20)[0], 32)
        wide = Network([70, 96, 3], "relu", "softmax", np.float64)
        assert _kernels._epoch_team(wide.workspace(128, 70)[0], 128)


def test_epoch_team_stops_at_a_zero_weight_minibatch():
    """Both epoch paths raise scikit-learn's error at a minibatch whose
    sample weights sum to zero."""
    from bpfast import MLPClassifier

    rng = np.random.RandomState(0)
    X = rng.randn(256, 70)
    y = rng.randint(0, 2, 256)
    sw = np.ones(256)
    sw[128:] = 0
    with _budget_of_two():
        for local in (True, False):
            _kernels._set_rows_local(local)
            clf = MLPClassifier((96,), batch_size=128, shuffle=False, max_iter=2)
            with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
                clf.fit(X, y, sample_weight=sw)
