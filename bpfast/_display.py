"""LossCurveDisplay: training and validation curves of a fitted MLP."""

import numpy as np
from sklearn.utils.validation import check_is_fitted


class LossCurveDisplay:
    """Loss curve visualisation, following scikit-learn's Display convention.

    Draws ``loss_curve_`` and, when present, ``validation_loss_curve_`` on one
    axis and ``validation_scores_`` on a twin axis. Build it with
    :meth:`from_estimator`; matplotlib is needed only to plot.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
    validation_loss_curve : array-like of shape (n_epochs,), default=None
    validation_scores : array-like of shape (n_epochs,), default=None
    estimator_name : str, default=None

    Attributes
    ----------
    lines_ : dict of matplotlib Line2D
        Keys 'loss', 'validation_loss', 'validation_score' (those drawn).
    ax_ : matplotlib Axes
        The axis of the losses.
    score_ax_ : matplotlib Axes or None
        The twin axis of the validation scores.
    figure_ : matplotlib Figure
    """

    def __init__(self, loss_curve, validation_loss_curve=None, validation_scores=None,
                 estimator_name=None):
        self.loss_curve = loss_curve
        self.validation_loss_curve = validation_loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, name=None):
        """Draw the curves on `ax` (a new figure if None); returns self."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        name = self.estimator_name if name is None else name
        epochs = np.arange(1, len(self.loss_curve) + 1)
        self.lines_ = {}
        (self.lines_["loss"],) = ax.plot(epochs, self.loss_curve, label="training loss")
        if self.validation_loss_curve is not None and len(self.validation_loss_curve):
            (self.lines_["validation_loss"],) = ax.plot(
                epochs[-len(self.validation_loss_curve):], self.validation_loss_curve,
                label="validation loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        self.score_ax_ = None
        handles = list(self.lines_.values())
        if self.validation_scores is not None and len(self.validation_scores):
            self.score_ax_ = ax.twinx()
            (self.lines_["validation_score"],) = self.score_ax_.plot(
                epochs[-len(self.validation_scores):], self.validation_scores,
                color="tab:green", linestyle="--", label="validation score")
            self.score_ax_.set_ylabel("validation score")
            handles.append(self.lines_["validation_score"])
        ax.legend(handles=handles, loc="best")
        if name:
            ax.set_title(name)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None):
        """Plot the curves recorded by a fitted bpfast estimator (stochastic
        solvers record them; lbfgs does not)."""
        check_is_fitted(estimator)
        if not hasattr(estimator, "loss_curve_"):
            raise ValueError(
                f"{type(estimator).__name__} with solver={estimator.solver!r} records no "
                "loss curve; use a stochastic solver ('sgd', 'adam', 'rmsprop').")
        disp = cls(list(estimator.loss_curve_),
                   validation_loss_curve=getattr(estimator, "validation_loss_curve_", None),
                   validation_scores=getattr(estimator, "validation_scores_", None),
                   estimator_name=name or type(estimator).__name__)
        return disp.plot(ax=ax)
