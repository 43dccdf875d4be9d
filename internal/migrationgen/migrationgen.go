// Package migrationgen writes the versioned migration files of every graph
// and dialect from the ent schemas, and detects drift between the two. It
// computes each diff against a dev database: a throwaway PostgreSQL database
// it creates and drops, or an in-memory SQLite database.
package migrationgen

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"

	maindbmigrate "github.com/tenantkit/tenantkit/ent/maindb/migrate"
	tenantdbmigrate "github.com/tenantkit/tenantkit/ent/tenantdb/migrate"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// DefaultDevServer is the PostgreSQL server used for dev databases.
const DefaultDevServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Target is one migration directory and the ent tables it must describe.
type Target struct {
	Graph   migrations.Graph
	Dialect string
	Tables  []*schema.Table
}

// Targets returns every migration directory. The main database holds the
// registry and the application schema; tenant databases the application
// schema only.
func Targets() []Target {
	var ts []Target
	for _, d := range migrations.Dialects {
		ts = append(ts,
			Target{Graph: migrations.Main, Dialect: d, Tables: append(append([]*schema.Table{}, maindbmigrate.Tables...), tenantdbmigrate.Tables...)},
			Target{Graph: migrations.Tenant, Dialect: d, Tables: tenantdbmigrate.Tables},
		)
	}
	return ts
}

// Generator computes diffs on dev databases.
type Generator struct {
	// MigrationsRoot is the path of the migrations/ directory.
	MigrationsRoot string
	// DevServer is a postgres:// URL of a server where a throwaway database
	// may be created (DefaultDevServer when empty).
	DevServer string
}

// Path returns the directory of a target on disk.
func (g Generator) Path(t Target) (string, error) {
	rel, err := migrations.RelPath(t.Graph, t.Dialect)
	if err != nil {
		return "", err
	}
	return filepath.Join(g.MigrationsRoot, filepath.FromSlash(rel)), nil
}

// Generate writes the next migration file named name into every target
// whose schema changed, and returns the targets it wrote.
func (g Generator) Generate(ctx context.Context, name string) ([]Target, error) {
	return g.GenerateTargets(ctx, name, Targets())
}

// GenerateTargets is Generate against the given targets instead of
// Targets(), for tools and tests that diff tables other than the generated
// packages' own.
func (g Generator) GenerateTargets(ctx context.Context, name string, targets []Target) ([]Target, error) {
	// "add new feature" names the file <timestamp>_add_new_feature.sql.
	name = strings.Join(strings.Fields(name), "_")
	var written []Target
	for _, t := range targets {
		p, err := g.Path(t)
		if err != nil {
			return written, err
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return written, err
		}
		dir, err := atlasmigrate.NewLocalDir(p)
		if err != nil {
			return written, err
		}
		changed, err := g.diff(ctx, t, dir, name)
		if err != nil {
			return written, fmt.Errorf("%s/%s: %w", t.Graph, t.Dialect, err)
		}
		if changed {
			written = append(written, t)
		}
	}
	return written, nil
}

// ErrDrift means the ent schemas and a migration directory disagree.
var ErrDrift = errors.New("ent schema and migration directory disagree")

// CheckDrift fails with ErrDrift when any directory misses a change of the
// ent schemas, and with Atlas's checksum error when atlas.sum does not match.
// It writes nothing to disk.
func (g Generator) CheckDrift(ctx context.Context) error {
	var errs []error
	for _, t := range Targets() {
		p, err := g.Path(t)
		if err != nil {
			return err
		}
		local, err := atlasmigrate.NewLocalDir(p)
		if err != nil {
			return err
		}
		if err := atlasmigrate.Validate(local); err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", t.Graph, t.Dialect, err))
			continue
		}
		mem, err := copyToMem(local)
		if err != nil {
			return err
		}
		changed, err := g.diff(ctx, t, mem, "drift")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", t.Graph, t.Dialect, err))
			continue
		}
		if changed {
			errs = append(errs, fmt.Errorf("%s/%s: %w: run `go generate ./...` then `make migration name=...`", t.Graph, t.Dialect, ErrDrift))
		}
	}
	return errors.Join(errs...)
}

func copyToMem(dir atlasmigrate.Dir) (*atlasmigrate.MemDir, error) {
	mem := &atlasmigrate.MemDir{}
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := mem.WriteFile(f.Name(), f.Bytes()); err != nil {
			return nil, err
		}
	}
	sum, err := dir.Checksum()
	if err != nil {
		return nil, err
	}
	if err := atlasmigrate.WriteSumFile(mem, sum); err != nil {
		return nil, err
	}
	return mem, nil
}

// privateTables deep-copies tables for one diff. ent's diff writes into the
// tables it is given (column lookup maps, index and foreign-key back links,
// appended on every call) and the generated packages' Tables are process
// globals that other goroutines read. schema.CopyTables leaves out the
// table-level fields set below, so they are copied here to keep comments
// and views in the diff.
func privateTables(tables []*schema.Table) ([]*schema.Table, error) {
	copies, err := schema.CopyTables(tables)
	if err != nil {
		return nil, err
	}
	for i, tb := range tables {
		copies[i].Schema = tb.Schema
		copies[i].Comment = tb.Comment
		copies[i].View = tb.View
		copies[i].Pos = tb.Pos
	}
	return copies, nil
}

// diff replays dir on a fresh dev database, compares the result with the
// target's tables and writes a migration file if they differ.
func (g Generator) diff(ctx context.Context, t Target, dir atlasmigrate.Dir, name string) (changed bool, err error) {
	db, cleanup, err := g.devDatabase(ctx, t.Dialect)
	if err != nil {
		return false, err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	tables, err := privateTables(t.Tables)
	if err != nil {
		return false, err
	}
	m, err := schema.NewMigrate(entsql.OpenDB(t.Dialect, db),
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(t.Dialect),
		schema.WithFormatter(atlasmigrate.DefaultFormatter),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
		schema.WithErrNoPlan(true),
	)
	if err != nil {
		return false, err
	}
	switch err := m.NamedDiff(ctx, name, tables...); {
	case errors.Is(err, atlasmigrate.ErrNoPlan):
		return false, nil
	case err != nil:
		return false, err
	default:
		return true, nil
	}
}

func (g Generator) devDatabase(ctx context.Context, dialectName string) (*sql.DB, func() error, error) {
	switch dialectName {
	case dialect.SQLite:
		db, err := sql.Open("sqlite3", "file:dev?mode=memory&_pragma=foreign_keys(1)")
		if err != nil {
			return nil, nil, err
		}
		// An in-memory database lives as long as its one connection.
		db.SetMaxOpenConns(1)
		return db, db.Close, nil
	case dialect.Postgres:
		server := g.DevServer
		if server == "" {
			server = DefaultDevServer
		}
		pg, err := sqldb.NewPostgres(server, "")
		if err != nil {
			return nil, nil, err
		}
		name := "tenantkit_dev_" + randomHex(6)
		if err := pg.Create(ctx, name, ""); err != nil {
			pg.Close()
			return nil, nil, fmt.Errorf("create dev database (set DEV_DATABASE_URL to a PostgreSQL server you may create databases on): %w", err)
		}
		db, err := pg.Open(ctx, name, sqldb.Pool{MaxOpen: 2})
		if err != nil {
			return nil, nil, errors.Join(err, pg.Drop(ctx, name), pg.Close())
		}
		cleanup := func() error {
			return errors.Join(db.Close(), pg.Drop(context.WithoutCancel(ctx), name), pg.Close())
		}
		return db, cleanup, nil
	default:
		return nil, nil, fmt.Errorf("unsupported dialect %q", dialectName)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
