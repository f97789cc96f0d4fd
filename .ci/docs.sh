#!/usr/bin/env bash
# CI: the documentation, built exactly as the README says (warnings are
# errors; the gallery's examples run), in the CI virtual environment that
# .ci/run has activated. Prints the build's time.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst
start=$(date +%s)
pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build/html
echo "docs: built in $(( $(date +%s) - start )) s (docs/_build/html/index.html)"
