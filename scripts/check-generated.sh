#!/usr/bin/env bash
# Fails when `go generate ./...` changes ent/: the generated code is out of
# date with schema/. It compares ent/ before and after generating (not with
# the last commit), so freshly generated, not yet committed code passes; on
# a clean checkout (CI) that is the same as comparing with the commit.
set -euo pipefail
GO=${GO:-go}
fingerprint() { find ent -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; }
before=$(mktemp)
trap 'rm -f "$before"' EXIT
fingerprint >"$before"
"$GO" generate ./...
if ! fingerprint | diff -u "$before" - >/dev/null; then
	fingerprint | diff "$before" - | sed -n 's/^[<>] [0-9a-f]*  /  changed: /p' | sort -u
	echo "generated code is stale: 'go generate ./...' changed ent/; commit the result" >&2
	exit 1
fi
