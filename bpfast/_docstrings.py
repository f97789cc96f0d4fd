"""The estimators' docstrings, assembled from shared pieces.

bpfast.MLPClassifier, bpfast.MLPRegressor and their bpfast.dask subclasses
take the same 29 parameters and set mostly the same fitted attributes; each
is written once here and put together by ``estimator_doc``, so that the four
classes cannot drift apart. The classes set ``__doc__`` from it.
"""

# -- parameters ----------------------------------------------------------------------
_LOSS = """\
loss : {'squared_error', 'poisson'}, default='squared_error'
    The loss minimised. 'squared_error' is half the mean squared error
    with an identity output; 'poisson' is half the Poisson deviance with
    an exponential output (``out_activation_ = 'exp'``), for non-negative
    targets such as counts.
"""

_SHARED = """\
hidden_layer_sizes : array-like of shape (n_layers - 2,) or int, default=(100,)
    The number of units of each hidden layer, from the input side: entry
    ``i`` sizes hidden layer ``i``. An int is one hidden layer.
activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', 'elu'}, \
default='relu'
    The activation of the hidden units (the output layer's follows from
    the task, see ``out_activation_``):

    - 'identity': ``f(x) = x``, a linear network.
    - 'logistic': the sigmoid ``f(x) = 1 / (1 + exp(-x))``.
    - 'tanh': ``f(x) = tanh(x)``.
    - 'relu': ``f(x) = max(0, x)``.
    - 'leaky_relu' (beyond scikit-learn): ``f(x) = x`` for ``x > 0``, else
      ``negative_slope * x``.
    - 'elu' (beyond scikit-learn): ``f(x) = x`` for ``x > 0``, else
      ``elu_alpha * (exp(x) - 1)``.

    scikit-learn cannot compute 'leaky_relu' or 'elu': ``to_sklearn()``
    raises ValueError for them.
solver : {'lbfgs', 'sgd', 'adam', 'rmsprop'}, default='adam'
    The optimiser of the weights:

    - 'lbfgs': SciPy's L-BFGS-B on the loss over all rows; converges in
      fewer iterations on small data sets, records no loss curve.
    - 'sgd': minibatch stochastic gradient descent, with ``momentum``
      (Nesterov's by default) and the ``learning_rate`` schedules.
    - 'adam': Kingma and Ba's Adam (``beta_1``, ``beta_2``, ``epsilon``),
      a robust default on larger data sets.
    - 'rmsprop' (beyond scikit-learn): RMSProp, each step divided by the root of
      a running mean of squared gradients (``rho``, ``epsilon``,
      ``rmsprop_momentum``).

    'sgd', 'adam' and 'rmsprop' are the stochastic solvers: only they
    offer ``partial_fit``, ``early_stopping``, ``dropout``, ``eval_set``
    and ``monitor``.
alpha : float, default=0.0001
    The strength of the weight penalty (L2, or the elastic net of
    ``l1_ratio``), on the weights only, not the intercepts. As in
    scikit-learn, the penalty is divided by the number of rows the loss
    is taken over (all of them for 'lbfgs', a minibatch's otherwise), or
    by their weights' sum with ``sample_weight``. Must be non-negative.
batch_size : int or 'auto', default='auto'
    The rows of a minibatch of the stochastic solvers; 'auto' is
    ``min(200, n_samples)``. A larger value than the number of rows is
    clipped to it, with a warning. Not used by 'lbfgs'.
learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
    The step-size schedule of ``solver='sgd'`` (the other solvers keep
    ``learning_rate_init``):

    - 'constant': ``learning_rate_init`` throughout.
    - 'invscaling': after each epoch the step size becomes
      ``learning_rate_init / (t_ + 1) ** power_t``, ``t_`` being the
      samples seen so far.
    - 'adaptive': ``learning_rate_init`` while the training loss (or, with
      early stopping, the validation score) improves; each time it has not
      improved by ``tol`` for ``n_iter_no_change`` epochs in a row, the
      step size is divided by 5; training stops when that happens with the
      step size already at or below 1e-6.
learning_rate_init : float, default=0.001
    The initial step size of the stochastic solvers. Must be positive.
power_t : float, default=0.5
    The exponent of the 'invscaling' schedule (``solver='sgd'`` only).
max_iter : int, default=200
    The most epochs (passes over the rows) of the stochastic solvers, or
    the most iterations of 'lbfgs'. ``partial_fit`` runs one epoch
    whatever its value.
shuffle : bool, default=True
    Whether the stochastic solvers shuffle the rows before each epoch.
random_state : int, RandomState instance or None, default=None
    Seeds the initial weights, the shuffles, the early-stopping split and
    the dropout masks. An int makes fits reproducible; with the same int,
    the initial weights, shuffles and split are the very draws
    scikit-learn's estimator makes.
tol : float, default=1e-4
    The tolerance of the stopping rules. The stochastic solvers stop (see
    ``learning_rate='adaptive'`` for its exception) when the training loss,
    or with early stopping the validation score, has not improved by at
    least ``tol`` for ``n_iter_no_change`` consecutive epochs; 'lbfgs'
    stops when the projected gradient falls below it.
verbose : bool, default=False
    Whether to report the progress of the stochastic solvers: a tqdm bar
    over the epochs where tqdm is installed and stderr is a terminal,
    scikit-learn's lines on stdout otherwise (the environment variable
    ``BPFAST_PROGRESS=tqdm|plain`` forces either).
warm_start : bool, default=False
    Whether ``fit`` starts from the weights of the previous fit instead of
    new random ones (the stochastic solvers' state starts afresh; only
    ``partial_fit`` carries it over). The layer sizes must be the same,
    and so must the classes of a classifier.
momentum : float, default=0.9
    The momentum of ``solver='sgd'``, in [0, 1].
nesterovs_momentum : bool, default=True
    Whether ``solver='sgd'`` uses Nesterov's momentum (when
    ``momentum > 0``).
early_stopping : bool, default=False
    Whether the stochastic solvers stop when the score on a validation
    set (accuracy for a classifier, R^2 for a regressor) has not improved
    by ``tol`` for ``n_iter_no_change`` consecutive epochs; the weights of
    the best epoch are restored at the end. The validation set is the
    ``eval_set`` given to ``fit``, else ``validation_fraction`` of the
    training rows, held out (stratified for binary classification, as
    scikit-learn does).
    Not available to ``partial_fit``, nor to bpfast.dask fits on dask
    collections.
validation_fraction : float, default=0.1
    The share of the training rows held out as the validation set of
    early stopping, in [0, 1). Used only with ``early_stopping=True`` and
    no ``eval_set``.
beta_1 : float, default=0.9
    The decay rate of Adam's first-moment estimates, in [0, 1)
    (``solver='adam'`` only).
beta_2 : float, default=0.999
    The decay rate of Adam's second-moment estimates, in [0, 1)
    (``solver='adam'`` only).
epsilon : float, default=1e-8
    The constant added to the denominators of Adam's and RMSProp's steps,
    for numerical stability (``solver='adam'`` and ``'rmsprop'``).
n_iter_no_change : int, default=10
    The number of consecutive epochs without a ``tol`` improvement that
    stops the stochastic solvers (see ``tol``).
max_fun : int, default=15000
    The most evaluations of the loss (and its gradient) that 'lbfgs' may
    make; it can stop before ``max_iter`` iterations because of it.
rho : float, default=0.9
    Beyond scikit-learn. The decay rate of RMSProp's running mean of squared
    gradients, ``s = rho * s + (1 - rho) * g ** 2``, in [0, 1)
    (``solver='rmsprop'`` only).
rmsprop_momentum : float, default=0.0
    Beyond scikit-learn. The momentum of RMSProp's steps, in [0, 1): with ``mu``
    its value, ``b = mu * b + g / (sqrt(s) + epsilon)`` and the weights move
    by ``-learning_rate_init * b``; 0 is plain RMSProp
    (``solver='rmsprop'`` only).
dropout : float, default=0.0
    Beyond scikit-learn. The probability of dropping each hidden unit of each
    training row of a minibatch, in [0, 1) (inverted dropout: the units
    kept are scaled by ``1 / (1 - dropout)``, so prediction uses every
    unit as is). The masks come from a counter-based generator seeded
    from ``random_state``: a fit is reproducible and independent of the
    number of threads. Stochastic solvers only (ValueError with 'lbfgs').
l1_ratio : float, default=0.0
    Beyond scikit-learn. The elastic-net mixing of the weight penalty, in [0, 1]:
    the penalty is ``alpha * (l1_ratio * |W|_1 + (1 - l1_ratio) / 2 *
    |W|_2 ** 2)`` over the weights (not the intercepts), divided like
    ``alpha``. 0 is scikit-learn's L2 penalty, 1 a lasso that drives the
    weights of irrelevant inputs towards 0. Every solver takes it.
negative_slope : float, default=0.01
    Beyond scikit-learn. The slope of 'leaky_relu' for negative inputs; must be
    non-negative (``activation='leaky_relu'`` only).
elu_alpha : float, default=1.0
    Beyond scikit-learn. The value 'elu' tends to, negated, for large negative
    inputs (``elu_alpha * (exp(x) - 1)`` there); must be positive
    (``activation='elu'`` only).
"""

_CLASS_WEIGHT = """\
class_weight : dict, list of dict, 'balanced' or None, default=None
    Beyond scikit-learn. Weights of the classes in the loss, as elsewhere in
    scikit-learn (``sklearn.utils.class_weight.compute_sample_weight``):
    a dict maps each class label to its weight, 'balanced' weighs the
    classes inversely to their frequency in ``y``, and a multilabel ``y``
    takes a list of dicts, one per label. The weights multiply
    ``sample_weight``. None weighs every class 1.
"""

# -- attributes ----------------------------------------------------------------------
_CLASSES = """\
classes_ : ndarray of shape (n_classes,) or list of ndarray
    The class labels (one array of labels per output for multilabel
    ``y``).
"""

_ATTRIBUTES = """\
loss_ : float
    The loss the fit ended with, penalty included: the last epoch's mean
    minibatch loss for the stochastic solvers, the loss at the solution
    for 'lbfgs'.
best_loss_ : float or None
    The lowest training loss of any epoch (stochastic solvers only; None
    with early stopping, which tracks ``best_validation_score_`` instead).
loss_curve_ : list of float
    The training loss of each epoch (stochastic solvers only).
validation_scores_ : list of float or None
    The score on the validation set (accuracy for a classifier, R^2 for a
    regressor) after each epoch, when there is a validation set (early
    stopping or ``eval_set``); None otherwise. Stochastic solvers only.
validation_loss_curve_ : list of float
    Beyond scikit-learn. The loss on the validation set, without the penalty,
    after each epoch; set only when there is a validation set
    (``early_stopping=True`` or ``eval_set``).
best_validation_score_ : float or None
    The best of ``validation_scores_`` under early stopping, whose weights
    the fit restores; None without early stopping. Stochastic solvers
    only.
t_ : int
    The number of training rows the stochastic solvers have processed
    (rows times epochs, over ``partial_fit`` calls too); 0 for 'lbfgs'.
coefs_ : list of ndarray of shape (n_units_in, n_units_out)
    The weight matrix of each layer, from the input side: entry ``i``
    maps layer ``i`` to layer ``i + 1``. In bpfast, ``coefs_`` and
    ``intercepts_`` are views into one flat parameter vector; arrays
    assigned in their place are read into a new one.
intercepts_ : list of ndarray of shape (n_units_out,)
    The bias vector of each layer: entry ``i`` is added to layer
    ``i + 1``.
n_features_in_ : int
    The number of features seen during fit.
feature_names_in_ : ndarray of shape (n_features,)
    The names of the features seen during fit, set only when ``X`` has
    string column names (a pandas DataFrame, say).
n_iter_ : int
    The number of epochs (stochastic solvers) or iterations ('lbfgs') of
    the last call to ``fit`` (1 after ``partial_fit``).
n_layers_ : int
    The number of layers, input and output layers included.
n_outputs_ : int
    The number of outputs.
out_activation_ : str
    The activation of the output layer: {out_activations}.
"""

_RESTARTS = """\
n_restarts_ : int
    Set by a fit on dask collections: how many times the fit's shards were
    started again on other workers after a worker was lost (the fit's
    result is the same bits either way).
"""

_OUT_ACTIVATIONS = {
    "classifier": "'logistic' (binary or multilabel) or 'softmax' (multiclass)",
    "regressor": "'identity' (``loss='squared_error'``) or 'exp' (``loss='poisson'``)",
}


def estimator_doc(kind, *, summary, extended, see_also, notes, examples, dask=False):
    """The numpydoc docstring of an estimator of `kind` ('classifier' or
    'regressor'): its Parameters (in the signature's order) and Attributes
    from the pieces above, around the class's own text."""
    if kind == "classifier":
        parameters = _SHARED + _CLASS_WEIGHT
        attributes = _CLASSES + _ATTRIBUTES
    else:
        parameters = _LOSS + _SHARED
        attributes = _ATTRIBUTES
    attributes = attributes.replace("{out_activations}", _OUT_ACTIVATIONS[kind])
    if dask:
        attributes += _RESTARTS
    sections = [
        summary.strip() + "\n\n" + extended.strip(),
        "Parameters\n----------\n" + parameters.rstrip(),
        "Attributes\n----------\n" + attributes.rstrip(),
        "See Also\n--------\n" + see_also.strip(),
        "Notes\n-----\n" + notes.strip(),
        "References\n----------\n" + _REFERENCES.strip(),
        "Examples\n--------\n" + examples.strip(),
    ]
    return "\n\n".join(sections) + "\n"


_REFERENCES = """\
.. [1] D. E. Rumelhart, G. E. Hinton and R. J. Williams, "Learning
   representations by back-propagating errors", Nature 323 (1986),
   533-536.

.. [2] X. Glorot and Y. Bengio, "Understanding the difficulty of training
   deep feedforward neural networks", AISTATS 2010.

.. [3] D. P. Kingma and J. Ba, "Adam: A method for stochastic
   optimization", arXiv:1412.6980 (2014).

.. [4] T. Tieleman and G. Hinton, "Lecture 6.5 - RMSProp: divide the
   gradient by a running average of its recent magnitude", COURSERA:
   Neural Networks for Machine Learning (2012).

.. [5] N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever and
   R. Salakhutdinov, "Dropout: a simple way to prevent neural networks
   from overfitting", JMLR 15 (2014), 1929-1958.
"""

# -- notes shared by the in-memory estimators -----------------------------------------
PARITY_NOTES = """\
bpfast computes what scikit-learn computes, in compiled kernels: the same
initial weights for the same ``random_state``, the same minibatches, the
same loss, penalty and updates. Where parity with scikit-learn ends:

- 'sgd' and 'adam': the loss curve matches scikit-learn's to rounding,
  about 1e-15 relative in float64; 'rmsprop', which scikit-learn lacks,
  runs in the same epoch loop and kernels.
- 'lbfgs': L-BFGS amplifies differences in the last bit of the loss and
  gradient (bpfast sums them in another order) over long runs. On the
  two-moons data with ``alpha=1.0`` on one thread, the loss curves part
  by about 1e-11 at iteration 80 and 5e-7 at iteration 120, and
  scikit-learn's fit stops after 204 iterations, bpfast's after 146.
  scikit-learn itself stops after 204 iterations on C-ordered and 129 on
  Fortran-ordered input of the same data: a gap of the size the memory
  layout alone makes.
- The parameters marked "Beyond scikit-learn" have no scikit-learn
  counterpart; at their defaults the estimators are scikit-learn's.

The weights start from Glorot's uniform initialisation [2]_ and are
trained by backpropagation [1]_; the solvers are L-BFGS-B, SGD, Adam [3]_
and RMSProp [4]_, with optional dropout [5]_. float32 input trains and
predicts in float32, float64 input in float64. The kernels run on OpenMP
threads (see :func:`bpfast.show_config`), and a model converts to
scikit-learn's estimator with :meth:`to_sklearn` and back with
:func:`bpfast.from_sklearn`.
"""
