"""bpfast: fast backpropagation for Python.

``from bpfast import MLPClassifier, MLPRegressor`` is a drop-in for
scikit-learn's MLPs, trained by compiled, OpenMP-threaded Cython kernels that
call SciPy's BLAS. With skl2onnx installed, ``skl2onnx.to_onnx(model, X[:1])``
converts a fitted model to ONNX.
"""

from ._display import LossCurveDisplay
from ._gradcheck import check_gradients
from ._mlp import MLPClassifier, MLPRegressor
from ._onnx import install as _install_onnx

# skl2onnx.to_onnx converts fitted bpfast models: the converters are
# registered now if skl2onnx is imported, else right after it is (see _onnx.py)
_install_onnx()

__version__ = "0.1.0"
__all__ = ["MLPClassifier", "MLPRegressor", "LossCurveDisplay", "check_gradients",
           "__version__"]
