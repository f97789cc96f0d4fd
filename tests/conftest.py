import pytest
from sklearn.datasets import load_digits, make_regression


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "openmp_threads: the test needs the kernels to run on two OpenMP "
        "threads or more; skipped in a serial build (no OpenMP)")


def pytest_collection_modifyitems(config, items):
    """A build made where the compiler had no OpenMP (setup.py: serial, with a
    warning) runs every kernel on one thread: the tests of thread counts,
    teams and their budgets skip there, saying why. Everything else runs."""
    from bpfast import _kernels

    if _kernels.OPENMP:
        return
    skip = pytest.mark.skip(reason="a serial build (the compiler had no OpenMP): the "
                                   "kernels run on one thread, so there is no thread "
                                   "count or team to test")
    for item in items:
        if item.get_closest_marker("openmp_threads"):
            item.add_marker(skip)


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
