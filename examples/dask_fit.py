"""Train bpfast data-parallel on a Dask cluster: the in-memory model, the rows on the workers.

    pip install "dask[array]" distributed
    python examples/dask_fit.py                                  # a LocalCluster here
    python examples/dask_fit.py --scheduler tcp://HOST:8786      # a real cluster

What it does:

1. generates X (``--rows`` x 20, chunked by ``--chunk`` rows) and its labels on
   the workers: on a real cluster they would come from ``dd.read_parquet`` or
   ``da.from_zarr`` and never meet in one machine's memory;
2. fits ``bpfast.dask.MLPClassifier(solver="lbfgs")``: each L-BFGS evaluation
   asks every worker for its chunks' loss and gradient under the current
   weights (one actor call a worker), sums them in a fixed tree, and steps on
   the client; the model is the one bpfast fits in memory on the same rows;
3. fits the same model in memory on the same rows (``--rows`` small enough)
   and compares the losses;
4. predicts block-wise on the workers and scores there.

Starting a real cluster (every machine with the same bpfast, scikit-learn
and numpy):

    dask scheduler                                            # on one host
    dask worker tcp://HOST:8786 --nworkers 1 --nthreads 1     # on each other host

bpfast's kernels thread themselves with OpenMP, so give each worker process
one Dask thread and the host's cores as OpenMP threads. The nanny sets
OMP_NUM_THREADS=1 in the workers it spawns (``distributed.nanny.pre-spawn-environ``);
set it to the cores a worker may use, e.g. in ``~/.config/dask/distributed.yaml``:

    distributed:
      nanny:
        pre-spawn-environ:
          OMP_NUM_THREADS: 16

or ``DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__OMP_NUM_THREADS=16`` in the
worker's environment. dask-jobqueue: ``SLURMCluster(cores=16, processes=1,
job_script_prologue=["export OMP_NUM_THREADS=16"])`` and then
``cluster.scale(jobs=4)``; Kubernetes (dask-kubernetes' ``KubeCluster``):
``env={"OMP_NUM_THREADS": "16"}`` and ``resources`` of 16 CPUs a worker.
"""
import argparse
import time
import warnings

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning

import bpfast
import bpfast.dask


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scheduler", help="address of a running dask scheduler, e.g. "
                        "tcp://10.0.0.5:8786; default: start a LocalCluster here")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=25_000)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)

    if args.scheduler:
        client, cluster = Client(args.scheduler), None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               processes=True)
        client = Client(cluster)
    try:
        print(client)
        run(client, args)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run(client, args):
    # the data, made on the workers
    rs = da.random.RandomState(0)
    X = rs.standard_normal((args.rows, 20), chunks=(args.chunk, 20))
    teacher = np.random.RandomState(1).standard_normal((20, 3))
    y = (X @ teacher).argmax(axis=1)
    X, y = client.persist([X, y])

    params = dict(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=args.iterations,
                  random_state=0)
    start = time.perf_counter()
    model = bpfast.dask.MLPClassifier(**params).fit(X, y)
    print(f"bpfast.dask: {model.n_iter_} iterations in {time.perf_counter() - start:.2f} s,"
          f" loss {model.loss_:.10f}")

    if args.rows <= 1_000_000:
        X_local, y_local = client.compute([X, y], sync=True)
        start = time.perf_counter()
        local = bpfast.MLPClassifier(**params).fit(X_local, y_local)
        print(f"in memory:   {local.n_iter_} iterations in "
              f"{time.perf_counter() - start:.2f} s, loss {local.loss_:.10f}")

    predictions = model.predict(X)            # a dask array, computed on the workers
    print("first predictions:", predictions[:10].compute())
    print("accuracy (reduced on the workers):", model.score(X, y))


if __name__ == "__main__":
    main()
