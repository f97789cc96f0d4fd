"""What scikit-learn's MLP users keep asking for: class_weight, an explicit
validation set, a monitor hook, more activations, loss-curve plots."""
import re

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils.class_weight import compute_sample_weight

from bpfast import LossCurveDisplay, MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


def imbalanced(n=2000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 6)
    score = X[:, 0] + 0.8 * X[:, 1] - 0.5 * X[:, 2] + 0.7 * rng.randn(n)
    y = (score > 2.0).astype(int)  # about 4% positives
    return X, y


# -- class_weight -------------------------------------------------------------------------
def test_class_weight_balanced_helps_the_minority():
    X, y = imbalanced()
    X_te, y_te = imbalanced(seed=1)
    params = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0)
    plain = MLPClassifier(**params).fit(X, y)
    balanced = MLPClassifier(class_weight="balanced", **params).fit(X, y)
    b_plain = balanced_accuracy_score(y_te, plain.predict(X_te))
    b_bal = balanced_accuracy_score(y_te, balanced.predict(X_te))
    assert b_bal > b_plain + 0.05


@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 5.0}])
def test_class_weight_is_sample_weight(class_weight):
    X, y = imbalanced(400)
    w = np.random.RandomState(0).uniform(0.5, 2, y.size)
    params = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    a = MLPClassifier(class_weight=class_weight, **params).fit(X, y, sample_weight=w)
    expected = w * compute_sample_weight(class_weight, y)
    b = MLPClassifier(**params).fit(X, y, sample_weight=expected)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])


def test_class_weight_multiclass_strings_and_multilabel(digits):
    X, y = digits
    labels = np.array(list("abcdefghij"))[y]
    cw = {c: (3.0 if c == "a" else 1.0) for c in "abcdefghij"}
    a = MLPClassifier((8,), class_weight=cw, max_iter=3, random_state=0).fit(X, labels)
    b = MLPClassifier((8,), max_iter=3, random_state=0).fit(
        X, labels, sample_weight=np.where(labels == "a", 3.0, 1.0))
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    Y = np.stack([y % 2, (y > 6).astype(int)], axis=1)
    c = MLPClassifier((8,), class_weight="balanced", max_iter=3, random_state=0).fit(X, Y)
    d = MLPClassifier((8,), max_iter=3, random_state=0).fit(
        X, Y, sample_weight=compute_sample_weight("balanced", Y))
    np.testing.assert_array_equal(c.coefs_[0], d.coefs_[0])


# -- eval_set ---------------------------------------------------------------------------------
def test_eval_set_replaces_the_internal_split(digits):
    X, y = digits
    X_tr, y_tr, X_val, y_val = X[:1400], y[:1400], X[1400:], y[1400:]
    clf = MLPClassifier((20,), early_stopping=True, n_iter_no_change=3, max_iter=80,
                        random_state=0, learning_rate_init=0.01)
    clf.fit(X_tr, y_tr, eval_set=(X_val, y_val))
    assert clf.t_ == clf.n_iter_ * 1400  # every training row is trained on
    assert len(clf.validation_scores_) == len(clf.validation_loss_curve_) == clf.n_iter_
    # best weights restored: the final model scores the best validation score
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)
    best = int(np.argmax(clf.validation_scores_))
    assert clf.n_iter_ - 1 - best >= 3


def test_validation_loss_curve_is_the_loss_on_the_validation_set(digits):
    from sklearn.metrics import log_loss

    X, y = digits
    clf = MLPClassifier((10,), max_iter=4, random_state=0)
    clf.fit(X[:1500], y[:1500], eval_set=(X[1500:], y[1500:]))
    assert clf.validation_scores_[-1] == pytest.approx(clf.score(X[1500:], y[1500:]))
    expected = log_loss(y[1500:], clf.predict_proba(X[1500:]), labels=clf.classes_)
    assert clf.validation_loss_curve_[-1] == pytest.approx(expected, rel=1e-6)
    # without early stopping, stopping and best_loss_ follow the training loss
    assert clf.best_loss_ == min(clf.loss_curve_)


def test_internal_split_also_records_validation_loss(regression):
    X, y = regression
    reg = MLPRegressor(hidden_layer_sizes=(10,), early_stopping=True, max_iter=10,
                       random_state=0).fit(X, y)
    assert len(reg.validation_loss_curve_) == reg.n_iter_
    assert all(np.isfinite(reg.validation_loss_curve_))


def test_eval_set_errors(digits):
    X, y = digits
    clf = MLPClassifier((5,), max_iter=2)
    with pytest.raises(ValueError, match="eval_set"):
        clf.fit(X, y, eval_set=X)
    with pytest.raises(ValueError, match="different numbers of rows"):
        clf.fit(X, y, eval_set=(X[:10], y[:9]))
    with pytest.raises(ValueError, match="features"):
        clf.fit(X, y, eval_set=(X[:10, :5], y[:10]))
    with pytest.raises(ValueError, match="classes not seen"):
        MLPClassifier((5,), max_iter=2).fit(X[y < 5], y[y < 5], eval_set=(X, y))


# -- monitor ------------------------------------------------------------------------------------
def test_monitor_stops_training_and_sees_each_epoch(digits):
    X, y = digits
    seen = []

    def monitor(epoch, est, info):
        seen.append((epoch, dict(info)))
        return epoch >= 4

    clf = MLPClassifier((10,), max_iter=50, random_state=0)
    clf.fit(X[:1500], y[:1500], eval_set=(X[1500:], y[1500:]), monitor=monitor)
    assert clf.n_iter_ == 4 and [e for e, _ in seen] == [1, 2, 3, 4]
    assert seen[-1][1]["loss"] == clf.loss_curve_[-1]
    assert seen[-1][1]["validation_score"] == clf.validation_scores_[-1]
    assert seen[-1][1]["validation_loss"] == clf.validation_loss_curve_[-1]


def test_monitor_with_partial_fit_and_not_callable(digits):
    X, y = digits
    calls = []
    clf = MLPClassifier((10,), random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=np.arange(10),
                        monitor=lambda e, est, info: calls.append(e) or False)
    assert calls == [1, 2, 3]
    with pytest.raises(TypeError, match="monitor must be callable"):
        MLPClassifier().fit(X, y, monitor=5)


def test_without_monitor_results_are_unchanged(digits):
    X, y = digits
    a = MLPClassifier((10,), max_iter=3, random_state=0).fit(X, y)
    b = MLPClassifier((10,), max_iter=3, random_state=0).fit(
        X, y, monitor=lambda *args: False)
    assert a.loss_curve_ == b.loss_curve_



@pytest.mark.parametrize("solver, validation", [("adam", "eval_set"), ("sgd", None),
                                                ("rmsprop", "early_stopping")])
def test_monitor_may_copy_and_pickle_the_estimator(digits, solver, validation):
    """Keeping the best model by copying it in the monitor leaves the fit as
    it would be without: the same weights and curves, and the copies are the
    model at their epoch."""
    import copy
    import pickle

    X, y = digits
    params = dict(hidden_layer_sizes=(16,), max_iter=6, random_state=0, solver=solver,
                  early_stopping=validation is not None)
    fit_args = dict(eval_set=(X[1500:], y[1500:])) if validation == "eval_set" else {}
    plain = MLPClassifier(**params).fit(X[:1500], y[:1500], **fit_args)
    kept = {}

    def monitor(epoch, est, info):
        if epoch == 2:
            kept["deepcopy"] = copy.deepcopy(est)
            kept["pickle"] = pickle.loads(pickle.dumps(est))
            kept["coefs"] = [c.copy() for c in est.coefs_]
        return False

    copied = MLPClassifier(**params).fit(X[:1500], y[:1500], monitor=monitor, **fit_args)
    for a, b in zip(plain.coefs_ + plain.intercepts_, copied.coefs_ + copied.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert copied.loss_ == plain.loss_ and copied.n_iter_ == plain.n_iter_
    assert copied.loss_curve_ == plain.loss_curve_
    if validation:
        assert copied.validation_scores_ == plain.validation_scores_
        assert copied.validation_loss_curve_ == plain.validation_loss_curve_
    for name in ("deepcopy", "pickle"):
        for a, b in zip(kept["coefs"], kept[name].coefs_):
            np.testing.assert_array_equal(a, b)


# -- activations ---------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["leaky_relu", "elu"])
def test_new_activations_train(digits, activation):
    X, y = digits
    params = dict(hidden_layer_sizes=(40,), max_iter=40, random_state=0)
    clf = MLPClassifier(activation=activation, **params).fit(X[:1400], y[:1400])
    relu = MLPClassifier(activation="relu", **params).fit(X[:1400], y[:1400])
    # the last 397 digits are the hard ones: relu scores ~0.87 there
    assert clf.score(X[1400:], y[1400:]) > relu.score(X[1400:], y[1400:]) - 0.02
    assert clf.score(X[:1400], y[:1400]) > relu.score(X[:1400], y[:1400]) - 0.02


def test_leaky_relu_with_zero_slope_is_relu(digits):
    X, y = digits
    a = MLPClassifier((10,), activation="relu", max_iter=3, random_state=0).fit(X, y)
    b = MLPClassifier((10,), activation="leaky_relu", negative_slope=0.0, max_iter=3,
                      random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])


# -- LossCurveDisplay ------------------------------------------------------------------------------
def test_loss_curve_display(digits, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    X, y = digits
    clf = MLPClassifier((10,), early_stopping=True, max_iter=8, random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(clf)
    np.testing.assert_array_equal(disp.lines_["loss"].get_ydata(), clf.loss_curve_)
    np.testing.assert_array_equal(disp.lines_["validation_loss"].get_ydata(),
                                  clf.validation_loss_curve_)
    np.testing.assert_array_equal(disp.lines_["validation_score"].get_ydata(),
                                  clf.validation_scores_)
    assert disp.figure_ is disp.ax_.figure
    disp.figure_.savefig(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="records no loss curve"):
        LossCurveDisplay.from_estimator(
            MLPClassifier((3,), solver="lbfgs", max_iter=5).fit(X, y))


def test_main_writes_the_plot(tmp_path, capsys):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from bpfast.__main__ import main

    out = tmp_path / "demo.png"
    assert main(["--hidden", "8", "--max-iter", "5", "--repeat", "1",
                 "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bpfast" in text and "scikit-learn" in text and "speedup" in text
    assert out.stat().st_size > 1000


def test_main_alternates_and_reports_the_median_ratio(capsys, monkeypatch):
    import bpfast.__main__ as demo
    from bpfast._threads import kernel_threads

    # Fits really run; their times are made up so the medians are known: per solver,
    # scikit-learn takes 6 then 2 s, bpfast 1 then 1 s -> ratios 6 and 2, median 4.
    calls = []
    fake = {"sklearn": iter([6.0, 2.0] * 3), "bpfast": iter([1.0, 1.0] * 3)}

    def fit_timed(est, X, y):
        est.fit(X, y)
        library = type(est).__module__.split(".")[0]
        calls.append(library)
        return next(fake[library])

    monkeypatch.setattr(demo, "_fit_timed", fit_timed)
    assert demo.main(["--hidden", "4", "--max-iter", "2", "--repeat", "2"]) == 0
    assert calls == ["sklearn", "bpfast"] * 6
    text = capsys.readouterr().out
    assert "2 round(s) of alternating fits" in text and "speedup" in text
    for solver in ("adam", "sgd", "lbfgs"):
        sk = re.search(rf"^{solver}\s+scikit-learn\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s*$",
                       text, flags=re.M)
        bp = re.search(rf"^{solver}\s+bpfast\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+"
                       r"([\d.]+)x \(([\d.]+)-([\d.]+)\)\s*$", text, flags=re.M)
        assert sk and bp, text
        assert float(sk.group(2)) == 4.0 and float(bp.group(2)) == 1.0  # median times
        assert 0 <= float(bp.group(1)) <= 1 and 1 <= int(bp.group(3)) <= 2
        assert bp.groups()[3:] == ("4.0", "2.0", "6.0")  # median ratio (min-max)
    load = re.search(r"^load average \(1 min\): (\S+) before, (\S+) after, on \d+ cores; "
                     r"bpfast used (\d+) threads?$", text, flags=re.M)
    assert load, text
    assert int(load.group(3)) == kernel_threads()


def test_main_runs_unpatched(capsys):
    from bpfast.__main__ import main

    assert main(["--hidden", "4", "--max-iter", "2", "--repeat", "2", "--float32"]) == 0
    text = capsys.readouterr().out
    assert len(re.findall(r"^\w+\s+bpfast\s.*\d+\.\dx \(\d+\.\d-\d+\.\d\)$", text,
                          flags=re.M)) == 3


def test_progress_output(digits, capsys, monkeypatch):
    X, y = digits
    monkeypatch.setenv("BPFAST_PROGRESS", "plain")
    MLPClassifier((5,), max_iter=2, verbose=True, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert out.startswith("Iteration 1, loss = ")
    pytest.importorskip("tqdm")
    monkeypatch.setenv("BPFAST_PROGRESS", "tqdm")
    MLPClassifier((5,), max_iter=2, verbose=True, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert "Iteration" not in captured.out
    assert "epoch" in captured.err and "loss=" in captured.err
