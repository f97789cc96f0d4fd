"""Conversion between bpfast's estimators and scikit-learn's MLPs.

``estimator.to_sklearn()`` turns a bpfast MLPClassifier / MLPRegressor into
scikit-learn's, ``from_sklearn(model)`` the other way round: the same
hyper-parameters, weights and fitted attributes, so both predict the same,
and the state a later ``fit(warm_start=True)`` or ``partial_fit`` continues
from (the loss curve, the best loss or validation score, the no-improvement
count, the early-stopping weights and the sgd / adam optimizer state).

What scikit-learn has no counterpart for:

- ``activation="leaky_relu"`` / ``"elu"``: scikit-learn cannot compute them,
  so the conversion raises ValueError.
- ``dropout``, ``l1_ratio``, ``class_weight`` and ``solver="rmsprop"``
  (``rho``, ``rmsprop_momentum``) act in training only: the converted
  estimator predicts the same; it drops them with a ConversionWarning, so
  further training in scikit-learn is plain L2, unweighted, without dropout,
  and an rmsprop fit continues as adam (its RMSProp state is dropped).
- ``validation_loss_curve_`` (beyond scikit-learn) is not carried over.
"""

import copy
import warnings

import numpy as np

from ._mlp import MLPClassifier, MLPRegressor
from ._patch import sklearn_classes

__all__ = ["ConversionWarning", "from_sklearn", "to_sklearn"]


class ConversionWarning(UserWarning):
    """Warning that a conversion to scikit-learn dropped a bpfast setting.

    :meth:`bpfast.MLPClassifier.to_sklearn` and
    :meth:`bpfast.MLPRegressor.to_sklearn`
    raise it for the training-only settings scikit-learn has no
    counterpart for (``dropout``, ``l1_ratio``, ``class_weight``,
    ``solver='rmsprop'``): the converted estimator predicts what the
    bpfast one predicts, but trains on without them.

    See Also
    --------
    bpfast.MLPClassifier.to_sklearn : The conversion that warns.
    bpfast.from_sklearn : The conversion the other way, which never warns.

    Examples
    --------
    >>> import warnings
    >>> from bpfast import ConversionWarning, MLPClassifier
    >>> clf = MLPClassifier(dropout=0.5)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     sk = clf.to_sklearn()
    >>> [w.category.__name__ for w in caught]
    ['ConversionWarning']
    >>> issubclass(ConversionWarning, UserWarning)
    True
    """


# fitted attributes both libraries keep under the same name and meaning
_FITTED = ("n_features_in_", "feature_names_in_", "n_layers_", "n_outputs_",
           "out_activation_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
           "best_validation_score_", "n_iter_", "t_", "_no_improvement_count")

_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")

# bpfast-only parameters that change training, not prediction: (name, default)
_TRAINING_ONLY = (("dropout", 0.0), ("l1_ratio", 0.0), ("class_weight", None))


def _is_fitted(model):
    return "coefs_" in vars(model)


def _pair(model):
    """(bpfast class, scikit-learn class) of the model's kind."""
    sk_classifier, sk_regressor = sklearn_classes()
    if isinstance(model, (MLPClassifier, sk_classifier)):
        return MLPClassifier, sk_classifier
    if isinstance(model, (MLPRegressor, sk_regressor)):
        return MLPRegressor, sk_regressor
    return None, None


def _copy_fitted(source, target):
    for name in _FITTED:
        if name in vars(source):
            setattr(target, name, copy.deepcopy(getattr(source, name)))
    if "_label_binarizer" in vars(source):
        target._label_binarizer = copy.deepcopy(source._label_binarizer)
        target.classes_ = target._label_binarizer.classes_
    elif "classes_" in vars(source):
        target.classes_ = copy.deepcopy(source.classes_)


# -- bpfast -> scikit-learn ------------------------------------------------------------
def to_sklearn(estimator):
    """A scikit-learn MLPClassifier / MLPRegressor equal to a bpfast one.

    Parameters
    ----------
    estimator : bpfast.MLPClassifier or bpfast.MLPRegressor, fitted or not

    Returns
    -------
    sklearn.neural_network.MLPClassifier or MLPRegressor
        With the hyper-parameters scikit-learn has and, if the estimator is
        fitted, its weights (in its dtype), fitted attributes and optimizer
        state: its predictions are the estimator's, and ``fit`` with
        ``warm_start=True`` or ``partial_fit`` continues where bpfast's would.

    Raises
    ------
    ValueError
        For ``activation="leaky_relu"`` or ``"elu"``, which scikit-learn
        cannot compute.

    Warns
    -----
    ConversionWarning
        When a bpfast-only training setting is dropped (``dropout``,
        ``l1_ratio``, ``class_weight``, ``solver="rmsprop"``, which becomes
        ``"adam"``): predictions are unaffected, further training differs.
    """
    bp_cls, sk_cls = _pair(estimator)
    if bp_cls is None or not isinstance(estimator, bp_cls):
        raise TypeError("to_sklearn converts a bpfast MLPClassifier or MLPRegressor, got "
                        f"{type(estimator).__name__}.")
    if estimator.activation not in _ACTIVATIONS:
        raise ValueError(
            f"activation={estimator.activation!r} has no scikit-learn counterpart "
            f"(scikit-learn's MLPs compute {', '.join(_ACTIVATIONS)}), so the model "
            "cannot be converted.")
    params = estimator.get_params(deep=False)
    dropped = [f"{name}={params[name]!r}" for name, default in _TRAINING_ONLY
               if name in params and params[name] is not default
               and params[name] != default]
    if params["solver"] == "rmsprop":
        params["solver"] = "adam"
        dropped.append("solver='rmsprop' (now 'adam'"
                       + (", its optimizer state dropped)" if _is_fitted(estimator)
                          else ")"))
    model = sk_cls(**{name: copy.deepcopy(params[name])
                      for name in sk_cls._get_param_names()})
    if dropped:
        warnings.warn(
            "scikit-learn has no counterpart for " + ", ".join(dropped) + "; the "
            "converted estimator predicts the same, but further training there "
            "goes without them.", ConversionWarning, stacklevel=3)
    if not _is_fitted(estimator):
        return model

    net = estimator._get_network()
    model.coefs_ = [c.copy() for c in net.coef_views()]
    model.intercepts_ = [b.copy() for b in net.intercept_views()]
    _copy_fitted(estimator, model)
    best = getattr(estimator, "_best_params", None)
    if best is not None and best.shape == net.params.shape:
        model._best_coefs = [c.copy() for c in net.coef_views(best)]
        model._best_intercepts = [b.copy() for b in net.intercept_views(best)]
    else:
        model._best_coefs = [c.copy() for c in model.coefs_]
        model._best_intercepts = [b.copy() for b in model.intercepts_]
    optimizer = _sklearn_optimizer(getattr(estimator, "_optimizer", None), net, model)
    if optimizer is not None:
        model._optimizer = optimizer
    return model


def _sklearn_optimizer(optimizer, net, model):
    """scikit-learn's SGDOptimizer / AdamOptimizer holding the state of
    bpfast's (whose flat state vectors are laid out as the parameters are:
    weights, then intercepts, layer by layer, the order of scikit-learn's
    per-array lists); None for rmsprop or no optimizer."""
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

    if optimizer is None or optimizer.state1.shape[0] != net.n_params:
        return None

    def arrays(flat):
        return [a.copy() for a in net.coef_views(flat) + net.intercept_views(flat)]

    params = model.coefs_ + model.intercepts_
    if optimizer.solver == "sgd":
        result = SGDOptimizer(params, optimizer.learning_rate_init, optimizer.lr_schedule,
                              optimizer.momentum, optimizer.nesterov, optimizer.power_t)
        result.velocities = arrays(optimizer.state1)
        result.learning_rate = optimizer.learning_rate
        return result
    if optimizer.solver == "adam":
        result = AdamOptimizer(params, optimizer.learning_rate_init, optimizer.beta_1,
                               optimizer.beta_2, optimizer.epsilon)
        result.t = t = int(optimizer.step[0])
        result.ms = arrays(optimizer.state1)
        result.vs = arrays(optimizer.state2)
        if t > 0:   # the step size of adam's last step, as scikit-learn keeps it
            result.learning_rate = (optimizer.learning_rate_init
                                    * np.sqrt(1 - optimizer.beta_2 ** t)
                                    / (1 - optimizer.beta_1 ** t))
        return result
    return None


# -- scikit-learn -> bpfast ------------------------------------------------------------
def from_sklearn(model):
    """Convert a scikit-learn MLPClassifier / MLPRegressor to bpfast's.

    The inverse of :meth:`bpfast.MLPClassifier.to_sklearn`: the converted
    estimator predicts what the model predicts and trains on from where
    it stopped.

    Parameters
    ----------
    model : sklearn.neural_network.MLPClassifier or MLPRegressor
        The estimator to convert, fitted or not (a bpfast estimator is
        returned as a deep copy).

    Returns
    -------
    bpfast.MLPClassifier or bpfast.MLPRegressor
        With the model's hyper-parameters (bpfast's own at their defaults)
        and, if it is fitted, its weights (in their dtype), fitted attributes
        and optimizer state: it predicts what the model predicts, and
        ``fit`` with ``warm_start=True`` or ``partial_fit`` continues where
        scikit-learn's would.

    Raises
    ------
    TypeError
        If `model` is not an MLP estimator of either library.

    See Also
    --------
    bpfast.MLPClassifier.to_sklearn : The conversion the other way.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    >>> from bpfast import from_sklearn
    >>> X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
    >>> y = np.array([0, 1, 1, 0])
    >>> sk = SkMLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
    ...                      random_state=0).fit(X, y)
    >>> clf = from_sklearn(sk)
    >>> type(clf).__module__, clf.n_iter_ == sk.n_iter_
    ('bpfast._mlp', True)
    >>> bool(np.allclose(clf.predict_proba(X), sk.predict_proba(X)))
    True
    """
    bp_cls, sk_cls = _pair(model)
    if bp_cls is None:
        raise TypeError("from_sklearn converts a scikit-learn MLPClassifier or "
                        f"MLPRegressor, got {type(model).__name__}.")
    if isinstance(model, bp_cls):
        return copy.deepcopy(model)
    params = model.get_params(deep=False)
    names = bp_cls._get_param_names()
    estimator = bp_cls(**{name: copy.deepcopy(value) for name, value in params.items()
                          if name in names})
    if not _is_fitted(model):
        return estimator

    _copy_fitted(model, estimator)
    estimator.coefs_ = [np.array(c) for c in model.coefs_]
    estimator.intercepts_ = [np.array(b) for b in model.intercepts_]
    # out_activation_ is set, so the flat vector can be built: coefs_ and
    # intercepts_ become its views
    net = estimator._get_network()
    estimator._dropout_seed = 0
    estimator._best_params = _flat(net, getattr(model, "_best_coefs", None),
                                   getattr(model, "_best_intercepts", None))
    optimizer = _bpfast_optimizer(getattr(model, "_optimizer", None), net, estimator)
    if optimizer is not None:
        estimator._optimizer = optimizer
    return estimator


def _flat(net, coefs, intercepts, out=None):
    """coefs + intercepts as one vector in the network's layout (None where
    they do not fit it)."""
    if coefs is None or intercepts is None:
        return None
    arrays = list(coefs) + list(intercepts)
    flat = np.zeros(net.n_params, dtype=net.dtype) if out is None else out
    views = net.coef_views(flat) + net.intercept_views(flat)
    if len(arrays) != len(views) or any(np.shape(a) != v.shape
                                        for a, v in zip(arrays, views)):
        return None
    for view, arr in zip(views, arrays):
        view[...] = arr
    return flat


def _bpfast_optimizer(optimizer, net, estimator):
    """bpfast's StochasticOptimizer holding the state of scikit-learn's
    SGDOptimizer / AdamOptimizer (None for any other object)."""
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

    from ._solvers import StochasticOptimizer

    if isinstance(optimizer, SGDOptimizer):
        result = StochasticOptimizer(
            "sgd", net.n_params, net.dtype, optimizer.learning_rate_init,
            lr_schedule=optimizer.lr_schedule, momentum=optimizer.momentum,
            nesterov=optimizer.nesterov, power_t=optimizer.power_t)
        if _flat(net, optimizer.velocities[:net.n_layers],
                 optimizer.velocities[net.n_layers:], out=result.state1) is None:
            return None
        result.learning_rate = float(optimizer.learning_rate)
        return result
    if isinstance(optimizer, AdamOptimizer):
        result = StochasticOptimizer(
            "adam", net.n_params, net.dtype, optimizer.learning_rate_init,
            beta_1=optimizer.beta_1, beta_2=optimizer.beta_2, epsilon=optimizer.epsilon)
        L = net.n_layers
        if (_flat(net, optimizer.ms[:L], optimizer.ms[L:], out=result.state1) is None
                or _flat(net, optimizer.vs[:L], optimizer.vs[L:], out=result.state2)
                is None):
            return None
        result.step[:] = int(optimizer.t)
        return result
    return None
