// Package tenantdb is the generated ent client of the tenant graph (the
// application's entities). Everything here but this file is generated: edit
// schema/tenantdb and run `go generate ./...`.
package tenantdb

//go:generate go tool ent generate --feature sql/versioned-migration,sql/execquery --target . ../../schema/tenantdb
