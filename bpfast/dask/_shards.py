"""The chunks of a fit held by one Actor per worker, and the client's pool of them.

A ``Shard`` lives on a worker as a Dask Actor: it holds the encoded chunks
that worker computed (the same objects as the worker's copies of the fit's
chunk futures: nothing is copied) and the kernels' contexts for them, and
answers the client's calls (one L-BFGS evaluation, one epoch) with the
values of the reduction tree's nodes it holds (see _tree). An actor call
costs a few milliseconds where a round of Dask tasks costs tens.

Every call is a pure function of its arguments and the chunks' contents:
a shard keeps no state from one call to the next but buffers. So when a
worker dies, the ``ShardPool`` waits for the scheduler to recompute the
lost chunks from the graph (the fit's futures keep it), starts the shards
again where the chunks now are, and repeats the call: the same bits as if
nothing had happened.
"""

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass, field

import numpy as np

from .._mlp import _kernel_X
from .._network import Network
from .._threads import claim_threads, kernel_threads, single_threaded_blas
from . import _tree


@dataclass
class NetSpec:
    """What a shard needs to rebuild the fit's network and loss: layer
    sizes, activation, output, dtype, the activation's slope, the penalty
    (carried by chunk `penalty_chunk` alone), the number of chunks and each
    chunk's share of the sample-weight sum."""
    units: list
    activation: str
    output: str
    dtype: str
    slope: float
    alpha: float
    l1_ratio: float
    n_chunks: int
    shares: list
    penalty_chunk: int
    extra: dict = field(default_factory=dict)

    def network(self):
        return Network(self.units, self.activation, self.output, self.dtype,
                       slope=self.slope)


def worker_addresses(client):
    """The sorted addresses of the cluster's workers, asked of the scheduler.

    Not `client.scheduler_info()["workers"]`: that returns the client's cached
    identity, which its periodic refresh (or another thread's call) may
    replace with one that lists no workers between the fetch and the read.
    """
    return sorted(client.nthreads())


def shares(weight_sums):
    """(each chunk's share of the weight sum, the sum, the first chunk of
    nonzero weight), the sum taken in chunk order."""
    total = 0.0
    for s in weight_sums:
        total += s
    if total == 0:
        raise ValueError("Sample weights sum to zero: they must contain at least one "
                         "non-zero number.")
    first = next(c for c, s in enumerate(weight_sums) if s != 0)
    return [s / total for s in weight_sums], total, first


def net_spec(net, alpha, l1_ratio, weight_sums, **extra):
    """The NetSpec of a fit of `net` over chunks of these weight sums."""
    chunk_shares, _, first = shares(weight_sums)
    return NetSpec(units=[int(u) for u in net.units], activation=net.activation,
                   output=net.output, dtype=net.dtype.name, slope=net.slope,
                   alpha=float(alpha), l1_ratio=float(l1_ratio),
                   n_chunks=len(weight_sums), shares=chunk_shares,
                   penalty_chunk=first, extra=extra)


class Shard:
    """A worker's chunks of one fit (an Actor: see the module's docstring)."""

    def __init__(self, spec, indices, *chunks):
        self.spec = spec
        self.chunks = dict(zip(indices, chunks))
        self.net = spec.network()
        self.grads = np.empty(self.net.n_params, dtype=self.net.dtype)
        self._loss = {}     # chunk index -> (LossContext, Data), made once
        self._trainer = None  # the stochastic solvers' (see _stochastic)

    # -- L-BFGS --------------------------------------------------------------
    def _loss_parts(self, c):
        parts = self._loss.get(c)
        if parts is None:
            chunk = self.chunks[c]
            alpha = self.spec.alpha if c == self.spec.penalty_chunk else 0.0
            context = self.net.loss_context(chunk.rows, alpha, l1_ratio=self.spec.l1_ratio)
            parts = self._loss[c] = (context, chunk.data())
        return parts

    def _params(self, x):
        """x (float64) as the kernels' parameter vector: itself in float64,
        cast into the network's own vector in float32, as the in-memory
        L-BFGS fit does."""
        if self.net.dtype == np.float64:
            return np.ascontiguousarray(x)
        self.net.params[...] = x
        return self.net.params

    def loss_gradient(self, x):
        """[((lo, hi), (loss, gradient))] for the tree's nodes this shard
        holds: each chunk's loss and gradient under x from the kernels,
        scaled by its share of the weight sum, in float64."""
        params = self._params(x)

        def leaf(c):
            share = self.spec.shares[c]
            if share == 0.0:    # no weight: the kernels would divide by zero
                return 0.0, np.zeros(self.net.n_params)
            context, data = self._loss_parts(c)
            with claim_threads(kernel_threads()) as n_threads:
                loss = self.net.loss_gradient(context, data, params, self.grads,
                                              n_threads)
            grad = self.grads.astype(np.float64)
            if share != 1.0:
                loss *= share
                grad *= share
            return loss, grad

        with single_threaded_blas():
            return [(node, _tree.reduce(*node, leaf))
                    for node in _tree.held_nodes(self.spec.n_chunks, set(self.chunks))]

    def outputs_finite(self, params, rows=64):
        """Whether the network's outputs under params are finite on the first
        `rows` rows of this shard's first chunk (the in-memory fit's last
        check, on the fit's first rows)."""
        chunk = self.chunks[min(self.chunks)]
        params = np.asarray(params, dtype=self.net.dtype)
        with single_threaded_blas():
            out, _ = self.net.forward(_kernel_X(chunk.X[:rows], self.net.dtype), 1,
                                      params)
        return bool(np.isfinite(out).all())

    # -- stochastic solvers --------------------------------------------------
    def train_epoch(self, params, state1, state2, step, epoch, learning_rate):
        """One epoch on each chunk from the same start (see _stochastic)."""
        from ._stochastic import Trainer

        if self._trainer is None:
            self._trainer = Trainer(self.spec, self.net, self.chunks)
        with single_threaded_blas():
            return self._trainer.epoch(params, state1, state2, step, epoch,
                                       learning_rate)


class _WorkerLost(Exception):
    """A shard's worker left the cluster during a call."""


# What a future's result(timeout=...) raises when the time is up: on Python
# 3.10 asyncio's and concurrent.futures' TimeoutError are classes of their
# own (from 3.11, both are the builtin one).
_TIMEOUTS = tuple({TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError})


class ShardPool:
    """The client's side of a fit's shards: starts one per worker that holds
    chunks, calls them all, sums the tree, restarts them after a worker's
    death (see the module's docstring). Use as a context manager: leaving it
    releases the actors."""

    def __init__(self, client, chunk_futures, spec, *, max_restarts=3, poll=1.0):
        self.client = client
        self.futures = list(chunk_futures)
        self.spec = spec
        self.max_restarts = max_restarts
        self.poll = poll
        self.restarts = 0
        self._actors = []    # [(worker address, actor future, actor, chunk indices)]

    def __enter__(self):
        self.call(None)
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        futures = [f for _, f, _, _ in self._actors]
        self._actors = []
        if futures:
            # cancelled, not merely released: each actor's proxy holds a
            # future of its own to the same key (the keys are this pool's
            # alone: pure=False)
            self.client.cancel(futures)

    def _placement(self):
        """{worker address: [chunk indices]} where the chunks are now (after
        the scheduler has recomputed any that were lost)."""
        from distributed import wait

        wait(self.futures)
        who_has = self.client.who_has(self.futures)
        by_worker = {}
        for c, future in enumerate(self.futures):
            holders = sorted(who_has.get(future.key, ()))
            if not holders:
                raise _WorkerLost(f"chunk {c} of the fit is on no worker")
            by_worker.setdefault(holders[0], []).append(c)
        return by_worker

    def _start(self):
        """One shard on each worker holding chunks, holding those chunks."""
        for address, indices in sorted(self._placement().items()):
            future = self.client.submit(
                Shard, self.spec, indices, *[self.futures[c] for c in indices],
                actor=True, workers=[address], allow_other_workers=False, pure=False)
            self._actors.append((address, future, None, indices))
        self._actors = [(a, f, self._wait(f), i) for a, f, _, i in self._actors]

    def call(self, method, *args, chunk=None):
        """method(*args) on every shard (only on the one holding `chunk` if
        given): the node values of all, as one dict {(lo, hi): value}, or the
        one shard's answer (method None: only start the shards). When a
        shard's worker is lost, the shards are started again where the
        chunks then are and the call is repeated (max_restarts times a
        fit)."""
        while True:
            try:
                if not self._actors:
                    self._start()
                if method is None:
                    return None
                pending = [getattr(actor, method)(*args)
                           for _, _, actor, indices in self._actors
                           if chunk is None or chunk in indices]
                answers = [self._wait(p) for p in pending]
                if chunk is not None:
                    return answers[0]
                return {node: value for answer in answers for node, value in answer}
            # (dask 2025.1 raises ValueError("Worker holding Actor was lost");
            # newer releases other errors: which one matters less than
            # whether a shard's worker is gone, checked before retrying)
            except (OSError, RuntimeError, ValueError, _WorkerLost, *_TIMEOUTS):
                if self.restarts >= self.max_restarts or not self._lost_after_wait():
                    raise
                self.restarts += 1
                self.close()

    def _wait(self, pending):
        """The result of a pending actor call or actor creation. One bound to
        a worker that died may never come (an actor's task waits for the
        worker it is restricted to): every `poll` seconds without it, the
        shards' workers are checked."""
        while True:
            try:
                return pending.result(timeout=self.poll)
            except _TIMEOUTS:
                if self._workers_lost():
                    raise _WorkerLost() from None

    def _workers_lost(self):
        alive = set(worker_addresses(self.client))
        return any(address not in alive for address, _, _, _ in self._actors)

    def _lost_after_wait(self, patience=3.0):
        """Whether a shard's worker is gone (the scheduler may take a moment
        to notice a death)."""
        deadline = time.monotonic() + patience
        while True:
            if self._workers_lost():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def reduce(self, method, *args):
        """The root of the tree of method(*args)'s node values."""
        nodes = self.call(method, *args)

        def missing(c):
            raise RuntimeError(f"no shard answered for chunk {c}")

        return _tree.reduce(0, self.spec.n_chunks, missing, nodes)
