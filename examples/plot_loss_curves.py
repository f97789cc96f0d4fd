"""
Loss curves with LossCurveDisplay
=================================

:class:`bpfast.LossCurveDisplay` draws what a fit with a stochastic solver
records: the training loss of every epoch (``loss_curve_``) and, when the fit
had a validation set, the validation loss (``validation_loss_curve_``) and
score (``validation_scores_``) on a second axis.
"""

# %%
# A validation set: early stopping or eval_set
# --------------------------------------------
# ``early_stopping=True`` holds out a fraction of the training rows, as in
# scikit-learn; ``fit(X, y, eval_set=(X_val, y_val))`` takes an explicit one.
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bpfast import LossCurveDisplay, MLPClassifier

# the adam fit runs its 40 epochs to the end (tol=0): no convergence to warn of
warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=0)

adam = MLPClassifier(hidden_layer_sizes=(64,), solver="adam", max_iter=40, tol=0,
                     n_iter_no_change=40, random_state=0)
adam.fit(X_train, y_train, eval_set=(X_val, y_val))

sgd = MLPClassifier(hidden_layer_sizes=(64,), solver="sgd", learning_rate_init=0.05,
                    max_iter=200, early_stopping=True, validation_fraction=0.2,
                    random_state=0)
sgd.fit(X_train, y_train)
print(f"adam: {adam.n_iter_} epochs; sgd with early stopping: {sgd.n_iter_} epochs")

# %%
# Draw the curves
# ---------------
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
LossCurveDisplay.from_estimator(adam, ax=axes[0], name="adam, eval_set")
LossCurveDisplay.from_estimator(sgd, ax=axes[1], name="sgd, early_stopping=True")
plt.show()

# %%
# From recorded curves
# --------------------
# The display can also be built from the curves themselves, e.g. ones saved
# with a model; ``lines_`` holds the drawn lines.
display = LossCurveDisplay(adam.loss_curve_, estimator_name="adam, training loss only")
display.plot()
display.ax_.set_yscale("log")
print(sorted(display.lines_))
plt.show()
