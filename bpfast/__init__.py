"""bpfast: fast backpropagation for Python.

``from bpfast import MLPClassifier, MLPRegressor`` is a drop-in for
scikit-learn's MLPs, trained by compiled, OpenMP-threaded Cython kernels that
call SciPy's BLAS.
"""

from ._mlp import MLPClassifier, MLPRegressor

__version__ = "0.1.0"
__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]
