"""Stands for a third-party library that uses scikit-learn's MLPs on its own:
it imports them from scikit-learn when it is imported and builds them inside
its own code (test_patch.py checks which class it gets, here and in worker
processes)."""
import os

import sklearn.neural_network as nn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.neural_network._multilayer_perceptron import MLPClassifier as PrivateMLP


def classes():
    """The module names of the classes this library got at import and gets
    by attribute now."""
    return {"imported": MLPClassifier.__module__,
            "imported_regressor": MLPRegressor.__module__,
            "private": PrivateMLP.__module__,
            "attribute": nn.MLPClassifier.__module__}


def mlp_module_in_process(_):
    """(pid, module of the MLPClassifier this library builds)."""
    return os.getpid(), type(MLPClassifier()).__module__


class SmallNet(ClassifierMixin, BaseEstimator):
    """An estimator that builds scikit-learn's MLPClassifier in its fit."""

    def __init__(self, hidden=4, parent_pid=None):
        self.hidden = hidden
        self.parent_pid = parent_pid

    def fit(self, X, y):
        self.mlp_ = MLPClassifier((self.hidden,), max_iter=5, random_state=0).fit(X, y)
        self.classes_ = self.mlp_.classes_
        self.fit_pid_ = os.getpid()
        return self

    def predict(self, X):
        return self.mlp_.predict(X)


def bpfast_in_worker(estimator, X, y):
    """A scorer: 1 if the fit ran in another process than parent_pid and built
    bpfast's MLP, 0 if it built scikit-learn's there, -1 if it ran in the
    parent process."""
    if estimator.fit_pid_ == estimator.parent_pid:
        return -1.0
    return 1.0 if type(estimator.mlp_).__module__.startswith("bpfast") else 0.0
