package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"ariga.io/atlas/sql/migrate"

	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// Strategy is how a tenant database is brought to the latest schema.
type Strategy string

const (
	// StrategyTemplate clones a template database kept at the latest
	// migration (CREATE DATABASE ... TEMPLATE, or a file copy on SQLite):
	// the time to provision does not grow with the number of migrations.
	StrategyTemplate Strategy = "template"
	// StrategyMigrate creates an empty database and applies every migration.
	StrategyMigrate Strategy = "migrate"
)

// Provisioner creates tenant databases at the latest tenant migration.
type Provisioner struct {
	Server   sqldb.Server
	Naming   Naming
	Dir      migrate.Dir // the tenant migration directory
	Strategy Strategy
	Logger   *slog.Logger

	mu              sync.Mutex
	templateVersion string // the version the template was last seen at
}

// ErrDatabaseNotEmpty means an existing database was not adopted because it
// holds rows: only a leftover of a failed provisioning, which never served a
// request and so holds none, may become a tenant's database.
var ErrDatabaseNotEmpty = errors.New("the existing database holds data")

// Provision creates database name and migrates it to the latest version,
// which it returns. With adopt, an existing database of that name without
// rows is kept and migrated instead of refused: a retried provisioning whose
// earlier attempt created the database (and then failed, or died) resumes
// from there. Nothing is ever dropped: a database holding rows is refused
// with ErrDatabaseNotEmpty (it may be an earlier customer's, which a new
// tenant of the same slug must never see), and one holding tables Atlas did
// not create makes the migration fail ("not clean").
func (p *Provisioner) Provision(ctx context.Context, name string, adopt bool) (string, error) {
	exists := false
	if adopt {
		var err error
		if exists, err = p.Server.Exists(ctx, name); err != nil {
			return "", err
		}
		if exists {
			if err := p.checkNoRows(ctx, name); err != nil {
				return "", err
			}
		}
	}
	if !exists && p.Strategy != StrategyMigrate {
		version, err := p.PrepareTemplate(ctx)
		if err != nil {
			return "", err
		}
		if err := p.Server.Create(ctx, name, p.Naming.TemplateName()); err != nil {
			if !errors.Is(err, sqldb.ErrDatabaseExists) {
				// The template may be gone (dropped by hand): check it
				// again next time.
				p.ForgetTemplate()
			}
			return "", err
		}
		// A clone carries the template's revisions: it is at the version
		// PrepareTemplate just confirmed (or newer, if a newer release
		// migrated the template meanwhile), so no migration run is needed.
		// The opener checks every database's real version anyway.
		return version, nil
	}
	if !exists {
		if err := p.Server.Create(ctx, name, ""); err != nil {
			return "", err
		}
	}
	res, err := p.Migrate(ctx, name, false)
	if err != nil {
		return "", err
	}
	return res.To, nil
}

// Migrate applies the pending tenant migrations to database name through a
// short-lived pool.
func (p *Provisioner) Migrate(ctx context.Context, name string, dryRun bool) (res dbmigrate.Result, err error) {
	// Two connections: Atlas holds its lock on one and migrates on another.
	db, err := p.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 2, MaxIdle: 2})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	res, err = dbmigrate.Apply(ctx, db, p.Server.Dialect(), p.Dir, dbmigrate.Options{
		LockName: p.Server.MigrationLockName(name),
		DryRun:   dryRun,
	})
	if err != nil {
		return res, fmt.Errorf("migrate %s: %w", name, err)
	}
	return res, nil
}

// PrepareTemplate creates the template database if needed and brings it to
// the latest migration. No connection to it stays open afterwards: a clone
// fails while one does.
func (p *Provisioner) PrepareTemplate(ctx context.Context) (string, error) {
	latest, err := dbmigrate.LatestVersion(p.Dir)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.templateVersion == latest {
		return latest, nil
	}
	name := p.Naming.TemplateName()
	exists, err := p.Server.Exists(ctx, name)
	if err != nil {
		return "", err
	}
	if !exists {
		if err := p.Server.Create(ctx, name, ""); err != nil && !errors.Is(err, sqldb.ErrDatabaseExists) {
			return "", fmt.Errorf("create template database: %w", err)
		}
	}
	res, err := p.Migrate(ctx, name, false)
	if err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	if len(res.Applied) > 0 && p.Logger != nil {
		p.Logger.Info("template database migrated", slog.String("database", name), slog.String("from", res.From), slog.String("to", res.To))
	}
	p.templateVersion = res.To
	return res.To, nil
}

// ForgetTemplate makes the next provisioning check the template again, for
// example after the fleet command migrated it.
func (p *Provisioner) ForgetTemplate() {
	p.mu.Lock()
	p.templateVersion = ""
	p.mu.Unlock()
}

// checkNoRows fails with ErrDatabaseNotEmpty when any table of database name
// but Atlas's revisions table holds a row.
func (p *Provisioner) checkNoRows(ctx context.Context, name string) (err error) {
	db, err := p.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 1, MaxIdle: 1})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	tables, err := sqldb.Tables(ctx, db, p.Server.Dialect())
	if err != nil {
		return fmt.Errorf("list the tables of %s: %w", name, err)
	}
	for _, tb := range tables {
		if tb.Name == dbmigrate.RevisionTable && tb.Schema == sqldb.DefaultSchema(p.Server.Dialect()) {
			continue
		}
		var one int
		switch err := db.QueryRowContext(ctx, "SELECT 1 FROM "+tb.Quoted(p.Server.Dialect())+" LIMIT 1").Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read table %s of %s: %w", tb, name, err)
		default:
			return fmt.Errorf("%w: table %s of %s has rows; move the database away or drop it, then retry", ErrDatabaseNotEmpty, tb, name)
		}
	}
	return nil
}
