"""
XOR: the smallest problem that needs a hidden layer
===================================================

XOR is not linearly separable: no single line splits ``{(0, 1), (1, 0)}`` from
``{(0, 0), (1, 1)}``. A network with one hidden layer of a few units learns
it. bpfast's :class:`~bpfast.MLPClassifier` takes exactly the parameters of
scikit-learn's and, for the same ``random_state``, starts from the same
weights and follows the same loss curve to rounding.
"""

# %%
# Fit a small network
# -------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from bpfast import MLPClassifier

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
y = np.array([0, 1, 1, 0])

# 500 full epochs (tol=0): the fit ends at max_iter by design
warnings.simplefilter("ignore", ConvergenceWarning)
params = dict(hidden_layer_sizes=(3,), activation="logistic", solver="adam",
              learning_rate_init=0.1, max_iter=500, tol=0, random_state=0)
clf = MLPClassifier(**params).fit(X, y)
print("predictions:", clf.predict(X))
print("P(y=1):     ", clf.predict_proba(X)[:, 1].round(4))

# %%
# The same fit with scikit-learn
# ------------------------------
# Same parameters, same seed: the same loss after every epoch, and the same
# weights, to rounding.
sk = SkMLPClassifier(**params).fit(X, y)
print("scikit-learn predictions:", sk.predict(X))
print("largest loss difference:  ",
      np.abs(np.array(clf.loss_curve_) - np.array(sk.loss_curve_)).max())
print("largest weight difference:",
      max(np.abs(a - b).max() for a, b in zip(clf.coefs_, sk.coefs_)))

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(sk.loss_curve_, lw=5, alpha=0.4, label="scikit-learn")
ax.plot(clf.loss_curve_, "k--", label="bpfast")
ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Loss curves")
ax.legend()
plt.show()

# %%
# The decision function over the plane
# ------------------------------------
xx, yy = np.meshgrid(np.linspace(-0.25, 1.25, 151), np.linspace(-0.25, 1.25, 151))
proba = clf.predict_proba(np.c_[xx.ravel(), yy.ravel()])[:, 1].reshape(xx.shape)

fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
surface = ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r")
ax.contour(xx, yy, proba, levels=[0.5], colors="k", linewidths=1.5)
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", s=160, edgecolors="k", zorder=3)
fig.colorbar(surface, ax=ax, label="P(y = 1)")
ax.set(xlabel="$x_1$", ylabel="$x_2$", title="XOR learned by 3 logistic hidden units")
plt.show()
