"""Train bpfast on a Dask cluster, block by block, with dask-ml's Incremental.

    pip install "dask[array]" distributed dask-ml
    python examples/dask_incremental.py                       # a LocalCluster here
    python examples/dask_incremental.py --scheduler tcp://HOST:8786   # a real cluster

What it does:

1. builds a chunked dask array (``--rows`` rows in blocks of ``--chunk`` rows);
   on a real cluster the blocks would come from ``dd.read_parquet`` /
   ``da.from_zarr`` and never meet in one machine's memory;
2. trains ``Incremental(bpfast.MLPClassifier(...))``: every ``partial_fit`` pass
   sends the model to the workers, which train it on one block after another
   (one epoch over the data per pass);
3. compares test accuracy with the same model trained in memory;
4. predicts block-wise on the workers (Incremental is a ParallelPostFit);
5. runs scikit-learn's GridSearchCV with joblib's dask backend, so the
   candidate fits run on the cluster's workers.

The workers need bpfast installed (the same version as the client).
"""
import argparse
import time
import warnings

import dask.array as da
import joblib
import numpy as np
from dask_ml.wrappers import Incremental, ParallelPostFit
from distributed import Client, LocalCluster
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

import bpfast


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scheduler", help="address of a running dask scheduler, e.g. "
                        "tcp://10.0.0.5:8786; default: start a LocalCluster here")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=2_500)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)

    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               processes=True)
        client = Client(cluster)
    try:
        print(client)
        print("dashboard:", client.dashboard_link)
        run(client, args)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run(client, args):
    X, y = make_classification(n_samples=args.rows + 2_000, n_features=20,
                               n_informative=10, n_redundant=4, n_classes=3,
                               class_sep=1.5, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=2_000,
                                                        random_state=0)
    classes = np.unique(y)
    params = dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, random_state=0)

    # Chunked along rows only (Incremental needs whole rows per block). On a
    # real cluster, scatter or load the data on the workers instead of
    # shipping it from here.
    X_d = da.from_array(X_train, chunks=(args.chunk, X.shape[1]))
    y_d = da.from_array(y_train, chunks=args.chunk)
    X_test_d = da.from_array(X_test, chunks=(args.chunk, X.shape[1]))
    y_test_d = da.from_array(y_test, chunks=args.chunk)
    X_d, y_d = client.persist([X_d, y_d])

    # -- 1. Incremental: one partial_fit pass over the blocks = one epoch.
    t = time.perf_counter()
    inc = Incremental(bpfast.MLPClassifier(**params), scoring="accuracy", random_state=0)
    for epoch in range(args.epochs):
        inc.partial_fit(X_d, y_d, classes=classes)
        print(f"epoch {epoch + 1:2d}: loss on the last block {inc.estimator_.loss_:.4f}")
    t_dask = time.perf_counter() - t
    acc_dask = inc.score(X_test_d, y_test_d)

    # -- 2. The same model, the same epochs, in this process's memory.
    t = time.perf_counter()
    mem = bpfast.MLPClassifier(**params)
    for _ in range(args.epochs):
        mem.partial_fit(X_train, y_train, classes=classes)
    t_mem = time.perf_counter() - t
    acc_mem = mem.score(X_test, y_test)
    print(f"Incremental on dask: accuracy {acc_dask:.4f}  ({t_dask:.1f} s, "
          f"{X_d.numblocks[0]} blocks x {args.epochs} epochs)")
    print(f"in memory          : accuracy {acc_mem:.4f}  ({t_mem:.1f} s)")

    # -- 3. Distributed prediction: block-wise on the workers, lazily.
    pred = inc.predict(X_test_d)  # a dask array; nothing computed yet
    print("distributed predict agrees with the in-memory model:",
          bool(np.array_equal(pred.compute(), inc.estimator_.predict(X_test))))
    ppf = ParallelPostFit(mem)  # any fitted model can predict on the cluster
    proba = ppf.predict_proba(X_test_d).compute()
    print("ParallelPostFit predict_proba:", proba.shape)

    # -- 4. Hyper-parameter search, candidates fitted on the workers.
    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(32,), (64,)]}
    search = GridSearchCV(bpfast.MLPClassifier(max_iter=20, learning_rate_init=0.01,
                                               random_state=0), grid, cv=3)
    t = time.perf_counter()
    with joblib.parallel_backend("dask"):
        search.fit(X_train[:4_000], y_train[:4_000])
    print(f"GridSearchCV on dask: best {search.best_params_} "
          f"cv accuracy {search.best_score_:.4f} ({time.perf_counter() - t:.1f} s)")
    return acc_dask, acc_mem


if __name__ == "__main__":
    main()
