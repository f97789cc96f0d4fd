"""
eval_set and monitor: stop when the validation loss stops improving
===================================================================

``fit(X, y, eval_set=(X_val, y_val), monitor=callback)`` (stochastic solvers)
scores an explicit validation set after every epoch and then calls
``callback(epoch, estimator, info)``, where ``info`` holds the epoch's
``loss``, ``validation_score`` and ``validation_loss``. Returning True stops
training. Here the callback keeps a copy of the model at its lowest
validation loss and stops once that loss has not improved for 10 epochs.
"""

# %%
# Data
# ----
import copy

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bpfast import LossCurveDisplay, MLPClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.4, random_state=0)
X_val, X_test, y_val, y_test = train_test_split(X_val, y_val, test_size=0.5,
                                                random_state=0)

# %%
# A monitor that stops on a plateau
# ---------------------------------
# The callback sees every epoch's numbers and the estimator itself; here it
# keeps a copy of the model at the best validation loss (a deep copy or a
# pickle leaves the fit undisturbed) and stops ``patience`` epochs after it.
class StopOnPlateau:
    """Stop after `patience` epochs without a lower validation loss."""

    def __init__(self, patience=10):
        self.patience = patience
        self.best_loss, self.best_epoch, self.best_model = float("inf"), 0, None

    def __call__(self, epoch, estimator, info):
        if info["validation_loss"] < self.best_loss:
            self.best_loss, self.best_epoch = info["validation_loss"], epoch
            self.best_model = copy.deepcopy(estimator)
        return epoch - self.best_epoch >= self.patience


monitor = StopOnPlateau(patience=10)
# no L2 penalty and up to 500 epochs: left alone, the model would overfit the
# 1,078 training rows; tol=0 and n_iter_no_change=500 leave the stopping to
# the monitor
clf = MLPClassifier(hidden_layer_sizes=(128,), solver="adam", learning_rate_init=0.003,
                    alpha=0.0, max_iter=500, tol=0, n_iter_no_change=500,
                    random_state=0)
clf.fit(X_train, y_train, eval_set=(X_val, y_val), monitor=monitor)
print(f"stopped after {clf.n_iter_} epochs; best validation loss "
      f"{monitor.best_loss:.4f} at epoch {monitor.best_epoch}")
print(f"test accuracy: last epoch's model {clf.score(X_test, y_test):.4f}, "
      f"best epoch's {monitor.best_model.score(X_test, y_test):.4f}")

# %%
# The curves, and where the monitor stopped
# -----------------------------------------
display = LossCurveDisplay.from_estimator(clf, name="adam, stopped by a monitor")
display.ax_.axvline(monitor.best_epoch, color="k", linestyle=":")
display.ax_.annotate("lowest validation loss", (monitor.best_epoch, 0.6), xytext=(-4, 0),
                      textcoords="offset points", ha="right", va="center",
                      xycoords=("data", "axes fraction"))
display.ax_.set_yscale("log")
plt.show()
