"""check_gradients: backprop against central finite differences, for users."""

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_random_state

from ._network import Network, kernel_data


def check_gradients(estimator, X, y, sample_weight=None, *, step=3e-5, max_params=None,
                    random_state=0):
    """Largest relative error between backprop and finite differences.

    Builds the estimator's network for (X, y) — with the fitted parameters if
    the estimator is fitted, else with the initial weights its random_state
    gives — and compares the gradient of its training loss (with the
    alpha / l1_ratio penalty, sample and class weights, and, with dropout,
    one fixed dropout mask) over the flat parameter vector against central
    finite differences, in float64.

    Parameters
    ----------
    estimator : bpfast.MLPClassifier or bpfast.MLPRegressor
        The configuration to check, fitted or not; it is not modified.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The input data of the loss.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets of the loss.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the rows in the loss; None weighs every row 1.
    step : float, default=3e-5
        Finite-difference step h: (loss(w + h) - loss(w - h)) / 2h.
    max_params : int, default=None
        Check at most this many parameters, drawn at random (all if None).
    random_state : int, default=0
        Seeds the choice of parameters when max_params is set.

    Returns
    -------
    float
        The largest relative error ``max_i |g_i - n_i| / max(|g_i|, |n_i|,
        1e-3 * max_j |g_j|)`` over the parameters checked, ``g`` being the
        backpropagated gradient and ``n`` the finite differences: the floor
        keeps components far below the gradient's scale, where differencing
        is dominated by rounding, from dominating the figure. Below ~1e-6
        the backprop gradient is right.

    See Also
    --------
    bpfast.MLPClassifier : A configuration to check.
    bpfast.MLPRegressor : A configuration to check.

    Examples
    --------
    >>> import numpy as np
    >>> from bpfast import MLPClassifier, check_gradients
    >>> X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
    >>> y = np.array([0, 1, 1, 0])
    >>> clf = MLPClassifier(hidden_layer_sizes=(3,), activation="tanh", alpha=0.1,
    ...                     l1_ratio=0.5, random_state=0)
    >>> check_gradients(clf, X, y) < 1e-6
    True

    A Poisson regressor with leaky ReLU units, ten of its parameters:

    >>> from bpfast import MLPRegressor
    >>> reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,),
    ...                    activation="leaky_relu", random_state=0)
    >>> check_gradients(reg, X, [0.0, 1.0, 1.0, 2.0], max_params=10) < 1e-6
    True
    """
    probe = clone(estimator)
    probe.set_params(warm_start=False)
    net, Xk, Y, _, sw = probe._prepare(X, y, sample_weight, incremental=False)
    if hasattr(estimator, "coefs_"):
        net.load(estimator.coefs_, estimator.intercepts_)

    net64 = Network(net.units, net.activation, net.output, np.float64, slope=net.slope)
    params = net.params.astype(np.float64)
    Xk = Xk.astype(np.float64)
    Y = Y.astype(np.float64)
    sw = None if sw is None else sw.astype(np.float64)
    # all the rows in one block: one dropout mask (that of minibatch 0)
    context = net64.loss_context(Xk.shape[0], probe.alpha, l1_ratio=probe.l1_ratio,
                                 dropout=probe.dropout, seed=probe._dropout_seed, step=0,
                                 capacity=Xk.shape[0])
    data = kernel_data(Xk, Y, sw)

    def loss(p, grads=None):
        return net64.loss_gradient(context, data, p, grads)

    grads = np.empty_like(params)
    loss(params, grads)
    index = np.arange(params.size)
    if max_params is not None and max_params < params.size:
        index = check_random_state(random_state).choice(params.size, max_params,
                                                        replace=False)
    numeric = np.empty(index.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k, i in enumerate(index):
            old = params[i]
            params[i] = old + step
            up = loss(params)
            params[i] = old - step
            down = loss(params)
            params[i] = old
            numeric[k] = (up - down) / (2 * step)
    g = grads[index]
    floor = 1e-3 * max(np.abs(g).max(), np.abs(numeric).max(), np.finfo(float).tiny)
    return float(np.max(np.abs(g - numeric)
                        / np.maximum(np.maximum(np.abs(g), np.abs(numeric)), floor)))
