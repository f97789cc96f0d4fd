"""bpfast: fast backpropagation for Python.

``from bpfast import MLPClassifier, MLPRegressor`` is a drop-in for
scikit-learn's MLPs, trained by compiled, OpenMP-threaded Cython kernels that
call SciPy's BLAS.
"""

from ._display import LossCurveDisplay
from ._gradcheck import check_gradients
from ._mlp import MLPClassifier, MLPRegressor

__version__ = "0.1.0"
__all__ = ["MLPClassifier", "MLPRegressor", "LossCurveDisplay", "check_gradients",
           "__version__"]
