"""A network's layout (bpfast._network.Network: the flat parameter vector and
its views, meta and the workspace) and the kernels' checks of it."""
import numpy as np
import pytest

from bpfast._network import Network


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
    with pytest.raises(ValueError):  # wrong feature count
        net.loss_gradient(np.zeros((10, 5)), Y, None, 0.0, 1, net.params, grads)
    with pytest.raises(ValueError):  # wrong parameter length
        net.loss_gradient(X, Y, None, 0.0, 1, net.params[:-1], grads)
    with pytest.raises(ValueError):  # workspace smaller than the layout
        net.loss_gradient(X, Y, None, 0.0, 1, net.params, grads, (meta, work[:-3]))
    with pytest.raises(ValueError):  # Y of the wrong width
        net.loss_gradient(X, np.zeros((10, 3)), None, 0.0, 1, net.params, grads)
    bad = meta.copy()
    bad[8 + 3 + 2] = 10**6  # a bias offset outside the parameter vector
    with pytest.raises(ValueError):
        net.loss_gradient(X, Y, None, 0.0, 1, net.params, grads, (bad, work))
