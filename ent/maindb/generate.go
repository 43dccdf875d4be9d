// Package maindb is the generated ent client of the main database graph (the
// tenant registry). Everything here but this file is generated: edit
// schema/maindb and run `go generate ./...`.
package maindb

//go:generate go tool ent generate --feature sql/versioned-migration,sql/execquery --target . ../../schema/maindb
