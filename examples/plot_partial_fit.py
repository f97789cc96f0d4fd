"""
Streaming with partial_fit
==========================

When the data arrive in batches, or do not fit in memory, ``partial_fit``
trains on one batch at a time: one pass of the stochastic solver over the
batch, the optimizer's state kept between calls. The first call needs every
class (``classes=``), since a batch may not hold them all.
"""

# %%
# Batches from a stream
# ---------------------
# Here the stream is scikit-learn's digits, served in batches of 100 rows.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bpfast import MLPClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_stream, X_test, y_stream, y_test = train_test_split(X, y, test_size=0.3,
                                                      random_state=0)


def batches(X, y, size, rng):
    order = rng.permutation(len(X))
    for start in range(0, len(X), size):
        rows = order[start:start + size]
        yield X[rows], y[rows]


# %%
# Train batch by batch
# --------------------
# each partial_fit is one pass over its batch, in minibatches of batch_size rows
clf = MLPClassifier(hidden_layer_sizes=(64,), solver="adam", batch_size=50,
                    learning_rate_init=0.01, random_state=0)
classes = np.unique(y)
rng = np.random.default_rng(0)
seen, accuracy = [], []
n_seen = 0
for pass_ in range(5):  # five passes over the stream
    for X_batch, y_batch in batches(X_stream, y_stream, 100, rng):
        clf.partial_fit(X_batch, y_batch, classes=classes)
        n_seen += len(X_batch)
        seen.append(n_seen)
        accuracy.append(clf.score(X_test, y_test))
print(f"{len(seen)} batches, {n_seen} rows seen; test accuracy {accuracy[-1]:.4f}")

# %%
# Test accuracy as the rows arrive
# --------------------------------
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(seen, accuracy, marker=".")
for k in range(1, 5):
    ax.axvline(k * len(X_stream), color="gray", linestyle=":")
ax.set(xlabel="rows seen", ylabel="test accuracy", ylim=(0, 1),
       title="partial_fit on batches of 100 rows (dotted: a new pass)")
plt.show()
