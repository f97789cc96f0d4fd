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

from .. import _mlp
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
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
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
        """Fit the model to X and y: dask arrays or DataFrames chunked by
        rows (the same row chunks for X, y and sample_weight), trained on the
        current distributed client's workers; NumPy input is fitted in memory
        (bpfast's fit, which also takes eval_set and monitor).

        Returns
        -------
        self : object
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
        """Predictions for X; a dask array computed block by block on the
        workers for dask input."""
        if not self._uses_dask(X):
            return super().predict(X)
        return _predict.predict(self._in_memory(), X, "predict")

    def score(self, X, y, sample_weight=None):
        """Mean accuracy (classifier) or R^2 (regressor), reduced on the
        workers for dask input."""
        if not self._uses_dask(X, y, sample_weight):
            return super().score(X, y, sample_weight=sample_weight)
        return _predict.score(self._in_memory(), X, y, sample_weight,
                              self._is_classifier())


class MLPClassifier(_DaskMLP, _mlp.MLPClassifier):
    """bpfast's MLPClassifier, fitted on a Dask cluster (see the module's
    docstring). Takes 1-d class labels (binary or multiclass).

    Beyond bpfast's attributes, a fit on dask collections sets
    ``n_restarts_``: how many times the fit's shards were started again
    after a worker was lost."""

    @staticmethod
    def _memory_class():
        return _mlp.MLPClassifier

    def _encoding(self, summaries):
        classes, counts = _chunks.classes_and_counts(summaries)
        if classes.shape[0] < 2:
            raise ValueError("y has fewer than two classes: %s" % list(classes))
        return _chunks.Encoding(classes,
                                _chunks.class_weights(self.class_weight, classes, counts))

    def _set_input_attributes(self, fit, encoding):
        super()._set_input_attributes(fit, encoding)
        self._label_binarizer = LabelBinarizer().fit(encoding.classes)
        self.classes_ = self._label_binarizer.classes_

    def _n_outputs(self, summaries, encoding):
        return 1 if encoding.classes.shape[0] == 2 else encoding.classes.shape[0]

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None, *, monitor=None):
        """bpfast's partial_fit, on NumPy input."""
        self._refuse_dask(X, y, sample_weight)
        return super().partial_fit(X, y, sample_weight=sample_weight, classes=classes,
                                   monitor=monitor)

    def predict_proba(self, X):
        """Probability estimates; a dask array for dask input."""
        if not self._uses_dask(X):
            return super().predict_proba(X)
        return _predict.predict(self._in_memory(), X, "predict_proba")

    def predict_log_proba(self, X):
        """Log of the probability estimates; a dask array for dask input."""
        if not self._uses_dask(X):
            return super().predict_log_proba(X)
        return _predict.predict(self._in_memory(), X, "predict_log_proba")


class MLPRegressor(_DaskMLP, _mlp.MLPRegressor):
    """bpfast's MLPRegressor, fitted on a Dask cluster (see the module's
    docstring and MLPClassifier's for ``n_restarts_``)."""

    @staticmethod
    def _memory_class():
        return _mlp.MLPRegressor

    def _encoding(self, summaries):
        return _chunks.Encoding(None, None)

    def _n_outputs(self, summaries, encoding):
        return summaries[0]["n_outputs"]

    @available_if(lambda est: True)
    def partial_fit(self, X, y, sample_weight=None, *, monitor=None):
        """bpfast's partial_fit, on NumPy input."""
        self._refuse_dask(X, y, sample_weight)
        return super().partial_fit(X, y, sample_weight=sample_weight, monitor=monitor)
