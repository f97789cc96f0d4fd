"""sgd, adam and rmsprop over a fit's chunks: local epochs, averaged.

Semantics (chunk-averaged epochs). Each chunk is one replica of the
model. An epoch starts from the same parameters and optimizer state on
every chunk (sgd's velocity, adam's moments and step, rmsprop's mean
square and momentum); each chunk runs one epoch of bpfast's own minibatch
training over its rows (the kernels' train_epoch: the in-memory fit's
updates, batch_size rows a minibatch, at most the chunk's rows), its rows
shuffled by a generator seeded by (the fit's seed, the epoch, the chunk's
index); then the parameters and the float state become the chunks'
average weighted by their share of the sample-weight sum, summed in
float64 in the fixed tree of _tree, and the step counters the largest
of the chunks'. The epoch's loss is the chunks' summed minibatch losses
over all rows, and the in-memory fit's bookkeeping follows it: loss_curve_,
best_loss_, tol and n_iter_no_change, the learning-rate schedules, t_.

This is not the in-memory model: averaging replicas after an epoch each is
not one pass of minibatches over all rows (with one chunk it is such a
pass, in another shuffled order; unshuffled, the in-memory fit's bits).
It depends only on the chunking, the parameters and random_state: the
same bits whatever the number of workers, the scheduling or a worker's
death. Its loss per epoch, against the
in-memory fit's, is in benchmarks/dask_scale.py's notes and the tests.
"""

import numpy as np
import scipy.sparse as sp

from .. import _kernels, _warnings
from .._network import zeroed_arrays
from .._progress import make_progress
from .._solvers import StochasticOptimizer, shuffle_order
from .._threads import claim_threads, kernel_threads
from . import _tree


def chunk_seed(seed, epoch, chunk):
    """The seed of chunk `chunk`'s shuffle in epoch `epoch`."""
    return int(np.random.SeedSequence([seed, epoch, chunk]).generate_state(1)[0])


class Trainer:
    """A shard's side of the stochastic solvers: one optimizer's buffers for
    all its chunks (trained one after another), a FitContext a chunk."""

    def __init__(self, spec, net, chunks):
        self.spec = spec
        self.net = net
        self.chunks = chunks
        o = spec.extra
        self.optimizer = StochasticOptimizer(
            o["solver"], net.n_params, net.dtype, o["learning_rate_init"],
            momentum=o["momentum"], nesterov=o["nesterov"], beta_1=o["beta_1"],
            beta_2=o["beta_2"], epsilon=o["epsilon"], rho=o["rho"])
        self._contexts = {}

    def _context(self, c):
        found = self._contexts.get(c)
        if found is None:
            o, chunk, net = self.spec.extra, self.chunks[c], self.net
            batch_size = min(o["batch_size"], chunk.rows)
            # minibatches of shuffled dense rows are gathered into the
            # workspace; CSR rows are read where they are (as in memory)
            sparse = sp.issparse(chunk.X)
            gather = o["shuffle"] and not sparse
            layout = net.layout(batch_size, net.units[0] if gather else 0)
            # a shadow always: the same bits with or without, and the
            # kernels may then share an update among threads
            work, grads, shadow = zeroed_arrays(
                net.dtype, [layout.work_len, net.n_params, net.n_params])
            context = self.optimizer.fit_context(
                net, layout, work, grads, shadow, batch_size, self.spec.alpha,
                l1_ratio=self.spec.l1_ratio, dropout=o["dropout"], seed=o["dropout_seed"])
            wanted = _kernels.epoch_threads(layout.meta, batch_size, kernel_threads(),
                                            sparse, o["dropout"] > 0)
            found = self._contexts[c] = (context, chunk.data(), wanted, gather)
        return found

    def epoch(self, params, state1, state2, step, epoch, learning_rate):
        """[((lo, hi), (loss sum, params, state1, state2, step))] for the
        tree's nodes this shard holds, each chunk trained one epoch from the
        given start, its float values scaled by its share."""
        net, optimizer, o = self.net, self.optimizer, self.spec.extra
        optimizer.learning_rate = float(learning_rate)

        def leaf(c):
            share = self.spec.shares[c]
            if share == 0.0:    # no weight: nothing to learn from this chunk
                zeros = [np.zeros(a.shape[0]) for a in (params, state1, state2)]
                return (0.0, *zeros, np.array(step, dtype=np.intp))
            net.params[...] = params
            optimizer.state1[...] = state1
            optimizer.state2[...] = state2
            optimizer.step[...] = step
            context, data, wanted, gather = self._context(c)
            order = np.arange(data.n_rows, dtype=np.intp)
            if o["shuffle"]:
                shuffle_order(np.random.RandomState(chunk_seed(o["seed"], epoch, c)),
                              order)
            with claim_threads(wanted) as n_threads:
                total = optimizer.run_epoch(context, data, order, gather, n_threads)
            return (float(total), share * net.params.astype(np.float64),
                    share * optimizer.state1.astype(np.float64),
                    share * optimizer.state2.astype(np.float64), optimizer.step.copy())

        return [(node, _tree.reduce(*node, leaf))
                for node in _tree.held_nodes(self.spec.n_chunks, set(self.chunks))]


def trainer_options(est, n_rows_min, seed):
    """What the shards' Trainers need of the estimator (see NetSpec.extra)."""
    if est.batch_size == "auto":
        batch_size = 200
    else:
        if est.batch_size > n_rows_min:
            _warnings.batch_size_clipped()
        batch_size = int(est.batch_size)
    return dict(
        solver=est.solver, learning_rate_init=est.learning_rate_init,
        momentum=est.rmsprop_momentum if est.solver == "rmsprop" else est.momentum,
        nesterov=est.nesterovs_momentum, beta_1=est.beta_1, beta_2=est.beta_2,
        epsilon=est.epsilon, rho=est.rho, batch_size=batch_size, shuffle=bool(est.shuffle),
        dropout=float(est.dropout), dropout_seed=int(est._dropout_seed), seed=seed)


def fit_stochastic(est, pool, net, n_samples):
    """The epoch loop on the client (the in-memory fit's bookkeeping and
    verbose output; see the module's docstring for what an epoch is)."""
    optimizer = est._make_optimizer(net)
    est._optimizer = optimizer
    dtype = net.dtype
    progress = make_progress(est.verbose, est.max_iter)
    est.n_iter_ = 0
    try:
        for epoch in range(est.max_iter):
            total, params, state1, state2, step = pool.reduce(
                "train_epoch", net.params, optimizer.state1, optimizer.state2,
                optimizer.step, epoch, optimizer.learning_rate)
            net.params[...] = params.astype(dtype)
            optimizer.state1[...] = state1.astype(dtype)
            optimizer.state2[...] = state2.astype(dtype)
            optimizer.step[...] = step
            est.n_iter_ += 1
            est.loss_ = total / n_samples
            est.t_ += n_samples
            est.loss_curve_.append(est.loss_)
            if progress is not None:
                progress.epoch(est.n_iter_, est.loss_)
            est._update_no_improvement_count(False, None, None, 1, progress)
            optimizer.iteration_ends(est.t_)
            if est._no_improvement_count > est.n_iter_no_change:
                stop, msg = optimizer.trigger_stopping(
                    "Training loss did not improve more than tol=%f for %d "
                    "consecutive epochs." % (est.tol, est.n_iter_no_change))
                if progress is not None:
                    progress.write(msg)
                if stop:
                    break
                est._no_improvement_count = 0
            if est.n_iter_ == est.max_iter:
                _warnings.max_iter_reached(est.max_iter)
    finally:
        if progress is not None:
            progress.close()
