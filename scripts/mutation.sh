#!/usr/bin/env bash
# Mutation-test one module with mutmut (pip install -e '.[dev]'), against the tests that cover it.
#
#   scripts/mutation.sh logsvc/entry.py tests/test_entry.py [more test files or pytest args]
#
# mutmut writes a mutants/ tree beside the code, so this runs in a scratch copy of the work tree
# (left in place, and printed, for `mutmut results`, `mutmut show NAME` and `mutmut browse`).
# A developer's command, not part of CI: it runs the given tests once per mutant.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 logsvc/MODULE.py TEST_FILE... (the tests that cover the module)" >&2
    exit 2
fi
module=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/logsvc-mutation.XXXXXX")
cp -r "$root/logsvc" "$root/tests" "$root/pyproject.toml" "$work/"
find "$work" -name __pycache__ -prune -exec rm -rf {} +
# setup.cfg, not pyproject.toml: the module and tests change from run to run.
{
    echo "[mutmut]"
    echo "source_paths=logsvc"
    echo "only_mutate=$module"
    echo "pytest_add_cli_args_test_selection="
    printf '    %s\n' "$@"
} > "$work/setup.cfg"
cd "$work"
echo "mutation testing $module in $work" >&2
mutmut run || true  # a run with survivors is a result, not an error
mutmut results
