"""LossCurveDisplay: training and validation curves of a fitted MLP."""

import numpy as np
from sklearn.utils.validation import check_is_fitted


class LossCurveDisplay:
    """Loss curve visualisation, following scikit-learn's Display convention.

    Draws the training loss of each epoch (``loss_curve_``) and, when
    recorded, the validation loss (``validation_loss_curve_``) on one
    axis, and the validation scores (``validation_scores_``) on a twin
    axis. Build it with :meth:`from_estimator`, or from the curves with
    the constructor and :meth:`plot`. matplotlib is needed only to plot.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        The training loss of each epoch.
    validation_loss_curve : array-like of shape (n_validated,), default=None
        The validation loss of each of the last ``n_validated`` epochs;
        None (or empty) draws none.
    validation_scores : array-like of shape (n_validated,), default=None
        The validation score of each of the last ``n_validated`` epochs;
        None (or empty) draws none.
    estimator_name : str, default=None
        The title of the plot; None draws no title.

    Attributes
    ----------
    lines_ : dict of str to matplotlib.lines.Line2D
        The lines drawn, under the keys 'loss', 'validation_loss' and
        'validation_score' (those drawn only).
    ax_ : matplotlib.axes.Axes
        The axis of the losses.
    score_ax_ : matplotlib.axes.Axes or None
        The twin axis of the validation scores; None when there are none.
    figure_ : matplotlib.figure.Figure
        The figure of ``ax_``.

    See Also
    --------
    bpfast.MLPClassifier : Records the curves when fitted by a stochastic solver.
    bpfast.MLPRegressor : Records the curves when fitted by a stochastic solver.
    sklearn.metrics.RocCurveDisplay : A scikit-learn display of the same
        convention.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import make_classification
    >>> from bpfast import LossCurveDisplay, MLPClassifier
    >>> X, y = make_classification(n_samples=200, n_features=4, n_redundant=0,
    ...                            random_state=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True,
    ...                     learning_rate_init=0.01, random_state=0).fit(X, y)
    >>> disp = LossCurveDisplay.from_estimator(clf)
    >>> sorted(disp.lines_)
    ['loss', 'validation_loss', 'validation_score']
    >>> disp.ax_.get_xlabel(), disp.score_ax_.get_ylabel()
    ('epoch', 'validation score')
    >>> import matplotlib.pyplot as plt
    >>> plt.close(disp.figure_)
    """

    def __init__(self, loss_curve, validation_loss_curve=None, validation_scores=None,
                 estimator_name=None):
        self.loss_curve = loss_curve
        self.validation_loss_curve = validation_loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, name=None):
        """Draw the curves.

        Draws on ``ax`` the curves the display holds, with a legend, and
        the validation scores on a twin axis.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            The axis to draw on; None draws on a new figure.
        name : str, default=None
            The title of the plot; None takes ``estimator_name``.

        Returns
        -------
        LossCurveDisplay
            This display, with ``lines_``, ``ax_``, ``score_ax_`` and
            ``figure_`` set.

        See Also
        --------
        bpfast.LossCurveDisplay.from_estimator : Builds and plots the display of
            a fitted estimator.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from bpfast import LossCurveDisplay
        >>> fig, ax = plt.subplots()
        >>> disp = LossCurveDisplay([0.9, 0.5, 0.3], validation_loss_curve=[0.8, 0.6],
        ...                         estimator_name="a run").plot(ax=ax)
        >>> sorted(disp.lines_), disp.score_ax_ is None
        (['loss', 'validation_loss'], True)
        >>> ax.get_title()
        'a run'
        >>> plt.close(fig)
        """
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
        """Plot the curves a fitted bpfast estimator recorded.

        The stochastic solvers record them; an estimator fitted by 'lbfgs'
        has no loss curve, and raises ValueError here.

        Parameters
        ----------
        estimator : MLPClassifier or MLPRegressor
            A fitted estimator (bpfast's or bpfast.dask's).
        ax : matplotlib.axes.Axes, default=None
            The axis to draw on; None draws on a new figure.
        name : str, default=None
            The title of the plot; None takes the estimator's class name.

        Returns
        -------
        LossCurveDisplay
            The display, plotted.

        See Also
        --------
        bpfast.LossCurveDisplay.plot : Draws a display built from the curves.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from bpfast import LossCurveDisplay, MLPRegressor
        >>> X = [[0.0], [0.5], [1.0], [1.5]]
        >>> reg = MLPRegressor(hidden_layer_sizes=(4,), learning_rate_init=0.1,
        ...                    n_iter_no_change=2, random_state=0)
        >>> reg = reg.fit(X, [0.0, 1.0, 2.0, 3.0])
        >>> disp = LossCurveDisplay.from_estimator(reg, name="regression")
        >>> len(disp.lines_["loss"].get_xdata()) == reg.n_iter_
        True
        >>> plt.close(disp.figure_)
        """
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
