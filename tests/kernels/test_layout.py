"""A network's layout (bpfast._network.Network: the flat parameter vector and
its views, meta and the workspace) and the kernels' checks of it."""
import numpy as np
import pytest

from bpfast import _kernels
from bpfast._network import Network, kernel_data


def test_flat_views_and_layout():
    net = Network([4, 3, 2], "relu", "softmax", np.float64)
    coefs, intercepts = net.coef_views(), net.intercept_views()
    assert [c.shape for c in coefs] == [(4, 3), (3, 2)]
    assert net.n_params == 4 * 3 + 3 * 2 + 3 + 2
    net.params[:] = np.arange(net.n_params)
    assert coefs[1][0, 0] == 12 and intercepts[0][0] == 18
    assert net.is_view(coefs, intercepts)
    assert not net.is_view([c.copy() for c in coefs], intercepts)


def test_kernels_reject_wrong_shapes():
    net = Network([4, 3, 2], "relu", "softmax", np.float64)
    meta, work = net.workspace(8)
    X, Y = np.zeros((10, 4)), np.zeros((10, 2))
    grads = np.empty(net.n_params)
    context = _kernels.LossContext(net.layout(8), work)

    def loss(X=X, Y=Y, params=net.params):
        return _kernels.loss_gradient(context, kernel_data(X, Y), params, grads, 1)

    loss()
    with pytest.raises(ValueError):  # wrong feature count
        loss(X=np.zeros((10, 5)))
    with pytest.raises(ValueError):  # wrong parameter length
        loss(params=net.params[:-1])
    with pytest.raises(ValueError):  # workspace smaller than the layout
        _kernels.LossContext(net.layout(8), work[:-3])
    with pytest.raises(ValueError):  # Y of the wrong width
        loss(Y=np.zeros((10, 3)))
    with pytest.raises(ValueError):  # Y of the wrong length
        kernel_data(X, np.zeros((9, 2)))
    bad = meta.copy()
    bad[8 + 3 + 2] = 10**6  # a bias offset outside the parameter vector
    with pytest.raises(ValueError):
        _kernels.Layout(bad)
