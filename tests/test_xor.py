"""The classic from the backprop texts: a tiny logistic network learns XOR."""
import numpy as np
import pytest

from bpfast import MLPClassifier

X_XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y_XOR = np.array([0, 1, 1, 0])


@pytest.mark.parametrize("hidden", [(2,), (3,)])
def test_xor_is_learned(hidden):
    clf = MLPClassifier(hidden_layer_sizes=hidden, activation="logistic", solver="lbfgs",
                        random_state=0, max_iter=2000, tol=1e-8)
    clf.fit(X_XOR, Y_XOR)
    assert (clf.predict(X_XOR) == Y_XOR).all()


def test_xor_with_adam():
    clf = MLPClassifier(hidden_layer_sizes=(3,), activation="logistic", solver="adam",
                        learning_rate_init=0.1, max_iter=3000, tol=0, n_iter_no_change=10**6,
                        random_state=0)
    clf.fit(X_XOR, Y_XOR)
    assert (clf.predict(X_XOR) == Y_XOR).all()


def test_xor_local_minima_are_scikit_learns():
    """With 2 hidden units XOR has local minima; bpfast lands in exactly the
    same ones as scikit-learn for the same seeds."""
    from sklearn.neural_network import MLPClassifier as SkClassifier

    def solved(cls, seed):
        clf = cls((2,), activation="logistic", solver="lbfgs", random_state=seed,
                  max_iter=2000, tol=1e-8).fit(X_XOR, Y_XOR)
        return bool((clf.predict(X_XOR) == Y_XOR).all())

    ours = [solved(MLPClassifier, s) for s in range(10)]
    theirs = [solved(SkClassifier, s) for s in range(10)]
    assert ours == theirs
    assert any(ours) and not all(ours)
