"""bpfast.patch_sklearn / unpatch_sklearn and `python -m bpfast.patch`: which
MLP class scikit-learn hands out, in this process, to code imported later,
in joblib's loky workers (GridSearchCV(n_jobs=2)) and in a patched program's
own processes. tests/thirdparty_mlp.py stands for a library that imports
scikit-learn's MLPs on its own."""
import importlib
import os
import pathlib
import site
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import sklearn.neural_network
from sklearn.exceptions import ConvergenceWarning
import sklearn.neural_network._multilayer_perceptron as private_module

import bpfast
from bpfast._patch import ENV_VAR, sklearn_classes

HERE = pathlib.Path(__file__).resolve().parent
SK_CLASSIFIER, SK_REGRESSOR = sklearn_classes()
PTH_NAME = "bpfast-sklearn-patch.pth"


@pytest.fixture(autouse=True)
def unpatched_after():
    """Every test leaves scikit-learn and the environment as it found them."""
    yield
    bpfast.unpatch_sklearn()
    sys.modules.pop("thirdparty_mlp", None)


def fresh_thirdparty():
    """tests/thirdparty_mlp.py imported anew (as code imported after the
    patch would be)."""
    sys.modules.pop("thirdparty_mlp", None)
    if str(HERE) not in sys.path:   # (workers get this sys.path too)
        sys.path.insert(0, str(HERE))
    return importlib.import_module("thirdparty_mlp")


def installed_pth():
    """The startup hook where this Python processes .pth files, or None."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    for directory in dirs:
        path = pathlib.Path(directory, PTH_NAME)
        if path.is_file():
            return path
    return None


@pytest.fixture
def startup_hook(tmp_path, monkeypatch):
    """Python processes started from here run the startup hook: the installed
    one, or, where bpfast runs from a source tree that was not installed
    with it (its .pth in bpfast/), the same file handed to them as a site
    directory, by a sitecustomize on PYTHONPATH."""
    if installed_pth() is not None:
        return installed_pth()
    source = pathlib.Path(bpfast.__file__).parent
    if not (source / "_sklearn_patch.pth").is_file():
        pytest.skip("bpfast's startup hook is neither installed nor in its source tree")
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / PTH_NAME).write_text((source / "_sklearn_patch.pth").read_text())
    (site_dir / "_bpfast_startup.py").write_text((source / "_startup.py").read_text())
    (tmp_path / "sitecustomize.py").write_text(
        f"import site\nsite.addsitedir({str(site_dir)!r})\n")
    paths = [str(tmp_path)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                               if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return site_dir / PTH_NAME


def test_patch_replaces_every_path_and_unpatch_restores():
    assert sklearn.neural_network.MLPClassifier is SK_CLASSIFIER
    bpfast.patch_sklearn()
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    assert MLPClassifier is bpfast.MLPClassifier
    assert MLPRegressor is bpfast.MLPRegressor
    assert sklearn.neural_network.MLPClassifier is bpfast.MLPClassifier
    assert private_module.MLPClassifier is bpfast.MLPClassifier
    assert private_module.MLPRegressor is bpfast.MLPRegressor
    assert os.environ[ENV_VAR] == "1"
    bpfast.patch_sklearn()   # idempotent
    assert sklearn.neural_network.MLPRegressor is bpfast.MLPRegressor

    bpfast.unpatch_sklearn()
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    assert MLPClassifier is SK_CLASSIFIER and MLPRegressor is SK_REGRESSOR
    assert private_module.MLPClassifier is SK_CLASSIFIER
    assert private_module.MLPRegressor is SK_REGRESSOR
    assert ENV_VAR not in os.environ
    bpfast.unpatch_sklearn()   # idempotent
    assert sklearn.neural_network.MLPClassifier is SK_CLASSIFIER


def test_code_imported_after_the_patch_gets_bpfast(digits):
    X, y = digits
    bpfast.patch_sklearn()
    thirdparty = fresh_thirdparty()
    assert set(thirdparty.classes().values()) == {"bpfast._mlp"}
    # what it builds trains and predicts as bpfast's estimator does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net = thirdparty.SmallNet(hidden=8).fit(X[:300], y[:300])
        reference = bpfast.MLPClassifier((8,), max_iter=5, random_state=0)
        reference.fit(X[:300], y[:300])
    assert isinstance(net.mlp_, bpfast.MLPClassifier)
    np.testing.assert_array_equal(net.mlp_.predict_proba(X), reference.predict_proba(X))

    bpfast.unpatch_sklearn()
    thirdparty = fresh_thirdparty()
    assert set(thirdparty.classes().values()) == {
        "sklearn.neural_network._multilayer_perceptron"}


def test_code_imported_before_the_patch_keeps_its_binding():
    """The documented limit: a name bound before the patch stays bound to
    scikit-learn's class; attribute access on the module follows the patch."""
    thirdparty = fresh_thirdparty()
    bpfast.patch_sklearn()
    classes = thirdparty.classes()
    assert classes["imported"] == "sklearn.neural_network._multilayer_perceptron"
    assert classes["attribute"] == "bpfast._mlp"


def grid_search_scores(X, y):
    from sklearn.model_selection import GridSearchCV

    thirdparty = fresh_thirdparty()
    search = GridSearchCV(thirdparty.SmallNet(parent_pid=os.getpid()),
                          {"hidden": [3, 4]}, cv=2, n_jobs=2,
                          scoring=thirdparty.bpfast_in_worker, refit=False,
                          error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    return search.cv_results_["mean_test_score"]


def test_loky_workers_of_grid_search_follow_the_patch(digits, startup_hook):
    """A library imported in a loky worker (to unpickle its estimator) that
    builds scikit-learn's MLPClassifier itself gets bpfast's in every worker
    after patch_sklearn, scikit-learn's after unpatch_sklearn: the workers
    are restarted on either change and patched at their start."""
    X, y = digits
    X, y = X[:200], y[:200]
    bpfast.patch_sklearn()
    np.testing.assert_array_equal(grid_search_scores(X, y), [1.0, 1.0])
    bpfast.unpatch_sklearn()
    np.testing.assert_array_equal(grid_search_scores(X, y), [0.0, 0.0])


def test_startup_hook_does_nothing_without_the_variable(startup_hook, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    code = ("import sys; b = 'bpfast' in sys.modules; import sklearn.neural_network as nn;"
            " print(b, nn.MLPClassifier.__module__, 'bpfast' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "sklearn.neural_network._multilayer_perceptron", "False"]
    # with the variable: bpfast is imported only with scikit-learn's MLPs
    monkeypatch.setenv(ENV_VAR, "1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "bpfast._mlp", "True"]
    private = ("from sklearn.neural_network._multilayer_perceptron import MLPRegressor;"
               " print(MLPRegressor.__module__)")
    out = subprocess.run([sys.executable, "-c", private], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["bpfast._mlp"]


def test_multiprocessing_spawn_children_follow_the_patch(startup_hook):
    import multiprocessing

    fresh_thirdparty()
    from thirdparty_mlp import mlp_module_in_process
    context = multiprocessing.get_context("spawn")
    bpfast.patch_sklearn()
    with context.Pool(1) as pool:
        pid, module = pool.apply(mlp_module_in_process, (0,))
    assert pid != os.getpid() and module == "bpfast._mlp"
    bpfast.unpatch_sklearn()
    with context.Pool(1) as pool:
        _, module = pool.apply(mlp_module_in_process, (0,))
    assert module == "sklearn.neural_network._multilayer_perceptron"


PROGRAM = textwrap.dedent("""
    import os
    import sys

    import thirdparty_mlp
    from joblib import Parallel, delayed

    if __name__ == "__main__":   # (loky's workers import this file as __mp_main__)
        print("name", __name__)
        print("argv", *sys.argv)
        print("classes", *sorted(set(thirdparty_mlp.classes().values())))
        results = Parallel(n_jobs=2, backend="loky")(
            delayed(thirdparty_mlp.mlp_module_in_process)(i) for i in range(4))
        print("workers", *sorted({module for _, module in results}))
        print("pids", len({pid for pid, _ in results} - {os.getpid()}) > 0)
""")


def test_python_m_bpfast_patch_runs_a_script_patched(tmp_path, startup_hook):
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    (tmp_path / "thirdparty_mlp.py").write_text((HERE / "thirdparty_mlp.py").read_text())
    env = dict(os.environ)
    env.pop(ENV_VAR, None)
    result = subprocess.run(
        [sys.executable, "-m", "bpfast.patch", str(script), "--flag", "value"],
        capture_output=True, text=True, env=env, cwd=str(HERE.parent))
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["name"] == "__main__"
    assert lines["argv"] == f"{script} --flag value"
    assert lines["classes"] == "bpfast._mlp"
    assert lines["workers"] == "bpfast._mlp"
    assert lines["pids"] == "True"

    # the same program without the patch
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, cwd=str(HERE.parent))
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["classes"] == "sklearn.neural_network._multilayer_perceptron"
    assert lines["workers"] == "sklearn.neural_network._multilayer_perceptron"


def test_python_m_bpfast_patch_runs_a_module(tmp_path):
    (tmp_path / "prog_module.py").write_text(
        "import sys, sklearn.neural_network as nn\n"
        "print(__name__, nn.MLPRegressor.__module__, *sys.argv[1:])\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(tmp_path)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    result = subprocess.run(
        [sys.executable, "-m", "bpfast.patch", "-m", "prog_module", "a", "b"],
        capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["__main__", "bpfast._mlp", "a", "b"]


def test_python_m_bpfast_patch_without_a_program_prints_usage():
    result = subprocess.run([sys.executable, "-m", "bpfast.patch"], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "usage" in result.stderr


def test_startup_hook_files_are_the_installed_ones():
    """An install (wheel or editable) carries the hook from the source tree."""
    installed = installed_pth()
    source = pathlib.Path(bpfast.__file__).parent
    if installed is None or not (source / "_sklearn_patch.pth").is_file():
        pytest.skip("needs both an installed hook and bpfast's source tree")
    assert installed.read_text() == (source / "_sklearn_patch.pth").read_text()
    module = installed.parent / "_bpfast_startup.py"
    assert module.read_text() == (source / "_startup.py").read_text()
