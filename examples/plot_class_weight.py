"""
class_weight on imbalanced classes
==================================

With 5% of the rows in one class, an unweighted classifier can buy a low loss
by neglecting that class. bpfast's :class:`~bpfast.MLPClassifier` takes
``class_weight`` as scikit-learn's linear models do: a dict of weights per
class, or ``"balanced"`` (weights inversely proportional to the class
frequencies). The weights multiply each row's loss, with ``sample_weight``
when both are given.
"""

# %%
# Imbalanced data
# ---------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import train_test_split

from bpfast import MLPClassifier

# the fits below stop at max_iter, short of lbfgs's tolerance: enough here
warnings.simplefilter("ignore", ConvergenceWarning)
X, y = make_classification(n_samples=2000, n_features=2, n_redundant=0,
                           n_clusters_per_class=1, weights=[0.95, 0.05],
                           class_sep=0.8, flip_y=0.0, random_state=4)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
print("class counts in training:", np.bincount(y_train))

# %%
# Unweighted and balanced fits
# ----------------------------
models = {}
for weight in [None, "balanced"]:
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=500,
                        class_weight=weight, random_state=0).fit(X_train, y_train)
    models[weight] = clf
    predicted = clf.predict(X_test)
    print(f"class_weight={weight!r:11}: recall of the rare class "
          f"{recall_score(y_test, predicted):.2f}, balanced accuracy "
          f"{balanced_accuracy_score(y_test, predicted):.3f}")

# %%
# The decision boundaries
# -----------------------
xx, yy = np.meshgrid(np.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 200),
                     np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 200))
grid = np.c_[xx.ravel(), yy.ravel()]
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
for ax, (weight, clf) in zip(axes, models.items()):
    proba = clf.predict_proba(grid)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="coolwarm", alpha=0.6)
    ax.contour(xx, yy, proba, levels=[0.5], colors="k")
    ax.scatter(*X_test[y_test == 0].T, s=8, c="tab:blue", label="common class")
    ax.scatter(*X_test[y_test == 1].T, s=18, c="tab:red", edgecolors="k",
               label="rare class")
    ax.set(title=f"class_weight={weight!r}", xlabel="$x_1$")
axes[0].set_ylabel("$x_2$")
axes[0].legend(loc="lower left")
plt.show()
