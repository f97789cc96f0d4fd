"""
Explaining predictions by backpropagation
=========================================

Backpropagation already computes how the loss changes with each layer's
input; one more product with the first layer's weights gives the gradient of
an output with respect to the features. :mod:`bpfast.explain` builds
integrated gradients and gradient SHAP on it, in the compiled kernels, for
bpfast's models and for scikit-learn's own fitted MLPs.

Two questions: which pixels push a digits classifier toward each class, and
which features drive a regression on the diabetes data (with shap's beeswarm
plot, where shap is installed).
"""

# %%
# Which pixels push a digit toward each class
# -------------------------------------------
# Integrated gradients from a blank image: each pixel's attribution is its
# share of the change in a class's probability between the blank image and
# the digit. Red pixels raise the class's probability, blue ones lower it;
# each row of the figure is one test image, each column one class.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

from bpfast import MLPClassifier
from bpfast.explain import gradient_shap, integrated_gradients

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
clf = MLPClassifier(hidden_layer_sizes=(32, 16), activation="tanh", max_iter=300,
                    random_state=0).fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

rows = X_test[:4]
attr = integrated_gradients(clf, rows, steps=64)       # (4, 64, 10): every class
change = clf.predict_proba(rows) - clf.predict_proba(np.zeros((1, 64)))
print("largest gap between the attributions' sum and the change in probability:",
      f"{np.abs(attr.sum(axis=1) - change).max():.1e}")

fig, axes = plt.subplots(len(rows), 11, figsize=(11, 4.6))
for i, row in enumerate(rows):
    axes[i, 0].imshow(row.reshape(8, 8), cmap="gray_r")
    axes[i, 0].set_ylabel(f"true {y_test[i]}", rotation=0, labelpad=22)
    scale = np.abs(attr[i]).max()
    for k in range(10):
        axes[i, k + 1].imshow(attr[i, :, k].reshape(8, 8), cmap="RdBu_r", vmin=-scale,
                              vmax=scale)
        if i == 0:
            axes[i, k + 1].set_title(str(k))
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Integrated gradients of each class's probability (red: toward it)")
fig.tight_layout()

# %%
# A tabular regression, and scikit-learn's own model
# --------------------------------------------------
# The same functions take a fitted scikit-learn MLP (read through
# :func:`bpfast.from_sklearn`, a copy: the model is not touched). Gradient
# SHAP (expected gradients) averages the path integral over a background
# sample: here 100 training rows, 200 draws a row.
data = load_diabetes()
Xd = StandardScaler().fit_transform(data.data)
yd = (data.target - data.target.mean()) / data.target.std()
Xd_train, Xd_test, yd_train, yd_test = train_test_split(Xd, yd, random_state=0)
reg = SkMLPRegressor(hidden_layer_sizes=(32,), activation="tanh", alpha=1.0,
                     solver="lbfgs", max_iter=500, random_state=0).fit(Xd_train, yd_train)
values = gradient_shap(reg, Xd_test, Xd_train[:100], n_samples=200, random_state=0)
order = np.argsort(np.abs(values).mean(axis=0))
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.barh(np.array(data.feature_names)[order], np.abs(values).mean(axis=0)[order])
ax.set_xlabel("mean |gradient SHAP value| (standardised target)")
ax.set_title("Diabetes: what drives scikit-learn's MLPRegressor")
fig.tight_layout()

# %%
# With shap installed: its plots
# ------------------------------
# :func:`bpfast.explain.shap_explanation` wraps the values in a
# ``shap.Explanation`` (base values: the mean prediction over the
# background), so shap's beeswarm, waterfall and bar plots read them.
try:
    import shap
except ImportError:
    shap = None
    print("shap is not installed: pip install 'bpfast[explain]' for its plots")
if shap is not None:
    from bpfast.explain import shap_explanation

    explanation = shap_explanation(reg, Xd_test, method="gradient_shap",
                                   background=Xd_train[:100], n_samples=200,
                                   random_state=0, feature_names=data.feature_names)
    shap.plots.beeswarm(explanation, show=False)
    plt.gcf().set_size_inches(7, 4)
    plt.title("Gradient SHAP values, shap's beeswarm")
    plt.tight_layout()
