"""
Dropout and the L1 penalty
==========================

Two regularisers scikit-learn's MLPs do not have:

* ``dropout=p`` (stochastic solvers) zeroes each hidden unit with probability
  ``p`` in every training step and scales the others by ``1 / (1 - p)``;
  prediction uses the whole network.
* ``l1_ratio`` mixes the penalty ``alpha`` between L2 (``l1_ratio=0``, the
  default and scikit-learn's) and L1 (``l1_ratio=1``), as an elastic net.
  The L1 part pushes the weights of inputs that carry no information to zero.
"""

# %%
# Data with few informative features
# ----------------------------------
# 8 of the 60 features carry the labels; the rest are noise, and the training
# set is small.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from bpfast import MLPClassifier

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = make_classification(n_samples=1500, n_features=60, n_informative=8,
                           n_redundant=0, shuffle=False, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=300,
                                                    random_state=0)

# %%
# L1 against L2
# -------------
# The norm of each input's first-layer weights: with L1 the noise features'
# weights shrink to about zero.
params = dict(hidden_layer_sizes=(32,), solver="adam", learning_rate_init=0.01,
              max_iter=300, random_state=0)
l2 = MLPClassifier(alpha=0.05, l1_ratio=0.0, **params).fit(X_train, y_train)
l1 = MLPClassifier(alpha=0.05, l1_ratio=1.0, **params).fit(X_train, y_train)
for name, model in [("L2", l2), ("L1", l1)]:
    print(f"{name}: test accuracy {model.score(X_test, y_test):.3f}")

fig, ax = plt.subplots(figsize=(9, 3.5), layout="constrained")
features = np.arange(X.shape[1])
ax.bar(features - 0.2, np.linalg.norm(l2.coefs_[0], axis=1), width=0.4,
       label="l1_ratio=0 (L2)")
ax.bar(features + 0.2, np.linalg.norm(l1.coefs_[0], axis=1), width=0.4,
       label="l1_ratio=1 (L1)")
ax.axvspan(-0.5, 7.5, color="tab:green", alpha=0.15, label="informative features")
ax.set(xlabel="input feature", ylabel="norm of its first-layer weights",
       xlim=(-1, X.shape[1]))
ax.legend()
plt.show()

# %%
# Dropout
# -------
# A wide network fits the 300 training rows perfectly, with or without
# dropout; the dropped units make it rely less on any one of them, and the
# test accuracy rises.
rates = [0.0, 0.2, 0.4, 0.6]
train_acc, test_acc = [], []
for rate in rates:
    model = MLPClassifier(hidden_layer_sizes=(256,), solver="adam", alpha=0.0,
                          max_iter=150, dropout=rate, random_state=0)
    model.fit(X_train, y_train)
    train_acc.append(model.score(X_train, y_train))
    test_acc.append(model.score(X_test, y_test))
    print(f"dropout={rate}: train {train_acc[-1]:.3f}, test {test_acc[-1]:.3f}")

fig, ax = plt.subplots(figsize=(5.5, 3.5), layout="constrained")
ax.plot(rates, train_acc, "o-", label="training")
ax.plot(rates, test_acc, "o-", label="test")
ax.set(xlabel="dropout", ylabel="accuracy", xticks=rates)
ax.legend()
plt.show()
