"""bpfast: fast backpropagation for Python.

``from bpfast import MLPClassifier, MLPRegressor`` is a drop-in for
scikit-learn's MLPs, trained by compiled, OpenMP-threaded Cython kernels that
call SciPy's BLAS. With skl2onnx installed, ``skl2onnx.to_onnx(model, X[:1])``
converts a fitted model to ONNX.

``bpfast.from_sklearn(model)`` and ``estimator.to_sklearn()`` convert fitted
models between the two libraries; ``bpfast.patch_sklearn()`` (or
``python -m bpfast.patch script.py``) makes scikit-learn's own
``sklearn.neural_network`` hand out bpfast's estimators.

The kernels are compiled for several CPU levels (x86-64 baseline, v3, v4);
the best one this CPU runs is loaded at import (``BPFAST_CPU`` forces one).
``bpfast.show_config()`` (or ``python -m bpfast --version``) says which, and
what runs them: the OpenMP runtime, SciPy's BLAS, the thread budget.
"""

from ._display import LossCurveDisplay
from ._gradcheck import check_gradients
from ._mlp import MLPClassifier, MLPRegressor
from ._convert import ConversionWarning, from_sklearn
from ._patch import patch_sklearn, unpatch_sklearn
from ._config import show_config
from ._onnx import install as _install_onnx

# skl2onnx.to_onnx converts fitted bpfast models: the converters are
# registered now if skl2onnx is imported, else right after it is (see _onnx.py)
_install_onnx()

__version__ = "0.1.0"
__all__ = ["MLPClassifier", "MLPRegressor", "LossCurveDisplay", "check_gradients",
           "from_sklearn", "ConversionWarning", "patch_sklearn", "unpatch_sklearn",
           "show_config", "__version__"]
