# Shared by CI's legs that build bpfast apart from the work tree (debug,
# clang, no-openmp, portable-wait): source it, then
#     copy_tree DEST         a copy of the sources in DEST: tracked files and
#                            untracked, not ignored ones; no build outputs
#     build_in_copy DEST LOG [VAR=value ...]
#                            `setup.py build_ext --inplace` in DEST with those
#                            variables set, its output in LOG (printed, and
#                            the leg failed, if the build fails)
#     use_copy DEST          put DEST first on PYTHONPATH and cd there, so that
#                            the tests import the copy's build
# $PY is the interpreter (default: python, the active environment's).
PY="${PY:-${PYTHON:-python}}"

copy_tree() {
    local repo dest=$1
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
            | tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$dest"
    else
        cp -a "$repo/." "$dest/"
    fi
    rm -rf "$dest/build" "$dest"/bpfast/*.so "$dest"/bpfast/*.c
}

build_in_copy() {
    local dest=$1 log=$2
    shift 2
    "$PY" -c "import Cython, setuptools" 2>/dev/null \
        || "$PY" -m pip install -q "Cython>=3.1" "setuptools>=77"
    (cd "$dest" && env "$@" "$PY" setup.py -q build_ext --inplace >"$log" 2>&1) \
        || { cat "$log"; echo "build failed ($*)" >&2; return 1; }
}

use_copy() {
    cd "$1"
    export PYTHONPATH="$1${PYTHONPATH:+:$PYTHONPATH}"
}
