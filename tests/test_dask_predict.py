"""bpfast.dask's predict / predict_proba / predict_log_proba / score on dask input:
dask collections computed block by block on the workers, each block the
in-memory model's result on those rows; NumPy input as bpfast's."""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import accuracy_score, r2_score

import bpfast

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
distributed = pytest.importorskip("distributed")
bdask = pytest.importorskip("bpfast.dask")

pytestmark = [pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
              pytest.mark.filterwarnings("error:X does not have valid feature names")]
PARAMS = dict(hidden_layer_sizes=(12,), solver="lbfgs", max_iter=40, random_state=0)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        with client.as_current():
            yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def multiclass(client):
    X, y = make_classification(n_samples=600, n_features=7, n_informative=5,
                               n_classes=3, random_state=3)
    model = bdask.MLPClassifier(**PARAMS).fit(da.from_array(X, chunks=(200, 7)),
                                              da.from_array(y, chunks=200))
    return model, X, y


def blockwise(fn, X, rows):
    return np.concatenate([fn(X[i:i + rows]) for i in range(0, X.shape[0], rows)])


def test_predict_returns_dask_arrays(multiclass):
    model, X, y = multiclass
    Xd = da.from_array(X, chunks=(128, 7))
    for method, shape in (("predict", (600,)), ("predict_proba", (600, 3)),
                          ("predict_log_proba", (600, 3))):
        out = getattr(model, method)(Xd)
        assert isinstance(out, da.Array), method
        assert out.shape == shape and out.chunks[0] == Xd.chunks[0]
        computed = out.compute()
        assert computed.dtype == out.dtype
        # each block is the in-memory model's on those rows
        np.testing.assert_array_equal(computed,
                                      blockwise(getattr(model, method), X, 128))
        np.testing.assert_allclose(computed, getattr(model, method)(X), rtol=1e-12,
                                   atol=1e-14)
    assert isinstance(model.predict(X), np.ndarray)


def test_binary_and_labels_of_any_dtype(client):
    X, y = make_classification(n_samples=300, n_features=5, random_state=4)
    labels = np.array(["no", "yes"])[y]
    model = bdask.MLPClassifier(**PARAMS).fit(da.from_array(X, chunks=(100, 5)),
                                              da.from_array(labels, chunks=100))
    reference = bpfast.MLPClassifier(**PARAMS).fit(X, labels)
    np.testing.assert_array_equal(model.classes_, ["no", "yes"])
    Xd = da.from_array(X, chunks=(64, 5))
    np.testing.assert_array_equal(model.predict(Xd).compute(), reference.predict(X))
    proba = model.predict_proba(Xd)
    assert proba.shape == (300, 2)
    np.testing.assert_allclose(proba.compute().sum(axis=1), 1.0)


def test_regressor_predict_and_score(client):
    X, y = make_regression(n_samples=400, n_features=6, n_targets=2, noise=5.0,
                           random_state=5)
    X, y = (X - X.mean(0)) / X.std(0), (y - y.mean(0)) / y.std(0)
    model = bdask.MLPRegressor(**PARAMS).fit(da.from_array(X, chunks=(100, 6)),
                                             da.from_array(y, chunks=(100, 2)))
    Xd, yd = da.from_array(X, chunks=(150, 6)), da.from_array(y, chunks=(150, 2))
    pred = model.predict(Xd)
    assert isinstance(pred, da.Array) and pred.shape == (400, 2)
    np.testing.assert_array_equal(pred.compute(), blockwise(model.predict, X, 150))
    sw = np.random.default_rng(0).uniform(0.5, 2.0, 400)
    for weights in (None, sw, da.from_array(sw, chunks=100)):
        score = model.score(Xd, yd, sample_weight=weights)
        assert isinstance(score, float)
        expected = r2_score(y, model.predict(X),
                            sample_weight=None if weights is None else sw)
        assert score == pytest.approx(expected, rel=1e-12)
    assert model.score(Xd, yd) == pytest.approx(model.score(X, y), rel=1e-12)


def test_classifier_score(multiclass):
    model, X, y = multiclass
    Xd, yd = da.from_array(X, chunks=(100, 7)), da.from_array(y, chunks=100)
    assert model.score(Xd, yd) == pytest.approx(accuracy_score(y, model.predict(X)),
                                                 rel=1e-12)
    sw = np.linspace(0.1, 3.0, 600)
    assert model.score(Xd, yd, sample_weight=sw) == pytest.approx(
        accuracy_score(y, model.predict(X), sample_weight=sw), rel=1e-12)
    # y chunked otherwise than X: realigned
    assert model.score(Xd, da.from_array(y, chunks=250)) == model.score(Xd, yd)


def test_dataframe_of_unknown_partition_lengths(client):
    X, y = make_classification(n_samples=300, n_features=4, random_state=6)
    frame = pd.DataFrame(X, columns=list("abcd"))
    Xdf = dd.from_pandas(frame, npartitions=3)
    model = bdask.MLPClassifier(**PARAMS).fit(Xdf, dd.from_pandas(pd.Series(y),
                                                                  npartitions=3))
    filtered = Xdf[Xdf.a > 0]          # partitions of unknown length
    pred = model.predict(filtered)
    assert isinstance(pred, da.Array)
    np.testing.assert_array_equal(pred.compute(), model.predict(frame[frame.a > 0]))
    assert model.score(Xdf, dd.from_pandas(pd.Series(y), npartitions=3)) == \
        pytest.approx(model.score(frame, y), rel=1e-12)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(Xdf.rename(columns={"a": "z"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict(da.from_array(X, chunks=(100, 4)))


def test_wrong_feature_count(multiclass):
    model, X, _ = multiclass
    with pytest.raises(ValueError, match="X has 6 features.*expecting 7"):
        model.predict(da.from_array(X[:, :6], chunks=(100, 6)))


def test_model_travels_once(multiclass):
    """The model is one node of the graph, not copied into every task."""
    model, X, _ = multiclass
    graph = dict(model.predict_proba(da.from_array(X, chunks=(50, 7))).__dask_graph__())
    # a graph node holds the model: as itself (dask 2025.1) or in a
    # DataNode's value
    holding = [k for k, v in graph.items()
               if isinstance(v, bpfast.MLPClassifier)
               or isinstance(getattr(v, "value", None), bpfast.MLPClassifier)]
    assert len(holding) == 1
