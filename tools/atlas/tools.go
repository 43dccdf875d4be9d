//go:build tools

// Package tools pins the Atlas CLI that scripts/build-atlas.sh builds into
// bin/atlas. It is a separate module so that the CLI's dependencies (and the
// golang.org/x/tools version it needs to build with this Go) never touch the
// main module's go.mod.
package tools

import _ "ariga.io/atlas/cmd/atlas"
