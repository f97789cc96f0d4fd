"""bpfast's startup hook for child processes of a patched one.

An install places a copy of this file at the top of site-packages as
``_bpfast_startup`` next to ``bpfast-sklearn-patch.pth``, whose one line runs
``_bpfast_startup.install()`` at interpreter start-up when the environment
variable BPFAST_PATCH_SKLEARN is set (bpfast.patch_sklearn() sets it, and
child processes inherit it); without the variable the line does nothing.

It imports nothing but the standard library, since .pth files run while
site-packages are still being set up: install() only registers an import
hook, and when ``sklearn.neural_network`` is first imported, once that
module has run, the hook imports bpfast and calls ``bpfast.patch_sklearn()``
before the importer sees the module. A process that never imports
scikit-learn's MLPs never imports bpfast. bpfast itself uses the same hook
(after_import) to register its ONNX converters once skl2onnx is imported.
"""

import os
import sys

ENV_VAR = "BPFAST_PATCH_SKLEARN"
TARGET = "sklearn.neural_network"


def wanted():
    return os.environ.get(ENV_VAR, "0") not in ("", "0")


class _AfterImportLoader:
    """A module's own loader, calling the finder's callback once the module
    has run."""

    def __init__(self, loader, finder):
        self.loader = loader
        self.finder = finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        # from here on the module is as its own loader leaves it
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self.finder]
        self.finder.callback()

    def __getattr__(self, name):   # get_resource_reader, get_source, is_package, ...
        return getattr(self.loader, name)


class AfterImportFinder:
    """Finds nothing itself: hands the spec of module `name`, as the other
    finders find it, over to an _AfterImportLoader that calls `callback`
    (no arguments) once the module has run, then leaves sys.meta_path."""

    def __init__(self, name, callback):
        self.name = name
        self.callback = callback

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _AfterImportLoader(spec.loader, self)
        return spec


def after_import(name, callback):
    """Call callback() once module `name` has been imported: now if it has
    been already, else right after its first import (one hook per name and
    callback, however often this is called)."""
    if sys.modules.get(name) is not None:
        callback()
    elif not any(isinstance(f, AfterImportFinder) and f.name == name
                 and f.callback == callback for f in sys.meta_path):
        sys.meta_path.insert(0, AfterImportFinder(name, callback))


def _patch_if_wanted():
    if wanted():
        import bpfast
        bpfast.patch_sklearn()


def install():
    """Patch scikit-learn's MLPs in this process, now if sklearn.neural_network
    is imported already, else when it is (BPFAST_PATCH_SKLEARN set only)."""
    if wanted():
        after_import(TARGET, _patch_if_wanted)
