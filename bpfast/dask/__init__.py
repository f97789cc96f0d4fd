"""bpfast on a Dask cluster: data-parallel training on row-chunked dask collections.

``bpfast.dask.MLPClassifier`` and ``bpfast.dask.MLPRegressor`` take bpfast's
parameters and have its fitted attributes (they are bpfast's estimators,
extended): ``fit(X, y, sample_weight=None)`` on dask arrays or DataFrames
chunked by rows trains on the workers of the current ``distributed``
client; the rows never come to the client, which holds the parameters and
one small result a chunk. On NumPy input they are bpfast's estimators.

solver="lbfgs" trains the in-memory fit's model: every L-BFGS evaluation
sums the chunks' losses and gradients from bpfast's kernels in a fixed tree
over the chunks (see _lbfgs, _tree). With one chunk the fit is bit for bit
the in-memory one; with several the loss curve follows it to ~1e-15
relative for dozens of iterations. Two fits on the same chunks give the
same bits whatever the number of workers or the scheduling, and a fit
survives a worker's death with those same bits (see _shards).

The stochastic solvers (sgd, adam, rmsprop) train a different model than
in memory: see _stochastic for the semantics.

``predict``, ``predict_proba``, ``predict_log_proba`` on dask input return
dask arrays computed block by block on the workers; ``score`` returns a
number, reduced on the workers.

``import bpfast`` does not import Dask; ``import bpfast.dask`` does.
"""

import numpy as np
from sklearn.base import _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if

import dask
import distributed

from .. import _docstrings, _mlp
from .._solvers import STOCHASTIC_SOLVERS
from .._threads import single_threaded_blas
from . import _chunks, _lbfgs, _predict, _shards, _stochastic
from ._chunks import is_dask_collection

__all__ = ["MLPClassifier", "MLPRegressor"]


def _client():
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError("bpfast.dask fits on the current distributed client: create "
                         "one first (distributed.Client(...)).") from None


def _contiguous_workers(rows, workers):
    """A worker for each chunk: contiguous runs of chunks of about equal rows,
    so that a worker holds whole subtrees of the reduction (fewer partial
    sums travel). Only a preference: where a chunk really is decides."""
    total = float(sum(rows))
    out, before = [], 0
    for n in rows:
        middle = (before + n / 2.0) / total
        out.append(workers[min(len(workers) - 1, int(middle * len(workers)))])
        before += n
    return out


class _DaskFit:
    """The fit of one estimator on dask collections: the chunks' futures,
    from the raw blocks to the kernels' layout, released by close()."""

    def __init__(self, estimator, X, y, sample_weight):
        self.est = estimator
        self.client = _client()
        self.classifier = estimator._is_classifier()
        self.names = _chunks.feature_names(X)
        self.X, self.y, self.sample_weight = _chunks.row_chunked(X, y, sample_weight)
        self.dtype = _chunks.fit_dtype(self.X)
        self.rows = [int(n) for n in self.X.chunks[0]]
        self.futures = []      # every future the fit holds (released by close)
        self.chunks = None     # the encoded chunks' futures

    def close(self):
        """Release the futures the fit holds (self.futures): this fit's hold
        on them only (another fit of the same data in this client may share
        their keys)."""
        futures, self.futures = self.futures, []
        for future in futures:
            future.release()

    def prepare(self):
        """Compute the chunks on the workers, check them (ValueError before
        any training for values a fit cannot take), encode them; returns
        (summaries, encoding, [(rows, weight sum)] a chunk)."""
        client = self.client
        workers = _shards.worker_addresses(client)
        if not workers:
            raise RuntimeError("the distributed client has no workers")
        placement = _contiguous_workers(self.rows, workers)
        tasks = []
        for (xb, yb, swb), worker in zip(_chunks.blocks(self.X, self.y,
                                                        self.sample_weight), placement):
            with dask.annotate(workers=[worker], allow_other_workers=True):
                tasks.append(dask.delayed(_chunks.raw_chunk, pure=True)(
                    xb, yb, swb, self.dtype))
        raw = client.compute(tasks)
        passing = list(raw)    # futures needed during prepare() only
        try:
            summary_futures = client.map(_chunks.summarize, raw,
                                         classifier=self.classifier)
            passing += summary_futures
            summaries = client.gather(summary_futures)
            _chunks.check_summaries(summaries, self.classifier)
            encoding = self.est._encoding(summaries)
            # each chunk encoded where its raw chunk is (the scheduler's choice)
            self.chunks = client.map(_chunks.encode, raw, encoding=encoding)
            self.futures = list(self.chunks)
            weight_futures = client.map(_chunks.chunk_weight, self.chunks)
            passing += weight_futures
            weights = client.gather(weight_futures)
        finally:
            # the scheduler recomputes a raw chunk from the graph if an
            # encoded one is lost
            for future in passing:
                future.release()
        return summaries, encoding, weights


class _DaskMLP:
    """What bpfast.dask's estimators add to bpfast's: fit, predict and score
    on dask collections."""

    def _uses_dask(self, *args):
        return any(is_dask_collection(a) for a in args)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, eval_set=None, monitor=None):
        """Fit the model to data matrix X and target(s) y.

        On dask collections, trains on the workers of the current
        ``distributed`` client (see the class's Notes); on NumPy (or other
        in-memory) input, it is bpfast's in-memory fit.

        Parameters
        ----------
        X : {dask array, dask DataFrame, array-like, sparse matrix} of \
shape (n_samples, n_features)
            The input data; dask collections chunked by rows only, of
            NumPy, SciPy sparse or pydata-sparse blocks.
        y : {dask array, dask Series or DataFrame, array-like} of shape \
(n_samples,) or (n_samples, n_outputs)
            The targets, in the same row chunks as ``X``: class labels
            (binary or multiclass, 1-d, or a 0/1 label indicator matrix for
            multilabel classification) or real numbers.
        sample_weight : {dask array, dask Series, array-like} of shape \
(n_samples,), default=None
            Weights of the rows in the loss, in the same row chunks as
            ``X``; None weighs every row 1.
        eval_set : tuple of (X_val, y_val) or (X_val, y_val, sample_weight_val), \
default=None
            In-memory input only (ValueError on dask collections): see
            :meth:`bpfast.MLPClassifier.fit`.
        monitor : callable, default=None
            In-memory input only (ValueError on dask collections): see
            :meth:`bpfast.MLPClassifier.fit`.

        Returns
        -------
        object
            The fitted estimator.

        See Also
        --------
        bpfast.MLPClassifier.fit : The in-memory fit.

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> from distributed import Client
        >>> client = Client(processes=False, n_workers=1, threads_per_worker=2,
        ...                 dashboard_address=":0")
        >>> from bpfast.dask import MLPRegressor
        >>> X = da.from_array(np.linspace(0, 1, 40).reshape(-1, 1), chunks=10)
        >>> y = 2 * X[:, 0] + 1
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                    random_state=0).fit(X, y)
        >>> reg.n_restarts_
        0
        >>> reg.predict(X[:2]).compute().round(1)
        array([1. , 1.1])
        >>> client.close()
        """
        if not self._uses_dask(X, y, sample_weight):
            return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                             eval_set=eval_set, monitor=monitor)
        if eval_set is not None or monitor is not None:
            raise ValueError("fit on dask collections takes no eval_set or monitor.")
        with single_threaded_blas():
            return self._fit_dask(X, y, sample_weight)

    def _fit_dask(self, X, y, sample_weight):
        if self.dropout > 0 and self.solver not in STOCHASTIC_SOLVERS:
            raise ValueError("dropout is only available with the stochastic solvers "
                             f"{STOCHASTIC_SOLVERS}, got solver={self.solver!r}.")
        if self.solver in STOCHASTIC_SOLVERS and self.early_stopping:
            raise ValueError("bpfast.dask does not take early_stopping=True (it would "
                             "need a validation split of the chunks).")
        hidden = self._hidden_sizes()
        fit = _DaskFit(self, X, y, sample_weight)
        try:
            summaries, encoding, weights = fit.prepare()
            self._set_input_attributes(fit, encoding)
            n_outputs = self._n_outputs(summaries, encoding)
            layer_units = [fit.X.shape[1]] + hidden + [n_outputs]
            first_pass = not hasattr(self, "coefs_") or not self.warm_start
            self._random_state = check_random_state(self.random_state)
            if first_pass:
                self._initialize(np.empty((0, n_outputs)), layer_units, fit.dtype)
                net = self._network
            else:
                net = self._get_network()
                if list(net.units) != layer_units:
                    raise ValueError(
                        "The network of the previous fit has layer sizes %s; this fit "
                        "asks for %s. Set warm_start=False or keep hidden_layer_sizes."
                        % (list(net.units), layer_units))
            extra = {}
            if self.solver in STOCHASTIC_SOLVERS:
                seed = int(self._random_state.randint(np.iinfo(np.int32).max))
                extra = _stochastic.trainer_options(self, min(fit.rows), seed)
            spec = _shards.net_spec(net, self.alpha, self.l1_ratio,
                                    [w for _, w in weights], **extra)
            with _shards.ShardPool(fit.client, fit.chunks, spec) as pool:
                if self.solver in STOCHASTIC_SOLVERS:
                    _stochastic.fit_stochastic(self, pool, net, sum(fit.rows))
                else:
                    self.n_iter_, self.loss_ = _lbfgs.fit_lbfgs(
                        pool, net, self.max_iter, self.max_fun, self.tol)
                finite = pool.call("outputs_finite", net.params, chunk=0)
                self.n_restarts_ = pool.restarts
        finally:
            fit.close()
        self._check_params_finite(net, finite)
        return self

    def _check_params_finite(self, net, outputs_finite):
        """The in-memory fit's final check (_BaseMLP._check_finite), its
        forward pass run on the workers' first rows."""
        if _mlp._all_finite(net.params) and outputs_finite:
            return
        detail = "" if not _mlp._all_finite(net.params) else (
            " (its outputs overflow on the training data)")
        raise ValueError(
            "Solver produced non-finite parameter weights%s. The input data may"
            " contain large values and need to be preprocessed." % detail)

    def _set_input_attributes(self, fit, encoding):
        self.n_features_in_ = fit.X.shape[1]
        if fit.names is not None:
            self.feature_names_in_ = fit.names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _refuse_dask(self, *args):
        if self._uses_dask(*args):
            raise TypeError("bpfast.dask's partial_fit takes NumPy input only; fit "
                            "trains on dask collections.")

    # -- prediction ------------------------------------------------------------
    def _in_memory(self):
        """This fitted model as bpfast's in-memory estimator (what the
        workers predict with)."""
        self._check_fitted()
        model = self._memory_class()(**self.get_params())
        state = self.__getstate__()
        model.__setstate__(state)
        return model

    def predict(self, X):
        """Predict with the fitted model.

        The classes (classifier) or values (regressor) of the rows of X, as
        bpfast's in-memory ``predict`` gives them.

        Parameters
        ----------
        X : {dask array, dask DataFrame, array-like, sparse matrix} of \
shape (n_samples, n_features)
            The input data.

        Returns
        -------
        dask array or ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted classes or values: for dask input, a dask array
            computed block by block on the workers; else bpfast's
            in-memory prediction.

        See Also
        --------
        bpfast.MLPClassifier.predict : The in-memory prediction.

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> from distributed import Client
        >>> client = Client(processes=False, n_workers=1, threads_per_worker=2,
        ...                 dashboard_address=":0")
        >>> from bpfast.dask import MLPClassifier
        >>> X = da.from_array(np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]] * 5),
        ...                   chunks=10)
        >>> y = da.from_array(np.array([0, 1, 1, 0] * 5), chunks=10)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> clf.predict(X[:4])
        dask.array<...>
        >>> clf.predict(X[:4]).compute()
        array([0, 1, 1, 0])
        >>> client.close()
        """
        if not self._uses_dask(X):
            return super().predict(X)
        return _predict.predict(self._in_memory(), X, "predict")

    def score(self, X, y, sample_weight=None):
        """Score the model on X and y.

        The mean accuracy (classifier) or the coefficient of determination
        R^2 (regressor), as scikit-learn's ``score``; for dask input,
        reduced on the workers.

        Parameters
        ----------
        X : {dask array, dask DataFrame, array-like, sparse matrix} of \
shape (n_samples, n_features)
            The input data.
        y : {dask array, dask Series or DataFrame, array-like} of shape \
(n_samples,) or (n_samples, n_outputs)
            The true targets.
        sample_weight : {dask array, dask Series, array-like} of shape \
(n_samples,), default=None
            Weights of the rows in the score; None weighs every row 1.

        Returns
        -------
        float
            The accuracy or R^2 of ``self.predict(X)`` against ``y``.

        See Also
        --------
        sklearn.metrics.accuracy_score : The classifier's score.
        sklearn.metrics.r2_score : The regressor's score.

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> from distributed import Client
        >>> client = Client(processes=False, n_workers=1, threads_per_worker=2,
        ...                 dashboard_address=":0")
        >>> from bpfast.dask import MLPClassifier
        >>> X = da.from_array(np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]] * 5),
        ...                   chunks=10)
        >>> y = da.from_array(np.array([0, 1, 1, 0] * 5), chunks=10)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> clf.score(X, y)
        1.0
        >>> client.close()
        """
        if not self._uses_dask(X, y, sample_weight):
            return super().score(X, y, sample_weight=sample_weight)
        return _predict.score(self._in_memory(), X, y, sample_weight,
                              self._is_classifier())


# the Notes of both estimators' docstrings
_NOTES = """
On dask collections, ``fit`` trains on the workers of the current
``distributed`` client (create one first): the rows stay on the workers,
and the client holds the parameters and one small result per chunk. The
collections must be chunked by rows only, ``y`` and ``sample_weight`` in
the chunks of ``X``; a classifier takes 1-d labels (binary or
multiclass).

- ``solver='lbfgs'`` trains the in-memory fit's model: each L-BFGS step
  sums the chunks' losses and gradients in a fixed tree over the chunks.
  With one chunk the fit is the in-memory one bit for bit; with several,
  its loss curve follows the in-memory one to about 1e-15 relative for
  dozens of iterations, and parts from it as the in-memory fit parts
  from scikit-learn's (see the Notes of :class:`bpfast.MLPClassifier`).
- The stochastic solvers train another model than in memory: in each
  epoch every chunk runs one epoch of minibatches from the same
  parameters and optimizer state, its rows shuffled by a seed drawn from
  ``random_state``, the epoch and the chunk, and the results are
  averaged, weighted by the chunks' shares of the sample weights. With
  one chunk that is one in-memory epoch (in another shuffled order).
  ``early_stopping=True`` is refused on dask input.
- A fit gives the same bits whatever the number of workers and the
  scheduling, and survives the loss of a worker with those same bits
  (``n_restarts_`` counts the restarts).
- ``eval_set`` and ``monitor`` are for in-memory input only, and so is
  ``partial_fit``. ``predict``, ``predict_proba`` and
  ``predict_log_proba`` return dask arrays for dask input, ``score`` a
  number reduced on the workers.

``import bpfast`` does not import Dask; ``import bpfast.dask`` does.
"""


class MLPClassifier(_DaskMLP, _mlp.MLPClassifier):
    __doc__ = _docstrings.estimator_doc(
        "classifier",
        summary="Multi-layer perceptron classifier trained on a Dask cluster.",
        extended="""
:class:`bpfast.MLPClassifier` (the same parameters and fitted attributes,
and the same fit on in-memory input), extended to train data-parallel on
dask arrays or DataFrames chunked by rows, on the workers of a
``distributed`` cluster.
""",
        see_also="""
bpfast.MLPClassifier : The in-memory estimator this one extends.
bpfast.dask.MLPRegressor : The regressor, on a Dask cluster.
sklearn.neural_network.MLPClassifier : The scikit-learn estimator.
""",
        notes=_NOTES,
        examples="""
>>> import numpy as np
>>> import dask.array as da
>>> from distributed import Client
>>> from bpfast.dask import MLPClassifier
>>> client = Client(processes=False, n_workers=1, threads_per_worker=2,
...                 dashboard_address=":0")
>>> rng = np.random.RandomState(0)
>>> X = rng.normal(size=(200, 4))
>>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
>>> X_dask = da.from_array(X, chunks=50)
>>> y_dask = da.from_array(y, chunks=50)
>>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
...                     random_state=0).fit(X_dask, y_dask)
>>> clf.predict(X_dask[:5]).compute()
array([1, 1, 1, 1, 1])
>>> clf.score(X_dask, y_dask)
1.0
>>> clf.n_restarts_
0
>>> client.close()
""",
        dask=True,
    )

    @staticmethod
    def _memory_class():
        return _mlp.MLPClassifier

    def _encoding(self, summaries):
        if summaries[0]["target_type"] == "multilabel-indicator":
            rows, ones = _chunks.multilabel_counts(summaries)
            return _chunks.Encoding(
                np.arange(ones.shape[0]),
                _chunks.multilabel_class_weights(self.class_weight, rows, ones),
                multilabel=True)
        classes, counts = _chunks.classes_and_counts(summaries)
        if classes.shape[0] < 2:
            raise ValueError("y has fewer than two classes: %s" % list(classes))
        return _chunks.Encoding(classes,
                                _chunks.class_weights(self.class_weight, classes, counts))

    def _set_input_attributes(self, fit, encoding):
        super()._set_input_attributes(fit, encoding)
        if encoding.multilabel:
            # what LabelBinarizer.fit learns of any indicator matrix of
            # this width
            self._label_binarizer = LabelBinarizer().fit(
                np.eye(encoding.classes.shape[0], dtype=int))
        else:
            self._label_binarizer = LabelBinarizer().fit(encoding.classes)
        self.classes_ = self._label_binarizer.classes_

    def _n_outputs(self, summaries, encoding):
        if encoding.multilabel or encoding.classes.shape[0] > 2:
            return encoding.classes.shape[0]
        return 1

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None, *, monitor=None):
        """Update the model with a single epoch over the given data.

        bpfast's in-memory ``partial_fit``: NumPy (or other in-memory)
        input only, TypeError for dask collections. Available for the
        stochastic solvers only.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the loss; None weighs every row 1.
        classes : array-like of shape (n_classes,), default=None
            Every class the calls will see: required on the first call,
            ignored afterwards.
        monitor : callable, default=None
            Called after the epoch, as in :meth:`bpfast.MLPClassifier.fit`.

        Returns
        -------
        object
            The updated estimator.

        See Also
        --------
        bpfast.MLPClassifier.partial_fit : The same method.

        Examples
        --------
        >>> import numpy as np
        >>> from bpfast.dask import MLPClassifier
        >>> X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
        >>> clf = clf.partial_fit(X, [0, 1, 1, 0], classes=[0, 1])
        >>> clf.n_iter_, clf.t_
        (1, 4)
        """
        self._refuse_dask(X, y, sample_weight)
        return super().partial_fit(X, y, sample_weight=sample_weight, classes=classes,
                                   monitor=monitor)

    def predict_proba(self, X):
        """Predict the class probabilities of the rows of X.

        The output of the network's logistic or softmax layer, computed
        where the rows are.

        Parameters
        ----------
        X : {dask array, dask DataFrame, array-like, sparse matrix} of \
shape (n_samples, n_features)
            The input data.

        Returns
        -------
        dask array or ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``:
            for dask input, a dask array computed block by block on the
            workers.

        See Also
        --------
        bpfast.MLPClassifier.predict_proba : The in-memory prediction.

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> from distributed import Client
        >>> client = Client(processes=False, n_workers=1, threads_per_worker=2,
        ...                 dashboard_address=":0")
        >>> from bpfast.dask import MLPClassifier
        >>> X = da.from_array(np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]] * 5),
        ...                   chunks=10)
        >>> y = da.from_array(np.array([0, 1, 1, 0] * 5), chunks=10)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> clf.predict_proba(X[:2]).compute().round(2)
        array([[1., 0.],
               [0., 1.]])
        >>> client.close()
        """
        if not self._uses_dask(X):
            return super().predict_proba(X)
        return _predict.predict(self._in_memory(), X, "predict_proba")

    def predict_log_proba(self, X):
        """Predict the logarithms of the class probabilities of the rows of X.

        The logarithm of :meth:`predict_proba`'s result, computed where the
        rows are.

        Parameters
        ----------
        X : {dask array, dask DataFrame, array-like, sparse matrix} of \
shape (n_samples, n_features)
            The input data.

        Returns
        -------
        dask array or ndarray of shape (n_samples, n_classes)
            The natural logarithm of :meth:`predict_proba`'s result: for
            dask input, a dask array computed block by block on the
            workers.

        See Also
        --------
        bpfast.MLPClassifier.predict_log_proba : The in-memory prediction.

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> from distributed import Client
        >>> client = Client(processes=False, n_workers=1, threads_per_worker=2,
        ...                 dashboard_address=":0")
        >>> from bpfast.dask import MLPClassifier
        >>> X = da.from_array(np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]] * 5),
        ...                   chunks=10)
        >>> y = da.from_array(np.array([0, 1, 1, 0] * 5), chunks=10)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> clf.predict_log_proba(X).shape
        (20, 2)
        >>> client.close()
        """
        if not self._uses_dask(X):
            return super().predict_log_proba(X)
        return _predict.predict(self._in_memory(), X, "predict_log_proba")


class MLPRegressor(_DaskMLP, _mlp.MLPRegressor):
    __doc__ = _docstrings.estimator_doc(
        "regressor",
        summary="Multi-layer perceptron regressor trained on a Dask cluster.",
        extended="""
:class:`bpfast.MLPRegressor` (the same parameters and fitted attributes,
and the same fit on in-memory input), extended to train data-parallel on
dask arrays or DataFrames chunked by rows, on the workers of a
``distributed`` cluster.
""",
        see_also="""
bpfast.MLPRegressor : The in-memory estimator this one extends.
bpfast.dask.MLPClassifier : The classifier, on a Dask cluster.
sklearn.neural_network.MLPRegressor : The scikit-learn estimator.
""",
        notes=_NOTES,
        examples="""
>>> import numpy as np
>>> import dask.array as da
>>> from distributed import Client
>>> from bpfast.dask import MLPRegressor
>>> client = Client(processes=False, n_workers=1, threads_per_worker=2,
...                 dashboard_address=":0")
>>> rng = np.random.RandomState(0)
>>> X = da.from_array(rng.uniform(size=(200, 3)), chunks=50)
>>> y = X @ np.array([1.0, -2.0, 0.5])
>>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs",
...                    random_state=0).fit(X, y)
>>> round(reg.score(X, y), 3)
1.0
>>> reg.predict(X[:3]).compute().round(2)
array([-0.58,  0.02, -0.86])

A stochastic solver averages the chunks' epochs:

>>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="adam",
...                    learning_rate_init=0.01, max_iter=300,
...                    random_state=0).fit(X, y)
>>> len(reg.loss_curve_) == reg.n_iter_
True
>>> bool(reg.score(X, y) > 0.9)
True
>>> client.close()
""",
        dask=True,
    )

    @staticmethod
    def _memory_class():
        return _mlp.MLPRegressor

    def _encoding(self, summaries):
        return _chunks.Encoding(None, None)

    def _n_outputs(self, summaries, encoding):
        return summaries[0]["n_outputs"]

    @available_if(lambda est: True)
    def partial_fit(self, X, y, sample_weight=None, *, monitor=None):
        """Update the model with a single epoch over the given data.

        bpfast's in-memory ``partial_fit``: NumPy (or other in-memory)
        input only, TypeError for dask collections.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the loss; None weighs every row 1.
        monitor : callable, default=None
            Called after the epoch, as in :meth:`bpfast.MLPRegressor.fit`.

        Returns
        -------
        object
            The updated estimator.

        See Also
        --------
        bpfast.MLPRegressor.partial_fit : The same method.

        Examples
        --------
        >>> import numpy as np
        >>> from bpfast.dask import MLPRegressor
        >>> X = np.linspace(0, 1, 20).reshape(-1, 1)
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
        >>> reg = reg.partial_fit(X, 2 * X.ravel() + 1)
        >>> reg.n_iter_, reg.t_
        (1, 20)
        """
        self._refuse_dask(X, y, sample_weight)
        return super().partial_fit(X, y, sample_weight=sample_weight, monitor=monitor)
