"""Inference: ``predict_proba`` over 4096 rows, per network shape and dtype,
bpfast beside scikit-learn."""
from ._common import DTYPES, LIBRARIES, SHAPE_NAMES, make_data, make_estimator

ROWS = 4096


class PredictProba:
    """``predict_proba(X)`` of a network trained for one epoch."""

    params = (LIBRARIES, SHAPE_NAMES, DTYPES)
    param_names = ["library", "shape", "dtype"]
    timeout = 120

    def setup(self, library, shape, dtype):
        X, y, _, hidden, batch = make_data(shape, dtype)
        self.est = make_estimator(library, hidden, batch, max_iter=1).fit(X, y)
        self.X = make_data(shape, dtype, n_rows=ROWS, seed=1)[0]

    def time_predict_proba(self, library, shape, dtype):
        self.est.predict_proba(self.X)

    def peakmem_predict_proba(self, library, shape, dtype):
        self.est.predict_proba(self.X)
