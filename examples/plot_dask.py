"""
Data-parallel training on a Dask cluster
========================================

:class:`bpfast.dask.MLPClassifier` fits on a dask array chunked by rows: the
rows stay on the workers, which compute each chunk's loss and gradient with
bpfast's kernels; the client sums them in a fixed tree and steps. With
``solver="lbfgs"`` the model is the one bpfast fits in memory on the same
rows, to rounding.

This example starts a local cluster of threads in this process
(``processes=False``); on a real cluster, ``Client("tcp://scheduler:8786")``
is the only change. ``examples/dask_fit.py`` in the repository is the
command-line version, for a LocalCluster or a real cluster.
"""

# %%
# A client and chunked data
# -------------------------
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

import bpfast
import bpfast.dask

cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                       dashboard_address=None)
client = Client(cluster)

rs = da.random.RandomState(0)
X = rs.standard_normal((20_000, 10), chunks=(5_000, 10))
teacher = np.random.RandomState(1).standard_normal((10, 3))
y = (X @ teacher).argmax(axis=1)
X, y = client.persist([X, y])
print(X)

# %%
# Fit on the workers
# ------------------
params = dict(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=40, random_state=0)
model = bpfast.dask.MLPClassifier(**params).fit(X, y)
print(f"bpfast.dask: {model.n_iter_} iterations, loss {model.loss_:.10f}")

# %%
# The same fit in memory
# ----------------------
X_local, y_local = client.compute([X, y], sync=True)
local = bpfast.MLPClassifier(**params).fit(X_local, y_local)
print(f"in memory:   {local.n_iter_} iterations, loss {local.loss_:.10f}")
print("largest weight difference:",
      max(np.abs(a - b).max() for a, b in zip(model.coefs_, local.coefs_)))

# every weight of the two models: on the diagonal
fig, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
ax.scatter(np.concatenate([w.ravel() for w in local.coefs_]),
           np.concatenate([w.ravel() for w in model.coefs_]), s=6)
ax.axline((0, 0), slope=1, color="gray", linewidth=0.8)
ax.set(xlabel="weight, fit in memory", ylabel="weight, fit by bpfast.dask",
       title="The same model, fit on 4 chunks")
plt.show()

# %%
# Predict and score on the workers
# --------------------------------
# On dask input, ``predict`` returns a dask array computed block by block and
# ``score`` a number reduced on the workers.
predictions = model.predict(X)
print(predictions)
print("first predictions:", predictions[:10].compute())
print("accuracy:", model.score(X, y))

# %%
# Close the client and the cluster.
client.close()
cluster.close()
