"""Put bpfast's estimators in scikit-learn's place, in this process and in the
Python processes it starts.

``patch_sklearn()`` sets ``MLPClassifier`` and ``MLPRegressor`` of
``sklearn.neural_network`` and of ``sklearn.neural_network._multilayer_perceptron``
to bpfast's, so every later ``from sklearn.neural_network import MLPClassifier``
(or attribute access on either module) gets bpfast's, whoever makes it.
``unpatch_sklearn()`` puts scikit-learn's own classes back.

Child processes: patch_sklearn() also sets the environment variable
BPFAST_PATCH_SKLEARN=1, which child processes inherit, and bpfast installs a
startup hook, ``bpfast-sklearn-patch.pth`` and ``_bpfast_startup.py`` in
site-packages (a wheel and ``pip install -e .`` both put them there; see
setup.py and bpfast/_startup.py), which, in any Python process that starts
with that variable set, patches ``sklearn.neural_network`` as it is first
imported, before any code gets its classes: joblib/loky and multiprocessing
workers (spawn, forkserver), ``subprocess`` calls of the same Python.
(Forked children inherit the patched modules themselves.) Loky keeps its
worker processes for reuse, so a change of the patch retires the idle
workers of joblib's executor, and the next parallel call starts fresh ones.

Limits: code that bound scikit-learn's class to a name of its own before the
patch (``from sklearn.neural_network import MLPClassifier`` run earlier, in
this process) keeps it; a process started with ``python -S`` or ``-I``
(no site-packages processing), or a Python environment without bpfast
installed, is not patched; nor are processes already running (a dask
cluster started before the patch), nor loky workers busy when the patch
changes.
"""

import os

ENV_VAR = "BPFAST_PATCH_SKLEARN"
_MODULES = ("sklearn.neural_network", "sklearn.neural_network._multilayer_perceptron")
_NAMES = ("MLPClassifier", "MLPRegressor")
_originals = None


def sklearn_classes():
    """scikit-learn's own (MLPClassifier, MLPRegressor), patched or not."""
    global _originals
    if _originals is None:
        from sklearn.neural_network import _multilayer_perceptron as module
        classes = tuple(getattr(module, name) for name in _NAMES)
        if any(not cls.__module__.startswith("sklearn.") for cls in classes):
            # patched before these were looked up: scikit-learn's classes are
            # still the module's subclasses of its base class
            base = module.BaseMultilayerPerceptron
            by_name = {cls.__name__: cls for cls in base.__subclasses__()
                       if cls.__module__ == module.__name__}
            classes = tuple(by_name[name] for name in _NAMES)
        _originals = classes
    return _originals


def _set(classes):
    import importlib

    for module_name in _MODULES:
        module = importlib.import_module(module_name)
        for name, cls in zip(_NAMES, classes):
            setattr(module, name, cls)


def patch_sklearn():
    """Make scikit-learn's MLPClassifier and MLPRegressor bpfast's.

    Sets ``MLPClassifier`` and ``MLPRegressor`` of
    ``sklearn.neural_network`` (and of its ``_multilayer_perceptron``
    module) to bpfast's estimators, so that every later import or
    attribute access gets bpfast's, and sets the environment variable
    ``BPFAST_PATCH_SKLEARN=1`` so that the Python processes started from
    now on (joblib / loky and multiprocessing workers, subprocesses of the
    same Python) are patched too. ``python -m bpfast.patch script.py``
    runs a script patched.

    Code that bound scikit-learn's class to a name of its own before the
    call keeps it; processes already running, and Pythons started with
    ``-S`` or ``-I`` or without bpfast installed, are not patched.

    See Also
    --------
    bpfast.unpatch_sklearn : Gives scikit-learn its own classes back.

    Examples
    --------
    >>> import sklearn.neural_network
    >>> from bpfast import patch_sklearn, unpatch_sklearn
    >>> patch_sklearn()
    >>> sklearn.neural_network.MLPClassifier.__module__
    'bpfast._mlp'
    >>> unpatch_sklearn()
    >>> sklearn.neural_network.MLPClassifier.__module__
    'sklearn.neural_network._multilayer_perceptron'
    """
    from ._mlp import MLPClassifier, MLPRegressor

    sklearn_classes()
    _set((MLPClassifier, MLPRegressor))
    _set_environment(True)


def unpatch_sklearn():
    """Give scikit-learn its own MLPClassifier and MLPRegressor back.

    Undoes :func:`bpfast.patch_sklearn`, in this process and, by clearing
    ``BPFAST_PATCH_SKLEARN``, in the Python processes started from now
    on. Calling it without a patch in place changes nothing.

    See Also
    --------
    bpfast.patch_sklearn : Puts bpfast's estimators in scikit-learn's place.

    Examples
    --------
    >>> from sklearn import neural_network
    >>> from bpfast import patch_sklearn, unpatch_sklearn
    >>> patch_sklearn()
    >>> unpatch_sklearn()
    >>> neural_network.MLPRegressor.__module__
    'sklearn.neural_network._multilayer_perceptron'
    """
    _set(sklearn_classes())
    _set_environment(False)


def _set_environment(patched):
    before = os.environ.get(ENV_VAR, "0") not in ("", "0")
    if patched:
        os.environ[ENV_VAR] = "1"
    else:
        os.environ.pop(ENV_VAR, None)
    if before != patched:
        _retire_loky_workers()


def _retire_loky_workers():
    """Shut joblib's reusable loky executor down, if one is running and idle,
    so that its next use starts workers in the current environment. (Loky
    reuses workers across calls; their environment is the one they were
    started in.)"""
    import sys

    reusable = sys.modules.get("joblib.externals.loky.reusable_executor")
    if reusable is None:
        return   # joblib has started no loky workers in this process
    try:
        with reusable._executor_lock:
            executor = reusable._executor
        if (executor is None or executor._flags.shutdown
                or getattr(executor, "_pending_work_items", None)):
            return   # none, or busy: its workers keep the state they have
        executor.shutdown(wait=True)
    except AttributeError:
        pass   # a loky whose internals differ: its workers stay as they are
