"""The contexts the kernel entry points take (bpfast/_kernels.pyx: Layout,
Data, FitContext, LossContext): what each checks when it is built, what an
entry point still checks of them, and that they keep their arrays."""
import copy
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from bpfast import _kernels
from bpfast._network import Network, as_kernel_csr, kernel_data


def _net(dtype=np.float64):
    net = Network([4, 5, 3], "tanh", "softmax", dtype)
    net.params[:] = np.random.RandomState(0).uniform(-0.5, 0.5, net.n_params)
    return net


def _rows(n=12, dtype=np.float64):
    rng = np.random.RandomState(1)
    X = rng.randn(n, 4).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.randint(0, 3, n)]
    return X, Y


def _fit_context(net, batch_size=4, capacity=None, **kw):
    layout = net.layout(capacity or batch_size, 4)
    n = net.n_params
    arrays = dict(params=net.params, grads=np.zeros(n, net.dtype),
                  work=np.zeros(layout.work_len, net.dtype), state1=np.zeros(n, net.dtype),
                  state2=np.zeros(n, net.dtype), step_count=np.zeros(2, np.intp))
    arrays.update({k: kw.pop(k) for k in list(kw) if k in arrays})
    settings = dict(solver="adam", batch_size=batch_size, learning_rate=0.01)
    settings.update(kw)
    return _kernels.FitContext(layout, arrays["params"], arrays["grads"], arrays["work"],
                               arrays["state1"], arrays["state2"], arrays["step_count"],
                               **settings)


def test_layout_unpacks_a_copy_of_meta():
    """A Layout checks meta once and keeps a read-only copy: a later write
    into the caller's array changes nothing; it pickles and copies."""
    net = _net()
    meta, work_len = net.meta(8)
    meta, original = meta.copy(), meta.copy()   # (the network's own stays as it is)
    layout = _kernels.Layout(meta, 0.25)
    assert (layout.capacity, layout.work_len, layout.n_params, layout.slope) == (
        8, work_len, net.n_params, 0.25)
    assert layout.n_coef == 4 * 5 + 5 * 3
    meta[8 + 3 + 2] = 10**6
    assert np.array_equal(layout.meta, original) and not layout.meta.flags.writeable
    for clone in (pickle.loads(pickle.dumps(layout)), copy.deepcopy(layout)):
        assert np.array_equal(clone.meta, original) and clone.slope == 0.25
    assert net.layout(8) is net.layout(8)
    with pytest.raises(ValueError):
        _kernels.Layout(meta)                        # a bias block past n_params
    with pytest.raises(ValueError):
        _kernels.Layout(original[:5])                # too short
    with pytest.raises(ValueError):
        _kernels.Layout(original.astype(np.int32))   # not intp


def test_data_checks_its_rows_once():
    X, Y = _rows()
    data = kernel_data(X, Y, np.full(12, 0.5))
    assert (data.n_rows, data.n_features, data.n_outputs, data.sparse) == (12, 4, 3, False)
    assert data.has_targets and data.sw_sum == 6.0 and data.dtype == np.float64
    assert kernel_data(X).n_outputs == 0 and not kernel_data(X).has_targets
    assert kernel_data(X, Y, np.zeros(0)).sw_sum == 12     # empty: no weights
    with pytest.raises(ValueError, match="sample_weight has the wrong length"):
        kernel_data(X, Y, np.ones(11))
    with pytest.raises(ValueError, match="Y has shape"):
        kernel_data(X, Y[:-1])
    with pytest.raises(ValueError):                    # Y of another dtype
        kernel_data(X, Y.astype(np.float32))
    with pytest.raises(ValueError):                    # not C-ordered
        kernel_data(np.asfortranarray(X), Y)
    with pytest.raises(TypeError):
        _kernels.Data(None, None, None, None, False, 4)
    with pytest.raises(ValueError, match="wrong number of columns"):
        _kernels.Data(X, None, None, None, False, 5)
    Xs = as_kernel_csr(sp.csr_matrix(X * (X > 0)), np.float64)
    assert kernel_data(Xs, Y).sparse and kernel_data(Xs, Y).n_rows == 12
    indptr = Xs.indptr.copy()
    indptr[1] = indptr[2] + 1
    with pytest.raises(ValueError, match="malformed CSR"):
        _kernels.Data(None, Xs.data, Xs.indices, indptr, True, 4, Y)
    indices = Xs.indices.copy()
    indices[0] = 4
    with pytest.raises(ValueError, match="column index out of range"):
        _kernels.Data(None, Xs.data, indices, Xs.indptr, True, 4, Y)
    with pytest.raises(ValueError, match="malformed CSR"):
        _kernels.Data(None, Xs.data, Xs.indices, Xs.indptr[:0], True, 4)


def test_fit_context_checks_what_train_epoch_checked():
    net = _net()
    n = net.n_params
    _fit_context(net)
    _fit_context(net, solver="sgd", state2=np.zeros(0))   # sgd: no second state
    for kw, message in [
            (dict(solver="newton"), "unknown solver"),
            (dict(batch_size=5, capacity=4), "batch_size"),
            (dict(batch_size=0, capacity=4), "batch_size"),
            (dict(grads=np.zeros(n - 1)), "wrong length"),
            (dict(state2=np.zeros(0)), "wrong length"),
            (dict(params=np.zeros(n + 1)), "parameter vector has length"),
            (dict(work=np.zeros(3)), "workspace too small"),
            (dict(step_count=np.zeros(1, np.intp)), "scratch arrays too small"),
            (dict(tune=np.zeros(3)), "tune must hold"),
            (dict(dropout=1.0), "dropout must be in"),
            (dict(l1_ratio=1.5), "l1_ratio in"),
            (dict(shadow=np.zeros(n - 1)), "shadow must be empty or as long"),
            (dict(shadow=net.params), "shadow must not share memory")]:
        with pytest.raises(ValueError, match=message):
            _fit_context(net, **kw)
    read_only = np.zeros(n)
    read_only.flags.writeable = False
    with pytest.raises(ValueError):
        _fit_context(net, state1=read_only)
    with pytest.raises(ValueError):                 # float32 state, float64 params
        _fit_context(net, state1=np.zeros(n, np.float32))
    with pytest.raises(TypeError):
        _fit_context(net, grads=None)


def test_entry_points_check_that_context_and_data_fit():
    net = _net()
    X, Y = _rows()
    order = np.arange(12, dtype=np.intp)
    context = _fit_context(net)
    assert np.isfinite(_kernels.train_epoch(context, kernel_data(X, Y), order, True, 1))
    with pytest.raises(ValueError, match="X has 5 features, the network expects 4"):
        _kernels.train_epoch(context, kernel_data(np.zeros((12, 5)), Y), order, True, 1)
    with pytest.raises(ValueError, match="no targets"):
        _kernels.train_epoch(context, kernel_data(X), order, True, 1)
    with pytest.raises(ValueError, match=r"Y has shape \(12, 2\), expected \(12, 3\)"):
        _kernels.train_epoch(context, kernel_data(X, np.ascontiguousarray(Y[:, :2])),
                             order, True, 1)
    with pytest.raises(ValueError, match="float32"):
        _kernels.train_epoch(context, kernel_data(*_rows(dtype=np.float32)), order, True, 1)
    with pytest.raises(ValueError, match="sample order out of range"):
        _kernels.train_epoch(context, kernel_data(X, Y), order + 1, True, 1)
    loss = net.loss_context(12)
    with pytest.raises(ValueError, match="no targets"):
        net.loss_gradient(loss, kernel_data(X), net.params)
    with pytest.raises(ValueError, match="float32"):
        net.loss_gradient(loss, kernel_data(*_rows(dtype=np.float32)), net.params)
    with pytest.raises(ValueError, match="parameter vector has length"):
        net.loss_gradient(loss, kernel_data(X, Y), net.params[:-1])
    with pytest.raises(ValueError, match="dropout masks need the whole batch"):
        net.loss_gradient(net.loss_context(12, dropout=0.5, capacity=4), kernel_data(X, Y),
                          net.params)
    with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
        net.loss_gradient(loss, kernel_data(X, Y, np.zeros(12)), net.params)
    layout, out = net.layout(12), np.empty((12, 3))
    work = np.empty(layout.work_len)
    assert _kernels.predict(layout, kernel_data(X), net.params, work, out, 1)
    with pytest.raises(ValueError):                  # float64 rows, float32 parameters
        _kernels.predict(layout, kernel_data(X), net.params.astype(np.float32), work, out, 1)
    with pytest.raises(ValueError, match="X has 5 features"):
        _kernels.predict(layout, kernel_data(np.zeros((12, 5))), net.params, work, out, 1)
    with pytest.raises(ValueError, match="workspace too small"):
        _kernels.predict(layout, kernel_data(X), net.params, work[:-1], out, 1)


def test_learning_rate_is_read_at_each_epoch():
    """ctx.learning_rate set between epochs is the next epoch's step size: at
    0, plain sgd leaves the parameters as they are."""
    net = _net()
    X, Y = _rows()
    order = np.arange(12, dtype=np.intp)
    context = _fit_context(net, solver="sgd", momentum=0.0, state2=np.zeros(0))
    data = kernel_data(X, Y)
    before = net.params.copy()
    context.learning_rate = 0.0
    _kernels.train_epoch(context, data, order, True, 1)
    assert np.array_equal(net.params, before)
    context.learning_rate = 0.1
    _kernels.train_epoch(context, data, order, True, 1)
    assert not np.array_equal(net.params, before)


def test_contexts_keep_their_arrays():
    """A context keeps the arrays it was built from alive: the caller may
    drop them."""
    net = _net()
    X, Y = _rows()
    n = net.n_params
    params = net.params.copy()
    context = _fit_context(net, params=params, grads=np.zeros(n), state1=np.zeros(n),
                           state2=np.zeros(n), step_count=np.zeros(2, np.intp),
                           shadow=np.zeros(n), tune=np.zeros(_kernels.TUNE_SIZE))
    data = kernel_data(X.copy(), Y.copy(), np.ones(12))
    del params
    for _ in range(3):
        assert np.isfinite(_kernels.train_epoch(context, data, np.arange(12, dtype=np.intp),
                                                True, 1))
    loss = _kernels.LossContext(net.layout(12), np.zeros(net.layout(12).work_len),
                                alpha=0.1)
    assert np.isfinite(_kernels.loss_gradient(loss, data, net.params, np.zeros(n), 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_data_serves_every_epoch(dtype):
    """Epochs through one Data and one FitContext give the bits of epochs
    each with contexts of their own (over the same arrays)."""
    X, Y = _rows(40, dtype)
    rng = np.random.RandomState(2)
    orders = [rng.permutation(40).astype(np.intp) for _ in range(3)]
    nets = [_net(dtype), _net(dtype)]
    state = [dict(state1=np.zeros(nets[0].n_params, dtype),
                  state2=np.zeros(nets[0].n_params, dtype),
                  step_count=np.zeros(2, np.intp)) for _ in nets]
    shared = _fit_context(nets[0], **state[0])
    data = kernel_data(X, Y)
    losses = [[], []]
    for order in orders:
        losses[0].append(_kernels.train_epoch(shared, data, order, True, 1))
        losses[1].append(_kernels.train_epoch(_fit_context(nets[1], **state[1]),
                                              kernel_data(X, Y), order, True, 1))
    assert losses[0] == losses[1]
    assert np.array_equal(nets[0].params, nets[1].params)
    assert np.array_equal(state[0]["step_count"], [30, 30])
