"""The order of the gallery's examples (sphinx-gallery's within_subsection_order)."""

ORDER = [
    "plot_xor.py",
    "plot_digits.py",
    "plot_loss_curves.py",
    "plot_class_weight.py",
    "plot_monitor.py",
    "plot_dropout_l1.py",
    "plot_partial_fit.py",
    "plot_explain.py",
    "plot_dask.py",
]


class ExampleOrder:
    """Sort key: the examples in ORDER first, in that order, then the others by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (0, ORDER.index(filename), filename)
        return (1, 0, filename)

    def __repr__(self):
        return f"<{type(self).__name__}>"
