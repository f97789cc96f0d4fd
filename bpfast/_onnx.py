"""ONNX export of fitted MLPClassifier / MLPRegressor through skl2onnx.

skl2onnx converts an estimator whose class has a registered converter and
shape calculator. This module registers both for bpfast's two estimators, so
that ``skl2onnx.to_onnx(model, X[:1])`` (and ``convert_sklearn``) converts a
fitted bpfast model, alone or as a step of a Pipeline, with nothing else to
call:

- skl2onnx is optional and ``import bpfast`` does not import it (its import
  pulls in onnx and most of scikit-learn);
- when bpfast is imported after skl2onnx, the converters are registered then;
- otherwise bpfast puts a finder on ``sys.meta_path`` that registers them
  right after skl2onnx's own import has run, and then removes itself.

The graph, in float64 when the input is a float64 tensor and in float32
otherwise (the input is cast if it is of another type, the weights are stored
in the graph's type):

- per layer one ``Gemm`` (``A @ coefs_[i] + intercepts_[i]``), then the
  hidden activation: ``Sigmoid`` (logistic), ``Tanh``, ``Relu``,
  ``LeakyRelu`` (alpha = ``negative_slope``), ``Elu`` (alpha =
  ``elu_alpha``), nothing for identity. In float64 graphs leaky_relu and
  elu are built of elementwise operators instead (see _hidden_activation);
- classifier: ``Softmax`` (multiclass), ``Sigmoid`` then ``[1 - p, p]``
  (binary), ``Sigmoid`` (multilabel) give the probabilities; the labels are
  the classes at the probabilities' ``ArgMax`` (a binary model's positive
  class where p > 0.5, as predict decides), or the outputs above 0.5 as
  int64 (multilabel). Integer, bool and integral float classes come out as
  int64 labels, string classes as strings (skl2onnx's conventions). The
  options of skl2onnx's own MLPClassifier apply: ``zipmap`` (True, False,
  'columns'), ``nocl`` and ``output_class_labels``; skl2onnx's classifier
  parser, which reads them, is the one registered. ONNX's ZipMap takes
  float32: with zipmap=True (the default) a float64 graph gives its
  probabilities as float32 (its labels are read before that cast);
- regressor: the output layer, through ``Exp`` for ``loss='poisson'``; one
  (N, n_outputs) tensor, also for a single output (skl2onnx's regressors
  give (N, 1)).
"""

import numbers
import warnings

import numpy as np

from ._startup import after_import

CLASSIFIER_ALIAS = "BpfastMLPClassifier"
REGRESSOR_ALIAS = "BpfastMLPRegressor"

_registered = False


# -- registration --------------------------------------------------------------
def register():
    """Register bpfast's converters with skl2onnx (importing it). Idempotent."""
    global _registered
    if _registered:
        return
    from skl2onnx import update_registered_converter

    from ._mlp import MLPClassifier, MLPRegressor

    # options naming "zipmap" make skl2onnx register its classifier parser
    # for the class: a label and a probability output, and the ZipMap after
    update_registered_converter(
        MLPClassifier, CLASSIFIER_ALIAS, _classifier_shapes, _convert_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False],
                 "output_class_labels": [False, True]})
    update_registered_converter(MLPRegressor, REGRESSOR_ALIAS, _regressor_shapes,
                                _convert_regressor)
    _registered = True


def _register_or_warn():
    try:
        register()
    except Exception as exc:  # never break the import of skl2onnx itself
        warnings.warn(f"bpfast could not register its ONNX converters with skl2onnx: "
                      f"{exc!r}", RuntimeWarning, stacklevel=2)


def install():
    """Called by ``import bpfast``: register now if skl2onnx is imported,
    else right after it is (nothing is imported here; see _startup)."""
    after_import("skl2onnx", _register_or_warn)


# -- shared pieces ------------------------------------------------------------------
def _is_double(variable):
    from skl2onnx.common.data_types import DoubleTensorType
    return isinstance(variable.type, DoubleTensorType)


def _float_tensor_type(operator):
    """The tensor type of the graph's floats: float64 for a float64 input."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    return DoubleTensorType if _is_double(operator.inputs[0]) else FloatTensorType


def _check_operator(operator, n_outputs):
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(operator.raw_operator)
    if len(operator.inputs) != 1:
        raise RuntimeError(
            f"{operator.raw_operator.__class__.__name__} takes one input tensor (all "
            f"features), got {len(operator.inputs)} (skl2onnx makes one per column of "
            "a DataFrame: convert with a numpy array, e.g. X.to_numpy()[:1]).")
    if len(operator.outputs) != n_outputs:
        raise RuntimeError(f"{operator.type} expects {n_outputs} outputs, "
                           f"got {len(operator.outputs)}.")


def _constant(scope, container, seed, array):
    """An initializer holding the numeric array (raw bytes); returns its name."""
    from onnx import numpy_helper
    name = scope.get_unique_variable_name(seed)
    tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
    container.add_initializer(name, tensor.data_type, list(array.shape), tensor)
    return name


def _node(scope, container, op_type, inputs, output=None, seed=None, **attrs):
    """Adds one node; returns its output's name (a new one unless given)."""
    if output is None:
        output = scope.get_unique_variable_name(seed or op_type.lower())
    container.add_node(op_type, inputs, output,
                       name=scope.get_unique_operator_name(op_type), **attrs)
    return output


def _hidden_activation(scope, container, model, z, double):
    """The hidden layers' activation of z; returns the name of the result.

    onnxruntime's CPU kernels of LeakyRelu and Elu take float32 only, and
    ONNX holds their alpha as a float32 attribute: in float64 graphs both are
    made of operators that compute in float64, with the slope a float64
    constant (leaky_relu: max(z, slope z), min for a slope above 1; elu:
    where(z > 0, z, alpha (exp(z) - 1)))."""
    activation = model.activation
    if activation == "identity":
        return z
    if activation in ("logistic", "tanh", "relu"):
        op_type = {"logistic": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}[activation]
        return _node(scope, container, op_type, z, seed="hidden")
    if activation == "leaky_relu":
        slope = float(model.negative_slope)
        if not double:
            return _node(scope, container, "LeakyRelu", z, seed="hidden", alpha=slope)
        scaled = _node(scope, container, "Mul", [z, _scalar(scope, container, slope)],
                       seed="scaled")
        return _node(scope, container, "Max" if slope <= 1 else "Min", [z, scaled],
                     seed="hidden")
    if activation == "elu":
        alpha = float(model.elu_alpha)
        if not double:
            return _node(scope, container, "Elu", z, seed="hidden", alpha=alpha)
        positive = _node(scope, container, "Greater", [z, _scalar(scope, container, 0.0)],
                         seed="positive")
        exp = _node(scope, container, "Exp", z, seed="exp")
        expm1 = _node(scope, container, "Sub", [exp, _scalar(scope, container, 1.0)],
                      seed="expm1")
        negative = _node(scope, container, "Mul", [expm1, _scalar(scope, container, alpha)],
                         seed="negative")
        return _node(scope, container, "Where", [positive, z, negative], seed="hidden")
    raise ValueError(f"No ONNX conversion for activation={activation!r}.")


def _scalar(scope, container, value):
    """A float64 scalar constant (used in float64 graphs only)."""
    return _constant(scope, container, "scalar", np.array(value, dtype=np.float64))


def _network(scope, container, operator, output=None):
    """The input through every layer, up to the output layer's values before
    its activation; returns their name (``output`` where given)."""
    from onnx import TensorProto
    model = operator.raw_operator
    double = _is_double(operator.inputs[0])
    dtype = np.float64 if double else np.float32
    x = operator.inputs[0].full_name
    if not isinstance(operator.inputs[0].type, _float_tensor_type(operator)):
        x = _node(scope, container, "Cast", x, seed="cast_input",
                  to=TensorProto.DOUBLE if double else TensorProto.FLOAT)
    last = len(model.coefs_) - 1
    for i, (coef, intercept) in enumerate(zip(model.coefs_, model.intercepts_)):
        w = _constant(scope, container, f"coef{i}", np.asarray(coef, dtype=dtype))
        b = _constant(scope, container, f"intercept{i}", np.asarray(intercept, dtype=dtype))
        x = _node(scope, container, "Gemm", [x, w, b], output if i == last else None,
                  seed=f"layer{i}")
        if i < last:
            x = _hidden_activation(scope, container, model, x, double)
    return x


# -- classifier -------------------------------------------------------------------
def _class_labels(model):
    """The classes as the label output holds them: an int64 or a str array."""
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":   # what fit accepts: integral values
        if np.array_equal(classes, np.round(classes)):
            return classes.astype(np.int64)
    elif classes.dtype.kind == "U" or all(isinstance(c, str) for c in classes):
        return classes.astype(str)
    elif all(isinstance(c, (numbers.Integral, np.bool_)) for c in classes):
        return classes.astype(np.int64)
    raise ValueError("ONNX labels are int64 or strings: the classes must be integers "
                     f"(or integral floats) or strings, got {classes!r}.")


def _multilabel(model):
    return model.out_activation_ == "logistic" and model.n_outputs_ > 1


def _nocl(scope, model):
    return bool(scope.get_options(model, dict(nocl=False))["nocl"])


def _float_probabilities(operator):
    """Whether a float64 graph gives float32 probabilities: where the option
    zipmap is True, as ONNX's ZipMap takes float32 only (skl2onnx's own
    classifiers give an invalid graph there)."""
    zipmap = operator.scope_inst.get_options(operator.raw_operator,
                                             dict(zipmap=True))["zipmap"]
    return _is_double(operator.inputs[0]) and zipmap is True


def _classifier_shapes(operator):
    from skl2onnx.common.data_types import (FloatTensorType, Int64TensorType,
                                            StringTensorType)
    _check_operator(operator, 2)
    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    if len(model.classes_) < 2:
        raise ValueError("ONNX conversion needs a classifier fitted on two or more "
                         "classes.")
    if _multilabel(model):
        label_type = Int64TensorType([n, model.n_outputs_])
    elif _nocl(operator.scope_inst, model) or _class_labels(model).dtype.kind != "U":
        label_type = Int64TensorType([n])
    else:
        label_type = StringTensorType([n])
    operator.outputs[0].type = label_type
    proba_type = (FloatTensorType if _float_probabilities(operator)
                  else _float_tensor_type(operator))
    operator.outputs[1].type = proba_type([n, len(model.classes_)])


def _convert_classifier(scope, operator, container):
    from onnx import TensorProto
    model = operator.raw_operator
    dtype = np.float64 if _is_double(operator.inputs[0]) else np.float32
    label, proba = operator.outputs[0].full_name, operator.outputs[1].full_name
    # the labels are read from the probabilities in the graph's type
    cast = _float_probabilities(operator)
    scores = scope.get_unique_variable_name("probabilities") if cast else proba
    z = _network(scope, container, operator)
    if model.out_activation_ == "softmax":
        _node(scope, container, "Softmax", z, scores, axis=1)
    elif model.n_outputs_ == 1:   # binary: p of the positive class, then [1 - p, p]
        p = _node(scope, container, "Sigmoid", z, seed="positive")
        one = _constant(scope, container, "one", np.ones((1, 1), dtype=dtype))
        q = _node(scope, container, "Sub", [one, p], seed="negative")
        _node(scope, container, "Concat", [q, p], scores, axis=1)
    else:
        _node(scope, container, "Sigmoid", z, scores)
    if cast:
        _node(scope, container, "Cast", scores, proba, to=TensorProto.FLOAT)

    if _multilabel(model):
        half = _constant(scope, container, "half", np.full((1, 1), 0.5, dtype=dtype))
        above = _node(scope, container, "Greater", [scores, half], seed="above")
        _node(scope, container, "Cast", above, label, to=TensorProto.INT64)
        return
    # ArgMax keeps the first of equal values, as numpy's argmax does; for a
    # binary model 1 - p is exact where p >= 0.5, so the positive class wins
    # exactly where p > 0.5
    classes = _class_labels(model)
    if _nocl(scope, model) or (classes.dtype.kind == "i"
                               and np.array_equal(classes, np.arange(len(classes)))):
        _node(scope, container, "ArgMax", scores, label, axis=1, keepdims=0)
        return
    index = _node(scope, container, "ArgMax", scores, seed="class_index", axis=1,
                  keepdims=0)
    if classes.dtype.kind == "U":
        names = scope.get_unique_variable_name("classes")
        container.add_initializer(names, TensorProto.STRING, [len(classes)],
                                  [c.encode("utf-8") for c in classes])
    else:
        names = _constant(scope, container, "classes", classes)
    _node(scope, container, "Gather", [names, index], label, axis=0)


# -- regressor --------------------------------------------------------------------
def _regressor_shapes(operator):
    _check_operator(operator, 1)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _float_tensor_type(operator)(
        [n, operator.raw_operator.n_outputs_])


def _convert_regressor(scope, operator, container):
    model = operator.raw_operator
    output = operator.outputs[0].full_name
    if model.out_activation_ == "exp":
        _node(scope, container, "Exp", _network(scope, container, operator), output)
    else:
        _network(scope, container, operator, output)
