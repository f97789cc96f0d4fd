"""MLPClassifier and MLPRegressor: scikit-learn's estimators over bpfast's kernels.

This layer validates and encodes the data once, owns the epoch loop's
bookkeeping (loss_curve_, early stopping, verbose output, learning-rate
schedules) and makes one kernel call per epoch. Behaviour follows the
installed scikit-learn's ``sklearn.neural_network`` MLPs, and so do the
warnings (_warnings). From 1.7 to 1.9 those differ in one place: 1.7 and
1.8 raise TypeError when early stopping scores string labels (they ask
np.isnan of them); bpfast scores them, as 1.9 does, under every version.
"""

import warnings
from collections import namedtuple
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (_check_feature_names, _check_sample_weight,
                                      check_array, check_is_fitted, validate_data)

from . import _docstrings, _kernels, _warnings
from ._network import Network, as_kernel_csr, kernel_data, zeroed_arrays
from ._progress import make_progress
from ._solvers import (STOCHASTIC_SOLVERS, StochasticOptimizer, draw_uniform, fit_lbfgs,
                       shuffle_order)
from ._threads import claim_threads, kernel_threads, single_threaded_blas


# A validation set in the kernels' layout: X, labels for scoring, encoded
# targets for the loss, sample weights (or None).
_Validation = namedtuple("_Validation", "X y Y sample_weight")


def _all_finite(values):
    """Whether every element of the 1-d C-contiguous array is finite, on the
    threads a claim grants (see bpfast/_threads.py) where it is long
    enough to share."""
    if values.shape[0] < _kernels.PARALLEL_MIN:
        return _kernels.all_finite(values, 1)
    with claim_threads(kernel_threads()) as n_threads:
        return _kernels.all_finite(values, n_threads)


def _kernel_X(X, dtype):
    """X in the kernels' layout: C-ordered dense or canonical CSR, of dtype."""
    if sp.issparse(X):
        return as_kernel_csr(X, dtype)
    return np.ascontiguousarray(X, dtype=dtype)


def _predict_dtype(X, net):
    """The dtype a prediction (and an explanation: bpfast.explain) computes
    in for rows X under network net: the network's, or with X of another
    dtype the two's common float type (float64 for integers)."""
    if X.dtype == net.dtype:
        return net.dtype
    dtype = np.result_type(X.dtype, net.dtype)
    return dtype if dtype in (np.float32, np.float64) else np.float64


class _BaseMLP(BaseEstimator):
    """Shared machinery of the two estimators."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu", "leaky_relu",
                                   "elu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam", "rmsprop"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        # beyond scikit-learn
        "rho": [Interval(Real, 0, 1, closed="left")],
        "rmsprop_momentum": [Interval(Real, 0, 1, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "negative_slope": [Interval(Real, 0, None, closed="left")],
        "elu_alpha": [Interval(Real, 0, None, closed="neither")],
    }

    # -- the network ---------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if np.any(np.array(sizes) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % sizes)
        return sizes

    def _output_activation(self):
        raise NotImplementedError

    def _activation_slope(self):
        if self.activation == "leaky_relu":
            return self.negative_slope
        if self.activation == "elu":
            return self.elu_alpha
        return 0.0

    def _new_network(self, layer_units, dtype, coefs=None, intercepts=None):
        """A network of these units, holding coefs / intercepts if given,
        made the estimator's: coefs_ and intercepts_ become its views. It is
        published only once loaded: a thread predicting with this estimator
        meanwhile (several threads sharing a freshly unpickled model) sees
        the old arrays or the whole network, never one still empty."""
        net = Network(layer_units, self.activation, self.out_activation_, dtype,
                      slope=self._activation_slope())
        if coefs is not None:
            net.load(coefs, intercepts)
        self.coefs_ = net.coef_views()
        self.intercepts_ = net.intercept_views()
        self._network = net
        return net

    def _get_network(self):
        """The network behind coefs_ / intercepts_. If those were replaced or
        unpickled (so they are no longer views of our flat vector), a fresh
        flat vector is built from them and they become its views again."""
        net = getattr(self, "_network", None)
        if net is not None and net.is_view(self.coefs_, self.intercepts_):
            return net
        coefs, intercepts = self.coefs_, self.intercepts_
        dtype = np.result_type(*coefs, *intercepts)
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        units = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
        return self._new_network(units, dtype, coefs, intercepts)

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        net = self._new_network(layer_units, dtype)
        # Glorot-uniform initialisation, drawn layer by layer (weights, then
        # intercepts) from the estimator's random stream, in float64.
        factor = 2.0 if self.activation == "logistic" else 6.0
        for coef, intercept in zip(self.coefs_, self.intercepts_):
            fan_in, fan_out = coef.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            draw_uniform(self._random_state, -bound, bound, coef)
            draw_uniform(self._random_state, -bound, bound, intercept)
        # the weights early stopping falls back on if no epoch improves the
        # validation score; only a fit with early stopping (or a later one
        # under warm_start) can restore them, so other fits skip the copy
        self._best_params = (net.params.copy() if self.early_stopping or self.warm_start
                             else None)
        # Dropout masks come from a counter-based generator keyed by this seed
        # (drawn only when dropout is on, so the draws above and the shuffles
        # below stay scikit-learn's).
        self._dropout_seed = (int(self._random_state.randint(np.iinfo(np.int32).max))
                              if self.dropout > 0 else 0)
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    # -- fitting -----------------------------------------------------------------
    def _prepare(self, X, y, sample_weight, incremental):
        """Validate and encode the data, initialise or reuse the network.
        Returns (net, X, Y, y_enc, sample_weight) in the kernels' layout."""
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        sample_weight = self._apply_class_weight(y, sample_weight)
        layer_units = [X.shape[1]] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)

        if first_pass:
            self._initialize(y, layer_units, X.dtype)
            net = self._network
        else:
            net = self._get_network()
            if list(net.units) != layer_units:
                raise ValueError(
                    "The network of the previous fit has layer sizes %s; this fit asks "
                    "for %s. Set warm_start=False or keep hidden_layer_sizes."
                    % (list(net.units), layer_units))
        dtype = net.dtype
        X = _kernel_X(X, dtype)
        Y = np.ascontiguousarray(y, dtype=dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)
        return net, X, Y, y, sample_weight

    @staticmethod
    def _finite_input(X):
        """Whether X (validated: float32 / float64, dense or sparse) is finite,
        checked by a threaded kernel; True under scikit-learn's assume_finite."""
        if get_config()["assume_finite"]:
            return True
        values = X.data if sp.issparse(X) else X.ravel(order="K")
        return _all_finite(np.ascontiguousarray(values))

    def _validate_fit_data(self, X, y, **kwargs):
        """validate_data for fit, with X's finiteness checked by _finite_input
        (scikit-learn's own check runs, and raises its error, only on failure)."""
        X_valid, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                                   multi_output=True, dtype=(np.float64, np.float32),
                                   ensure_all_finite=False, **kwargs)
        if not self._finite_input(X_valid):
            check_array(X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
                        estimator=self, input_name="X")
        return X_valid, y

    def _fit(self, X, y, sample_weight=None, incremental=False, eval_set=None,
             monitor=None):
        with single_threaded_blas():
            return self._fit_pinned(X, y, sample_weight, incremental, eval_set, monitor)

    def _fit_pinned(self, X, y, sample_weight, incremental, eval_set, monitor):
        # SciPy's BLAS runs single-threaded in here (see bpfast/_threads.py)
        if self.dropout > 0 and self.solver not in STOCHASTIC_SOLVERS:
            raise ValueError("dropout is only available with the stochastic solvers "
                             f"{STOCHASTIC_SOLVERS}, got solver={self.solver!r}.")
        if monitor is not None and not callable(monitor):
            raise TypeError(f"monitor must be callable, got {type(monitor).__name__}.")
        net, X, Y, y, sample_weight = self._prepare(X, y, sample_weight, incremental)
        dtype = net.dtype
        validation = None if eval_set is None else self._validation_from_eval_set(
            eval_set, dtype)
        n_threads = kernel_threads()

        if self.solver in STOCHASTIC_SOLVERS:
            self._fit_stochastic(net, X, Y, y, sample_weight, incremental, n_threads,
                                 validation, monitor)
        else:
            if validation is not None or monitor is not None:
                raise ValueError("eval_set and monitor need a stochastic solver "
                                 f"{STOCHASTIC_SOLVERS}, got solver={self.solver!r}.")
            self.n_iter_, self.loss_ = fit_lbfgs(
                net, X, Y, sample_weight, self.alpha, self.max_iter, self.max_fun,
                self.tol, n_threads, l1_ratio=self.l1_ratio)

        self._check_finite(net, X)
        return self

    def _check_finite(self, net, X):
        """scikit-learn's error for non-finite weights; bpfast also raises it
        when finite weights are so large that the network's outputs overflow
        on training rows (the first 64, read in place: no copy), so a fitted
        model does not predict NaN there silently. (64 rows: on 784-256-128-10
        the check took 1.5 ms of a fit with 256.)"""
        if _all_finite(net.params):
            if np.isfinite(net.forward(_kernel_X(X[:64], net.dtype), 1)[0]).all():
                return
            detail = " (its outputs overflow on the training data)"
        else:
            detail = ""
        raise ValueError(
            "Solver produced non-finite parameter weights%s. The input data may"
            " contain large values and need to be preprocessed." % detail)

    def _apply_class_weight(self, y_enc, sample_weight):
        return sample_weight

    def _make_optimizer(self, net):
        momentum = self.rmsprop_momentum if self.solver == "rmsprop" else self.momentum
        return StochasticOptimizer(
            self.solver, net.n_params, net.dtype, self.learning_rate_init,
            lr_schedule=self.learning_rate, momentum=momentum,
            nesterov=self.nesterovs_momentum, power_t=self.power_t,
            beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, rho=self.rho)

    def _split_validation(self, X, Y, y_enc, sample_weight):
        """scikit-learn's early-stopping split (same random draws), returned as
        (X_train, Y_train, sw_train, validation)."""
        n = X.shape[0]
        stratify = y_enc if (self._is_classifier() and self.n_outputs_ == 1) else None
        train_idx, val_idx = train_test_split(
            np.arange(n), random_state=self._random_state,
            test_size=self.validation_fraction, stratify=stratify)
        if val_idx.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset.")
        X_train, X_val = X[train_idx], X[val_idx]
        if sp.issparse(X):
            X_train, X_val = as_kernel_csr(X_train, X.dtype), as_kernel_csr(X_val, X.dtype)
        Y_train = np.ascontiguousarray(Y[train_idx])
        y_val = y_enc[val_idx]
        if self._is_classifier():
            y_val = self._label_binarizer.inverse_transform(y_val)
        sw_train = sw_val = None
        if sample_weight is not None:
            sw_train = np.ascontiguousarray(sample_weight[train_idx])
            sw_val = np.ascontiguousarray(sample_weight[val_idx])
        validation = _Validation(X_val, y_val, np.ascontiguousarray(Y[val_idx]), sw_val)
        return X_train, Y_train, sw_train, validation

    def _validation_from_eval_set(self, eval_set, dtype):
        """An explicit validation set (X_val, y_val[, sample_weight_val]),
        validated against the fitted input, in the kernels' layout."""
        if not isinstance(eval_set, (tuple, list)) or len(eval_set) not in (2, 3):
            raise ValueError("eval_set must be a tuple (X_val, y_val) or "
                             "(X_val, y_val, sample_weight_val).")
        X_val, y_val = eval_set[0], eval_set[1]
        X_val = validate_data(self, X_val, accept_sparse=["csr", "csc"], reset=False,
                              dtype=(np.float64, np.float32))
        y_val = np.asarray(y_val)
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError("eval_set: X_val and y_val have different numbers of rows "
                             f"({X_val.shape[0]} and {y_val.shape[0]}).")
        if X_val.shape[0] < 1:
            raise ValueError("eval_set is empty.")
        Y_val = self._encode_targets(y_val).reshape(X_val.shape[0], -1)
        sw_val = None
        if len(eval_set) == 3 and eval_set[2] is not None:
            sw_val = np.ascontiguousarray(_check_sample_weight(eval_set[2], X_val),
                                          dtype=dtype)
        return _Validation(_kernel_X(X_val, dtype), y_val,
                           np.ascontiguousarray(Y_val, dtype=dtype), sw_val)

    def _fit_stochastic(self, net, X, Y, y_enc, sample_weight, incremental, n_threads,
                        validation=None, monitor=None):
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer(net)
        optimizer = self._optimizer

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping and validation is None:
            X, Y, sample_weight, validation = self._split_validation(
                X, Y, y_enc, sample_weight)
        if validation is not None:
            if self.validation_scores_ is None:
                self.validation_scores_ = []
            if not hasattr(self, "validation_loss_curve_"):
                self.validation_loss_curve_ = []

        n_samples = X.shape[0]
        sample_idx = np.arange(n_samples, dtype=np.intp)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                _warnings.batch_size_clipped()
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        gather = not sp.issparse(X) and self.shuffle
        layout = net.layout(batch_size, X.shape[1] if gather else 0)
        # a second parameter vector, where the update is shared among threads:
        # each minibatch then updates into the other vector, so that no core
        # writes weights another one has just read (see _kernels.FitContext)
        shared = _kernels._shared_update(layout.meta, batch_size, n_threads,
                                         sp.issparse(X), self.dropout > 0)
        # an epoch of too little work to share runs alone: it claims one
        # thread (and reads no load)
        epoch_wanted = _kernels.epoch_threads(layout.meta, batch_size, n_threads,
                                              sp.issparse(X), self.dropout > 0)
        work, grads, shadow = zeroed_arrays(
            net.dtype, [layout.work_len, net.n_params, net.n_params if shared else 0])
        # the kernels' view of the fit and of its rows, checked once for
        # every epoch
        context = optimizer.fit_context(net, layout, work, grads, shadow, batch_size,
                                        self.alpha, l1_ratio=self.l1_ratio,
                                        dropout=self.dropout, seed=self._dropout_seed)
        data = kernel_data(X, Y, sample_weight)
        validation_loss = None if validation is None else (
            net.loss_context(validation.Y.shape[0]),
            kernel_data(validation.X, validation.Y, validation.sample_weight))
        progress = make_progress(self.verbose, 1 if incremental else self.max_iter)

        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    shuffle_order(self._random_state, sample_idx)
                # the epoch's threads, shared with calls running at the same
                # time (see bpfast/_threads.py)
                with claim_threads(epoch_wanted) as epoch_threads:
                    total = optimizer.run_epoch(context, data, sample_idx, gather,
                                                epoch_threads)
                self.n_iter_ += 1
                self.loss_ = total / n_samples
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if progress is not None:
                    progress.epoch(self.n_iter_, self.loss_)

                self._update_no_improvement_count(early_stopping, validation,
                                                  validation_loss, n_threads, progress)
                optimizer.iteration_ends(self.t_)

                if monitor is not None and monitor(
                        len(self.loss_curve_), self, self._epoch_info(validation)):
                    if progress is not None:
                        progress.write("Stopped by the monitor.")
                    break

                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = ("Validation score did not improve more than "
                               "tol=%f for %d consecutive epochs."
                               % (self.tol, self.n_iter_no_change))
                    else:
                        msg = ("Training loss did not improve more than tol=%f"
                               " for %d consecutive epochs."
                               % (self.tol, self.n_iter_no_change))
                    stop, msg = optimizer.trigger_stopping(msg)
                    if progress is not None:
                        progress.write(msg)
                    if stop:
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    _warnings.max_iter_reached(self.max_iter)
        except KeyboardInterrupt:
            _warnings.interrupted()
        finally:
            if progress is not None:
                progress.close()

        if early_stopping and self._best_params is not None:
            net.params[...] = self._best_params

    def _epoch_info(self, validation):
        info = {"loss": self.loss_}
        if validation is not None:
            info["validation_score"] = self.validation_scores_[-1]
            info["validation_loss"] = self.validation_loss_curve_[-1]
        return info

    def _update_no_improvement_count(self, early_stopping, validation, validation_loss,
                                     n_threads, progress):
        """validation_loss: (LossContext, Data) of the validation set's
        unpenalised loss (see Network.loss_gradient), or None."""
        if validation is not None:
            score = self._score(validation.X, validation.y,
                                sample_weight=validation.sample_weight)
            self.validation_scores_.append(score)
            # (the score's prediction claims its own threads)
            with claim_threads(n_threads) as loss_threads:
                self.validation_loss_curve_.append(self._network.loss_gradient(
                    *validation_loss, self._network.params, None, loss_threads))
            if progress is not None:
                progress.validation(score)
        if early_stopping:
            score = self.validation_scores_[-1]
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._network.params.copy()
        else:
            last = self.loss_curve_[-1]
            if last > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last < self.best_loss_:
                self.best_loss_ = last

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, eval_set=None, monitor=None):
        """Fit the model to data matrix X and target(s) y.

        Trains from new random weights (or, with ``warm_start=True``, from
        the previous fit's) until the solver's stopping rule or
        ``max_iter``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data; float32 data trains in float32, anything else
            in float64.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets: class labels (or a label indicator matrix, for
            multilabel classification) for a classifier, real numbers for
            a regressor.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the loss (and in the validation score
            of early stopping); None weighs every row 1.
        eval_set : tuple of (X_val, y_val) or (X_val, y_val, sample_weight_val), \
default=None
            Beyond scikit-learn. A validation set of one's own (stochastic solvers
            only). With ``early_stopping=True`` it replaces the split of
            ``validation_fraction`` of the training rows; with or without
            early stopping, ``validation_scores_`` and
            ``validation_loss_curve_`` (the loss on it, without the
            penalty) are recorded after every epoch. Its classes must be
            among those of ``y``.
        monitor : callable, default=None
            Beyond scikit-learn. Called after every epoch (stochastic solvers
            only) as ``monitor(epoch, estimator, info)``: ``epoch`` counts
            the epochs recorded in ``loss_curve_``, ``info`` is a dict
            with the epoch's ``'loss'`` and, when there is a validation
            set, its ``'validation_score'`` and ``'validation_loss'``.
            Training stops when it returns True.

        Returns
        -------
        object
            The fitted estimator.

        See Also
        --------
        partial_fit : One epoch more on the given data.

        Examples
        --------
        >>> from bpfast import MLPClassifier
        >>> X = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]]
        >>> y = [0, 1, 1, 0]
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> clf.predict(X)
        array([0, 1, 1, 0])

        A monitor that stops training once the loss falls below 0.6:

        >>> def monitor(epoch, estimator, info):
        ...     return info["loss"] < 0.6
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05,
        ...                     random_state=0).fit(X, y, eval_set=(X, y),
        ...                                         monitor=monitor)
        >>> clf.n_iter_, len(clf.validation_loss_curve_)
        (9, 9)
        >>> bool(clf.loss_ < 0.6)
        True
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                         eval_set=eval_set, monitor=monitor)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver)
        return True

    # -- prediction ----------------------------------------------------------------
    def _check_fitted(self):
        """check_is_fitted(self), called only where it could fail: it passes
        wherever an attribute ends in '_', as coefs_ (set by every fit) does.
        (It takes ~13 us, ~5x a one-row forward pass.)"""
        if "coefs_" not in self.__dict__:
            check_is_fitted(self)

    def _validate_X(self, X):
        """validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
        ensure_all_finite=False) for prediction, its checks made directly
        for the common input, a 2-d numpy array of numbers with the fitted
        feature count and at least one row: that array is what validate_data
        returns (check_array neither converts nor copies it), and its only
        other effect on it is the warning that X has no feature names where
        the fit's X had some, raised here by scikit-learn's own check. Every
        other input (lists, DataFrames, sparse matrices, object, string or
        complex arrays, another dimensionality, feature count or no rows)
        goes through validate_data, for its conversions and its errors.
        ~110 us a call saved; finiteness is checked by the kernels."""
        if (type(X) is np.ndarray and X.ndim == 2 and X.dtype.kind in "fiub"
                and X.shape[0] > 0
                and X.shape[1] == getattr(self, "n_features_in_", None)):
            if getattr(self, "feature_names_in_", None) is not None:
                _check_feature_names(self, X, reset=False)
            return X
        return validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                             ensure_all_finite=False)

    def _forward_pass_fast(self, X, check_input=True):
        X_in = X
        if check_input:
            # X's finiteness is checked by the kernels, on the first layer's
            # product (see _kernels.predict), not in a pass of its own
            X = self._validate_X(X)
        net = self._get_network()
        dtype = _predict_dtype(X, net)
        params = net.params if dtype == net.dtype else net.params.astype(dtype)
        X = _kernel_X(X, dtype)
        check_x = check_input and not get_config()["assume_finite"]
        with single_threaded_blas():
            if net.row_units(X.shape[0]) > 1:
                with claim_threads(kernel_threads()) as n_threads:
                    out, finite = net.forward(X, n_threads, params, check_input=check_x)
            else:   # one unit of rows (up to 63): one thread, nothing to claim
                out, finite = net.forward(X, 1, params, check_input=check_x)
        if not finite and not self._finite_input(X):
            # a NaN or infinity in X: scikit-learn's own check raises its
            # exact error (when X is finite, its rows merely overflowed);
            # check_array, as validate_data calls it, so that the feature
            # names are not checked (and warned about) a second time
            check_array(X_in, accept_sparse=["csr", "csc"], estimator=self,
                        input_name="X")
        if check_input and not _all_finite(out.reshape(-1)):
            warnings.warn("The network's outputs are not finite for some rows (the "
                          "input may hold values far outside the training data's "
                          "range).", RuntimeWarning, stacklevel=3)
        return out

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def _is_classifier(self):
        return isinstance(self, ClassifierMixin)

    def to_sklearn(self):
        """Convert this estimator to scikit-learn's MLPClassifier / MLPRegressor.

        The scikit-learn estimator gets the hyper-parameters it has, and,
        if this one is fitted, its weights (in their dtype), its fitted
        attributes and its optimizer's state: it predicts what this one
        predicts, and ``fit`` with ``warm_start=True`` or ``partial_fit``
        continues as this one would.

        Returns
        -------
        sklearn.neural_network.MLPClassifier or MLPRegressor
            The scikit-learn estimator.

        Raises
        ------
        ValueError
            For ``activation='leaky_relu'`` or ``'elu'``, which
            scikit-learn cannot compute.

        Warns
        -----
        ConversionWarning
            Where training-only settings without a scikit-learn
            counterpart (``dropout``, ``l1_ratio``, ``class_weight``,
            ``solver='rmsprop'``) are dropped: the converted model
            predicts the same, but trains on without them (an rmsprop fit
            goes on as adam).

        See Also
        --------
        bpfast.from_sklearn : The conversion the other way.

        Examples
        --------
        >>> import numpy as np
        >>> from bpfast import MLPClassifier
        >>> X = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]]
        >>> y = [0, 1, 1, 0]
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> sk = clf.to_sklearn()
        >>> type(sk).__module__
        'sklearn.neural_network._multilayer_perceptron'
        >>> bool(np.allclose(sk.predict_proba(X), clf.predict_proba(X)))
        True
        """
        from ._convert import to_sklearn
        return to_sklearn(self)

    def __getstate__(self):
        # A copy: from Python 3.11, object.__getstate__ (which scikit-learn's
        # calls) returns the instance's own __dict__, and popping from it
        # took the network from the estimator itself -- in the middle of a
        # fit, when a monitor deep-copied or pickled it. The flat vector is
        # rebuilt from coefs_ / intercepts_ on load.
        state = dict(super().__getstate__())
        state.pop("_network", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _fitted_binarizer(y):
    """LabelBinarizer().fit(y). For 1-d integer or bool labels, what fit
    would find is set directly: the sorted distinct labels as classes_ and
    y_type_ 'binary' (at most two of them) or 'multiclass', which is what
    type_of_target says of such labels (0.07 against 0.38 ms for 5,000
    labels of 10 classes). Any other y goes through fit itself."""
    binarizer = LabelBinarizer()
    if isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "biu" and y.size:
        binarizer.classes_ = np.unique(y)
        binarizer.y_type_ = "binary" if binarizer.classes_.size <= 2 else "multiclass"
        binarizer.sparse_input_ = False
        return binarizer
    return binarizer.fit(y)


def _binarize(binarizer, y):
    """binarizer.transform(y) as a bool array. For 1-d numeric or string
    labels of a binary or multiclass fit, made directly (one searchsorted and
    one scatter: 0.1 ms for 5,000 labels of 10 classes, against 1.0-1.7 ms
    through LabelBinarizer.transform); LabelBinarizer's own transform for
    everything else, and for labels that are not all among its classes."""
    classes = binarizer.classes_
    if (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "biufUS"
            and binarizer.y_type_ in ("binary", "multiclass")
            and not binarizer.sparse_input_ and classes.size >= 2
            and classes.dtype.kind == y.dtype.kind):
        index = np.minimum(np.searchsorted(classes, y), classes.size - 1)
        if np.array_equal(classes[index], y):
            if classes.size == 2:
                return (index == 1).reshape(-1, 1)
            Y = np.zeros((y.shape[0], classes.size), dtype=bool)
            Y[np.arange(y.shape[0]), index] = True
            return Y
    return binarizer.transform(y).astype(bool)


# the integer dtype LabelBinarizer.inverse_transform gives multilabel outputs
# in (scikit-learn's indexing_dtype for numpy)
_INDEX_DTYPE = np.asarray(0).dtype


def _decode(binarizer, Y):
    """binarizer.inverse_transform(Y) for the network's outputs Y (a dense
    float array: one column raveled for a single output), the same labels
    of the same dtype and shape, made directly (~45 us less a call, mostly
    array-API dispatch) for a dense binary, multiclass or multilabel fit:
    the classes at each row's argmax (multiclass), or the outputs above
    the binarizer's threshold, halfway between its labels (0.5): the class
    they index (binary), or as integers (multilabel). inverse_transform
    itself for any other fit."""
    classes = binarizer.classes_
    if not binarizer.sparse_input_ and isinstance(classes, np.ndarray):
        y_type = binarizer.y_type_
        n_classes = classes.shape[0]
        if y_type == "multiclass" and Y.ndim == 2 and Y.shape[1] == n_classes:
            return classes[Y.argmax(axis=1)]
        threshold = (binarizer.pos_label + binarizer.neg_label) / 2.0
        if y_type == "binary" and Y.ndim == 1 and n_classes >= 2:
            return classes[(Y > threshold).astype(_INDEX_DTYPE)]
        if y_type == "multilabel-indicator" and Y.ndim == 2 and Y.shape[1] == n_classes:
            return (Y > threshold).astype(_INDEX_DTYPE)
    return binarizer.inverse_transform(Y)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = _docstrings.estimator_doc(
        "classifier",
        summary="Multi-layer perceptron classifier, a drop-in for scikit-learn's.",
        extended="""
The parameters, defaults, fitted attributes and behaviour of
:class:`sklearn.neural_network.MLPClassifier`, trained by bpfast's
compiled kernels: one call per epoch, BLAS products, OpenMP threads, no
GIL. The parameters beyond scikit-learn's (marked "Beyond
scikit-learn") default to scikit-learn's behaviour. Binary, multiclass and multilabel
classification; dense or sparse input.
""",
        see_also="""
sklearn.neural_network.MLPClassifier : The scikit-learn estimator this
    one replaces.
bpfast.MLPRegressor : The multi-layer perceptron for regression.
bpfast.dask.MLPClassifier : This estimator, trained on a Dask cluster.
bpfast.LossCurveDisplay : Plots ``loss_curve_`` and the validation curves.
bpfast.check_gradients : Checks the backpropagated gradient of a configuration.
""",
        notes=_docstrings.PARITY_NOTES,
        examples="""
>>> from sklearn.datasets import make_classification
>>> from sklearn.model_selection import train_test_split
>>> from bpfast import MLPClassifier
>>> X, y = make_classification(n_samples=200, n_features=4, n_redundant=0,
...                            random_state=0)
>>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
>>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01,
...                     max_iter=1000, random_state=0).fit(X_train, y_train)
>>> clf.n_iter_
875
>>> clf.predict_proba(X_test[:2]).round(2)
array([[0.46, 0.54],
       [1.  , 0.  ]])
>>> clf.predict(X_test[:5])
array([1, 0, 0, 0, 1])
>>> round(clf.score(X_test, y_test), 2)
0.92

The parameters beyond scikit-learn's: RMSProp, dropout, an elastic-net
penalty, class weights, and a validation set of one's own, whose loss is
recorded every epoch:

>>> clf = MLPClassifier(hidden_layer_sizes=(16,), solver="rmsprop", dropout=0.2,
...                     l1_ratio=0.5, class_weight="balanced",
...                     learning_rate_init=0.01, max_iter=300, random_state=0)
>>> clf = clf.fit(X_train, y_train, eval_set=(X_test, y_test))
>>> len(clf.loss_curve_), len(clf.validation_loss_curve_)
(60, 60)
>>> round(clf.score(X_test, y_test), 2)
0.94
""",
    )

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, rho=0.9, rmsprop_momentum=0.0,
                 dropout=0.0, l1_ratio=0.0, negative_slope=0.01, elu_alpha=1.0,
                 class_weight=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.rho = rho
        self.rmsprop_momentum = rmsprop_momentum
        self.dropout = dropout
        self.l1_ratio = l1_ratio
        self.negative_slope = negative_slope
        self.elu_alpha = elu_alpha
        self.class_weight = class_weight

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }

    loss = "log_loss"

    def _apply_class_weight(self, y_enc, sample_weight):
        """Per-sample weights from class_weight (scikit-learn's semantics, via
        compute_sample_weight), multiplied into sample_weight."""
        if self.class_weight is None:
            return sample_weight
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            labels = y_enc.astype(int)  # one output per label, classes {0, 1}
        elif y_enc.shape[1] == 1:
            labels = self.classes_[y_enc[:, 0].astype(int)]
        else:
            labels = self.classes_[np.argmax(y_enc, axis=1)]
        weights = compute_sample_weight(self.class_weight, labels)
        return weights if sample_weight is None else sample_weight * weights

    def _encode_targets(self, y):
        if not self._label_binarizer.y_type_.startswith("multilabel"):
            y = column_or_1d(y)
            unknown = np.setdiff1d(unique_labels(y), self.classes_)
            if len(unknown):
                raise ValueError(f"eval_set has classes not seen in fit: {unknown}.")
        return _binarize(self._label_binarizer, y)

    def _output_activation(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_fit_data(X, y, reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            _warnings.column_vector_y()
            y = column_or_1d(y)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = _fitted_binarizer(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}.")
        return X, _binarize(self._label_binarizer, y)

    def predict(self, X):
        """Predict the classes of the rows of X.

        The class of the largest probability of each row (for multilabel
        classification, each label whose probability exceeds 0.5).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted class of each row (a label indicator row for
            multilabel classification).

        See Also
        --------
        predict_proba : The probabilities of the classes.

        Examples
        --------
        >>> from bpfast import MLPClassifier
        >>> X = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]]
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, ["a", "b", "b", "a"])
        >>> clf.predict([[0., 1.], [1., 1.]])
        array(['b', 'a'], dtype='<U1')
        """
        self._check_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return _decode(self._label_binarizer, y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None, *, monitor=None):
        """Update the model with a single epoch over the given data.

        Available for the stochastic solvers ('sgd', 'adam', 'rmsprop')
        only; the optimizer's state carries over from call to call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The class labels (a label indicator matrix for multilabel
            classification).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the loss; None weighs every row 1.
        classes : array-like of shape (n_classes,), default=None
            Every class the calls will see (for a label indicator ``y``,
            the labels' indices): required on the first call, ignored
            afterwards.
        monitor : callable, default=None
            Beyond scikit-learn. Called after the epoch, as in :meth:`fit`;
            returning True has no further effect here.

        Returns
        -------
        object
            The updated estimator.

        See Also
        --------
        fit : Training until the stopping rule.

        Examples
        --------
        >>> import numpy as np
        >>> from bpfast import MLPClassifier
        >>> X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
        >>> y = np.array([0, 1, 1, 0])
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
        >>> for _ in range(3):
        ...     clf = clf.partial_fit(X, y, classes=[0, 1])
        >>> clf.n_iter_, len(clf.loss_curve_), clf.t_
        (1, 3, 12)
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True,
                         monitor=monitor)

    def predict_log_proba(self, X):
        """Predict the logarithms of the class probabilities of the rows of X.

        The natural logarithm of :meth:`predict_proba`'s result.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The natural logarithm of :meth:`predict_proba`'s result, the
            classes in the order of ``classes_``.

        See Also
        --------
        predict_proba : The probabilities themselves.

        Examples
        --------
        >>> from bpfast import MLPClassifier
        >>> X = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]]
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, [0, 1, 1, 0])
        >>> clf.predict_log_proba(X).shape
        (4, 2)
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Predict the class probabilities of the rows of X.

        The output of the network's logistic (binary, multilabel) or
        softmax (multiclass) layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``
            (for multilabel classification, of each label independently).

        See Also
        --------
        predict : The most probable class.
        predict_log_proba : The logarithms of the probabilities.

        Examples
        --------
        >>> from bpfast import MLPClassifier
        >>> X = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]]
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, [0, 1, 1, 0])
        >>> clf.predict_proba(X).round(2)
        array([[1., 0.],
               [0., 1.],
               [0., 1.],
               [1., 0.]])
        """
        self._check_fitted()
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            # np.vstack([1 - y_pred, y_pred]).T, as scikit-learn returns it
            # (the transpose of a C-ordered 2 x n array), without vstack's
            # ~3 us of overhead
            both = np.empty((2, y_pred.shape[0]), dtype=y_pred.dtype)
            np.subtract(1, y_pred, out=both[0])
            both[1] = y_pred
            return both.T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = _docstrings.estimator_doc(
        "regressor",
        summary="Multi-layer perceptron regressor, a drop-in for scikit-learn's.",
        extended="""
The parameters, defaults, fitted attributes and behaviour of
:class:`sklearn.neural_network.MLPRegressor`, trained by bpfast's
compiled kernels: one call per epoch, BLAS products, OpenMP threads, no
GIL. The parameters beyond scikit-learn's (marked "Beyond
scikit-learn") default to scikit-learn's behaviour. One or several
outputs; dense or sparse input. The output layer is linear
(``loss='squared_error'``) or exponential (``loss='poisson'``).
""",
        see_also="""
sklearn.neural_network.MLPRegressor : The scikit-learn estimator this
    one replaces.
bpfast.MLPClassifier : The multi-layer perceptron for classification.
bpfast.dask.MLPRegressor : This estimator, trained on a Dask cluster.
bpfast.LossCurveDisplay : Plots ``loss_curve_`` and the validation curves.
bpfast.check_gradients : Checks the backpropagated gradient of a configuration.
""",
        notes=_docstrings.PARITY_NOTES,
        examples="""
>>> from sklearn.datasets import make_regression
>>> from sklearn.model_selection import train_test_split
>>> from bpfast import MLPRegressor
>>> X, y = make_regression(n_samples=200, n_features=4, noise=1.0,
...                        random_state=0)
>>> y = y / 100
>>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
>>> reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs",
...                    random_state=0).fit(X_train, y_train)
>>> reg.n_iter_
87
>>> reg.predict(X_test[:3]).round(2)
array([ 1.37,  0.09, -1.39])
>>> round(reg.score(X_test, y_test), 4)
0.9999

Counts, with the Poisson loss and an exponential output, trained by
RMSProp with leaky ReLU units:

>>> import numpy as np
>>> rng = np.random.RandomState(0)
>>> X = rng.uniform(size=(200, 3))
>>> counts = rng.poisson(np.exp(X @ [1.0, -1.0, 0.5]))
>>> reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), solver="rmsprop",
...                    activation="leaky_relu", negative_slope=0.05,
...                    learning_rate_init=0.01, random_state=0).fit(X, counts)
>>> reg.out_activation_
'exp'
>>> reg.predict(X[:3]).round(1)
array([1.3, 1.7, 1. ])
""",
    )

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu",
                 *, solver="adam", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 rho=0.9, rmsprop_momentum=0.0, dropout=0.0, l1_ratio=0.0,
                 negative_slope=0.01, elu_alpha=1.0):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.rho = rho
        self.rmsprop_momentum = rmsprop_momentum
        self.dropout = dropout
        self.l1_ratio = l1_ratio
        self.negative_slope = negative_slope
        self.elu_alpha = elu_alpha

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _encode_targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        if not np.isfinite(y).all():
            raise ValueError("eval_set: y_val contains NaN or infinity.")
        return y

    def predict(self, X):
        """Predict the targets of the rows of X.

        The output of the network's identity (``loss='squared_error'``) or
        exponential (``loss='poisson'``) layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values (1-d for a single output).

        See Also
        --------
        score : The coefficient of determination R^2 of the predictions.

        Examples
        --------
        >>> import numpy as np
        >>> from bpfast import MLPRegressor
        >>> X = np.linspace(0, 1, 20).reshape(-1, 1)
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                    random_state=0).fit(X, 2 * X.ravel() + 1)
        >>> reg.predict([[0.25], [0.75]]).round(2)
        array([1.5, 2.5])
        """
        self._check_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_fit_data(X, y, reset=reset, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            _warnings.column_vector_y()
            y = column_or_1d(y)
        return X, y

    # scikit-learn (1.7 to 1.9) offers partial_fit on MLPRegressor for every solver
    # (its availability check is always true); bpfast does the same.
    @available_if(lambda est: True)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, *, monitor=None):
        """Update the model with a single epoch over the given data.

        As scikit-learn's, available whatever the solver: with a
        stochastic solver it runs one epoch, the optimizer's state
        carrying over from call to call; with 'lbfgs', a run of L-BFGS
        from the current weights.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the loss; None weighs every row 1.
        monitor : callable, default=None
            Beyond scikit-learn. Called after the epoch, as in :meth:`fit`;
            returning True has no further effect here.

        Returns
        -------
        object
            The updated estimator.

        See Also
        --------
        fit : Training until the stopping rule.

        Examples
        --------
        >>> import numpy as np
        >>> from bpfast import MLPRegressor
        >>> X = np.linspace(0, 1, 20).reshape(-1, 1)
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
        >>> for _ in range(5):
        ...     reg = reg.partial_fit(X, 2 * X.ravel() + 1)
        >>> len(reg.loss_curve_), reg.t_
        (5, 100)
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True,
                         monitor=monitor)
