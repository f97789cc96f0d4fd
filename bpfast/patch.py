"""``python -m bpfast.patch script.py [args ...]`` (or ``-m module [args ...]``):
run a program with scikit-learn's MLPClassifier and MLPRegressor replaced by
bpfast's (``bpfast.patch_sklearn()``), in its process and in the Python
processes it starts. The program runs as ``__main__`` with ``sys.argv`` as
it would get from ``python script.py args ...``."""

import os
import runpy
import sys

USAGE = "usage: python -m bpfast.patch script.py [args ...] | -m module [args ...]"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    from . import patch_sklearn

    patch_sklearn()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        # as `python -m module`: the current directory first on sys.path
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        # as `python script.py`: the script's directory first on sys.path
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
