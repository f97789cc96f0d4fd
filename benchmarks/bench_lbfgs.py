"""Full-batch training: ``solver="lbfgs"``, a few iterations, bpfast beside
scikit-learn."""
from ._common import DTYPES, LIBRARIES, SHAPE_NAMES, make_data, make_estimator

ROWS = 1000
ITERATIONS = 5


class Lbfgs:
    """``fit`` with ``solver="lbfgs", max_iter=5`` on 1000 rows (each
    iteration is one or more full-batch loss-and-gradient evaluations)."""

    params = (LIBRARIES, SHAPE_NAMES, DTYPES)
    param_names = ["library", "shape", "dtype"]
    timeout = 120

    def setup(self, library, shape, dtype):
        self.X, self.y, _, hidden, batch = make_data(shape, dtype, n_rows=ROWS)
        self.est = make_estimator(library, hidden, batch, solver="lbfgs",
                                  max_iter=ITERATIONS)

    def time_lbfgs(self, library, shape, dtype):
        self.est.fit(self.X, self.y)

    def peakmem_lbfgs(self, library, shape, dtype):
        self.est.fit(self.X, self.y)
