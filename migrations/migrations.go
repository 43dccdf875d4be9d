// Package migrations embeds the Atlas versioned migration directories, one
// per graph and dialect. The files are generated from the ent schemas by
// `make migration name=...`; never edit an applied file (atlas.sum refuses it).
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
)

//go:embed main tenant
var files embed.FS

// Graph names a kind of database.
type Graph string

const (
	// Main is the main database: the tenant registry plus the application
	// schema, so single-tenant mode runs on it unchanged.
	Main Graph = "main"
	// Tenant is every tenant database (and the template they are cloned from).
	Tenant Graph = "tenant"
)

// Graphs lists every graph.
var Graphs = []Graph{Main, Tenant}

// Dialects lists the ent dialects that have migration directories.
var Dialects = []string{dialect.Postgres, dialect.SQLite}

// DirName is the directory of a dialect below a graph's directory.
func DirName(dialectName string) (string, error) {
	switch dialectName {
	case dialect.Postgres:
		return "postgres", nil
	case dialect.SQLite:
		return "sqlite", nil
	default:
		return "", fmt.Errorf("no migrations for dialect %q", dialectName)
	}
}

// RelPath is the directory of (graph, dialect) relative to this package.
func RelPath(g Graph, dialectName string) (string, error) {
	d, err := DirName(dialectName)
	if err != nil {
		return "", err
	}
	return path.Join(string(g), d), nil
}

// Dir returns the embedded migration directory of (graph, dialect) as an
// Atlas directory, checked against its atlas.sum.
func Dir(g Graph, dialectName string) (migrate.Dir, error) {
	rel, err := RelPath(g, dialectName)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(files, rel)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations %s: %w", rel, err)
	}
	dir := &migrate.MemDir{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(files, path.Join(rel, e.Name()))
		if err != nil {
			return nil, err
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	if err := migrate.Validate(dir); err != nil {
		return nil, fmt.Errorf("migrations %s: %w", rel, err)
	}
	return dir, nil
}
