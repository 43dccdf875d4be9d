#!/usr/bin/env bash
# Builds the Atlas CLI pinned by tools/atlas/go.mod into bin/atlas.
#
# The Go module proxy serves ariga.io/atlas/cmd/atlas only up to v0.13.1 and
# the prebuilt installers download from the internet, so the CLI is built from
# source in its own module (tools/atlas): its dependencies never touch the main
# module's go.mod. A cold build takes a few minutes; when bin/atlas already
# reports the pinned version the script does nothing (set ATLAS_REBUILD=1 to
# force a build).
#
# Usage: scripts/build-atlas.sh            (from anywhere in the repository)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/tools/atlas"
out="$root/bin/atlas"
pkg="ariga.io/atlas/cmd/atlas"

# The pinned version, read from the tools module's go.mod (single source of truth).
version="$(awk -v p="$pkg" '($1 == p) { print $2 } ($1 == "require" && $2 == p) { print $3 }' "$tools/go.mod" | head -n1)"
if [[ -z "$version" ]]; then
	echo "build-atlas: cannot find $pkg in $tools/go.mod" >&2
	exit 1
fi

# `atlas version` prints "atlas version vX.Y.Z" followed by a release URL.
if [[ -z "${ATLAS_REBUILD:-}" && -x "$out" ]]; then
	have="$(ATLAS_NO_UPDATE_NOTIFIER=1 "$out" version 2>/dev/null | head -n1 || true)"
	if [[ "$have" == "atlas version $version" ]]; then
		echo "build-atlas: $out is already $version"
		exit 0
	fi
	echo "build-atlas: $out reports '${have:-nothing}', rebuilding $version"
fi

mkdir -p "$root/bin"
tmp="$(mktemp "$root/bin/.atlas.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

echo "build-atlas: building $pkg@$version into $out (a cold build takes a few minutes)"
start=$SECONDS
# GOWORK=off: a go.work elsewhere must not pull the main module in.
# -mod=readonly: tools/atlas/go.sum is complete; never edit it during a build.
# The -X flag stamps the version so that `atlas version` (and the
# operator_version column of atlas_schema_revisions) report it.
(
	cd "$tools"
	GOWORK=off go build -mod=readonly -trimpath \
		-ldflags "-s -w -X ariga.io/atlas/cmd/atlas/internal/cmdapi.version=$version" \
		-o "$tmp" "$pkg"
)
chmod 0755 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
echo "build-atlas: built $(ATLAS_NO_UPDATE_NOTIFIER=1 "$out" version 2>/dev/null | head -n1) in $((SECONDS - start))s"
