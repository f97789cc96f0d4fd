"""
Digits: bpfast and scikit-learn side by side
============================================

The same model trained by both libraries on scikit-learn's bundled digits
data (1,797 images of 8x8 pixels): the accuracy agrees, and the fit time is
bpfast's advantage. ``python -m bpfast`` runs a longer version of this
comparison (more rounds, the load of the machine).

The times here come from the machine that built this page, shared with other
work and measured once per solver: read them as an illustration, not a
benchmark.
"""

# %%
# Data
# ----
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.preprocessing import StandardScaler

from bpfast import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
                                                    random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
print(X_train.shape, X_test.shape)

# %%
# Fit both libraries with each solver
# -----------------------------------
# The fastest of three fits of each is kept.
params = dict(hidden_layer_sizes=(100,), max_iter=40, random_state=0)


def fit_time(cls, solver):
    best = np.inf
    for _ in range(3):
        model = cls(solver=solver, **params)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        best = min(best, time.perf_counter() - start)
    return model, best


rows = []
for solver in ["adam", "sgd", "lbfgs"]:
    for library, cls in [("scikit-learn", SkMLPClassifier), ("bpfast", MLPClassifier)]:
        model, seconds = fit_time(cls, solver)
        rows.append({"solver": solver, "library": library, "fit time (s)": seconds,
                     "test accuracy": model.score(X_test, y_test)})
results = pd.DataFrame(rows)
results

# %%
# Fit times
# ---------
times = results.pivot(index="solver", columns="library", values="fit time (s)")
speedup = times["scikit-learn"] / times["bpfast"]
ax = times[["scikit-learn", "bpfast"]].plot.bar(figsize=(6, 4), rot=0,
                                                color=["tab:gray", "tab:blue"])
for i, s in enumerate(speedup.loc[times.index]):
    ax.annotate(f"{s:.1f}x", (i + 0.12, times["bpfast"].iloc[i]), ha="center",
                va="bottom")
ax.set(ylabel="fit time (s), best of 3",
       title="Digits, 100 hidden units, 40 iterations")
plt.tight_layout()
plt.show()
