"""bpfast on a Dask cluster: dask-ml's Incremental (training over a chunked
dask array, block by block on worker processes), ParallelPostFit (distributed
prediction) and scikit-learn's GridSearchCV under joblib's dask backend.

One LocalCluster of two single-threaded worker *processes* serves the module,
so estimators really are pickled to and trained in other interpreters.
"""
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

import bpfast

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")
joblib = pytest.importorskip("joblib")

EPOCHS = 8
CHUNK = 1000
PARAMS = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=5000, n_features=20, n_informative=10,
                               n_redundant=4, n_classes=3, class_sep=1.5, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=1000,
                                                        random_state=0)
    return X_train, X_test, y_train, y_test


def _chunked(*arrays, rows=CHUNK):
    return [da.from_array(a, chunks=(rows,) + a.shape[1:]) for a in arrays]


def test_incremental_matches_in_memory_accuracy(client, data):
    X_train, X_test, y_train, y_test = data
    classes = np.unique(y_train)

    in_memory = bpfast.MLPClassifier(**PARAMS)
    for _ in range(EPOCHS):
        in_memory.partial_fit(X_train, y_train, classes=classes)
    acc_memory = in_memory.score(X_test, y_test)

    X_d, y_d = _chunked(X_train, y_train)
    assert X_d.numblocks == (4, 1)
    inc = wrappers.Incremental(bpfast.MLPClassifier(**PARAMS), scoring="accuracy",
                               random_state=0)
    for _ in range(EPOCHS):  # one pass over the blocks = one epoch
        inc.partial_fit(X_d, y_d, classes=classes)

    model = inc.estimator_
    assert isinstance(model, bpfast.MLPClassifier)
    assert model.t_ == EPOCHS * len(X_train)  # every block, every epoch
    np.testing.assert_array_equal(model.classes_, classes)
    # The blocks were trained in the worker processes.
    assert any(client.run(lambda: "bpfast" in sys.modules).values())

    X_test_d, y_test_d = _chunked(X_test, y_test, rows=250)
    acc_dask = inc.score(X_test_d, y_test_d)
    assert acc_memory > 0.9
    assert acc_dask >= acc_memory - 0.01, (acc_dask, acc_memory)

    # Incremental predicts block-wise on the cluster, like the model in memory.
    pred = inc.predict(X_test_d)
    assert isinstance(pred, da.Array)
    np.testing.assert_array_equal(pred.compute(), model.predict(X_test))


def test_parallel_post_fit_predicts_on_the_cluster(client, data):
    X_train, X_test, y_train, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ppf = wrappers.ParallelPostFit(bpfast.MLPClassifier(max_iter=20, **PARAMS))
        ppf.fit(X_train, y_train)
    local = ppf.estimator  # ParallelPostFit fits its estimator in place
    X_d = _chunked(X_test, rows=200)[0]

    with distributed.get_task_stream(client) as tasks:
        pred = ppf.predict(X_d)
        proba = ppf.predict_proba(X_d)
        assert isinstance(pred, da.Array) and isinstance(proba, da.Array)
        pred, proba = client.compute([pred, proba], sync=True)
    assert len(tasks.data) >= X_d.numblocks[0]
    np.testing.assert_array_equal(pred, local.predict(X_test))
    np.testing.assert_allclose(proba, local.predict_proba(X_test), rtol=1e-12, atol=0)


def test_grid_search_with_joblib_dask_backend(client, data):
    X_train, _, y_train, _ = data
    X, y = X_train[:600], y_train[:600]
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(8,), (16,)]}

    def search():
        est = bpfast.MLPClassifier(max_iter=15, learning_rate_init=0.01, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GridSearchCV(est, grid, cv=3).fit(X, y)

    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_backend("dask"):
            on_dask = search()
    # The 4 candidates x 3 folds ran on the workers (joblib batches them into
    # fewer tasks).
    assert len(tasks.data) > 0
    assert {t["worker"] for t in tasks.data} <= set(client.nthreads())
    local = search()

    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=1e-12)
    assert on_dask.best_params_ == local.best_params_
    assert isinstance(on_dask.best_estimator_, bpfast.MLPClassifier)
    np.testing.assert_array_equal(on_dask.predict(X), local.predict(X))
