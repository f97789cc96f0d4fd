"""Warnings that scikit-learn's MLPs also emit, emitted as scikit-learn's.

A warning filter matches on category, message and the *module* the warning
is attributed to. ``warnings.warn`` attributes a warning to the module that
calls it, so bpfast's ConvergenceWarning would carry ``bpfast._mlp`` and
slip past filters written for scikit-learn, such as its gallery's
``warnings.filterwarnings("ignore", category=ConvergenceWarning,
module="sklearn")``. Each warning here that scikit-learn's MLP also emits
(same category, same text) is attributed instead to the module scikit-learn
emits it from, ``sklearn.neural_network._multilayer_perceptron``, so that
every filter treats it as it treats scikit-learn's.

What changes is only the module a filter sees: the file and line shown are
bpfast's own (where the warning is raised), and the registry that the
"default", "module" and "once" actions use to show a warning only once is
that bpfast module's, as ``warnings.warn`` would use (scikit-learn's are its
own modules'; either is cleared whenever the filters change, which a fit's
input checks do).

Consequence: a filter on ``module="bpfast"`` does not match these warnings
(one warning has one module, and it is scikit-learn's); filter them by
category and message, or on ``module="sklearn"``. Warnings of bpfast's own,
which scikit-learn's MLP does not emit, keep ``warnings.warn``'s attribution.
"""

import sys
import warnings

from sklearn.exceptions import ConvergenceWarning, DataConversionWarning

# the module scikit-learn's MLPs emit these warnings from (1.7 to 1.9)
SKLEARN_MLP_MODULE = "sklearn.neural_network._multilayer_perceptron"


def warn_as_sklearn(message, category=UserWarning, stacklevel=1):
    """warnings.warn(message, category, stacklevel) as scikit-learn's MLP
    module emits it: the filters see that module's name; the file, line and
    registry are those of the caller `stacklevel` frames up (1: the caller of
    this function)."""
    frame = sys._getframe(stacklevel)
    module_globals = frame.f_globals
    registry = module_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno,
                           module=SKLEARN_MLP_MODULE, registry=registry,
                           module_globals=module_globals)


# The texts, as scikit-learn's MLPs word them.
def max_iter_reached(max_iter):
    warn_as_sklearn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                    "optimization hasn't converged yet." % max_iter,
                    ConvergenceWarning, stacklevel=2)


def batch_size_clipped():
    warn_as_sklearn("Got `batch_size` less than 1 or larger than sample size. It is "
                    "going to be clipped", UserWarning, stacklevel=2)


def interrupted():
    warn_as_sklearn("Training interrupted by user.", UserWarning, stacklevel=2)


def column_vector_y():
    warn_as_sklearn("A column-vector y was passed when a 1d array was expected. "
                    "Please change the shape of y to (n_samples, ), for example using "
                    "ravel().", DataConversionWarning, stacklevel=2)


def lbfgs_not_converged(n_iter, max_iter, status, detail):
    """L-BFGS stopped without converging: scipy's status and message."""
    msg = (f"lbfgs failed to converge after {n_iter} iteration(s) "
           f"(status={status}):\n{detail}\n")
    if n_iter == max_iter:
        msg += ("\nIncrease the number of iterations to improve the convergence "
                f"(max_iter={max_iter}).")
    msg += ("\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html")
    warn_as_sklearn(msg, ConvergenceWarning, stacklevel=2)
