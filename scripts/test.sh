#!/usr/bin/env bash
# The test command (README.md, .ci/run): installs any missing tool, then runs every test.
# KOD_CORPUS=../shared/corpus enables the corpus fidelity tests when that folder exists.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-tools.sh
export PATH="$root/.tools/bin:$PATH"
if [ -z "${KOD_CORPUS:-}" ] && [ -d "$root/../shared/corpus" ]; then
    export KOD_CORPUS="$(cd "$root/../shared/corpus" && pwd)"
fi
exec cargo test --workspace --all-targets "$@"
