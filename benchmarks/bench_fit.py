"""Training: one epoch of ``fit`` and of ``partial_fit`` (adam), per network
shape and dtype, bpfast beside scikit-learn."""
from ._common import DTYPES, LIBRARIES, SHAPE_NAMES, make_data, make_estimator


class FitEpoch:
    """``fit(X, y)`` with ``max_iter=1``: validation, initialisation and one
    epoch over ``X`` (a few dozen minibatches)."""

    params = (LIBRARIES, SHAPE_NAMES, DTYPES)
    param_names = ["library", "shape", "dtype"]
    timeout = 120

    def setup(self, library, shape, dtype):
        self.X, self.y, _, hidden, batch = make_data(shape, dtype)
        self.est = make_estimator(library, hidden, batch, max_iter=1)

    def time_fit_epoch(self, library, shape, dtype):
        self.est.fit(self.X, self.y)

    def peakmem_fit_epoch(self, library, shape, dtype):
        self.est.fit(self.X, self.y)


class PartialFit:
    """One ``partial_fit(X, y)`` call (one epoch) on an initialised network.
    (Its memory is FitEpoch's: same workspace, so no peakmem here.)"""

    params = (LIBRARIES, SHAPE_NAMES, DTYPES)
    param_names = ["library", "shape", "dtype"]
    timeout = 120

    def setup(self, library, shape, dtype):
        self.X, self.y, classes, hidden, batch = make_data(shape, dtype)
        self.est = make_estimator(library, hidden, batch)
        self.est.partial_fit(self.X, self.y, classes=classes)

    def time_partial_fit(self, library, shape, dtype):
        self.est.partial_fit(self.X, self.y)
