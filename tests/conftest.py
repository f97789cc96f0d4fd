import pytest
from sklearn.datasets import load_digits, make_regression


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def regression():
    X, y = make_regression(n_samples=600, n_features=12, n_informative=8, noise=5.0,
                           random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    return X, (y - y.mean()) / y.std()
