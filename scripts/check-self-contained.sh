#!/usr/bin/env bash
# Fails when a tracked file refers to the team's reading material outside the repository (the
# directory beside the clone). A user clones only this repository: whatever the project needs at
# build, run or test time it owns or installs. The pattern is split so this file does not match.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\.\.[/]shared([/"'"'"'` ]|$)|SEALIFT_'"SHARED"
if hits=$(git grep -n -E "$pattern" -- . 2>/dev/null); then
  echo "check-self-contained: tracked files refer to a path outside the repository:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "check-self-contained: ok"
