// Package fleet migrates and inspects every database of a deployment: the
// main database, the tenant template and each tenant database, with bounded
// concurrency, going on past failures, and recording each tenant's outcome
// in the registry.
package fleet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"ariga.io/atlas/sql/migrate"

	"github.com/tenantkit/tenantkit/ent/maindb"
	enttenant "github.com/tenantkit/tenantkit/ent/maindb/tenant"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// LockName is the advisory lock (on the main database) that keeps two fleet
// runs from interleaving. Each database is also locked on its own by Atlas's
// lock, which the Atlas CLI takes too.
const LockName = "tenantkit_fleet_migrate"

// Kind of a database in the fleet.
type Kind string

// The kinds of databases.
const (
	KindMain     Kind = "main"
	KindTemplate Kind = "template"
	KindTenant   Kind = "tenant"
)

// Fleet is one deployment's databases.
type Fleet struct {
	Server      sqldb.Server
	MainDB      *sql.DB
	Main        *maindb.Client
	Naming      tenancy.Naming
	MainDir     migrate.Dir
	TenantDir   migrate.Dir
	Provisioner *tenancy.Provisioner
}

// Options of a migration run.
type Options struct {
	// Concurrency is how many tenant databases migrate at once (min 1).
	Concurrency int
	// Tenant limits the run to one tenant slug (the main database and the
	// template are then left alone).
	Tenant string
	// DryRun lists the pending files without applying anything.
	DryRun bool
	// LockTimeout bounds the wait for another run to finish (default 10m).
	LockTimeout time.Duration
}

// Outcome is the result for one database.
type Outcome struct {
	Kind     Kind
	Slug     string // tenants only
	Database string
	From, To string
	Applied  []string // versions applied (pending, in a dry run)
	Took     time.Duration
	Skipped  string // why the database was not migrated, if it was not
	Err      error
}

// Summary counts the outcomes of a run.
type Summary struct {
	OK, Failed, Skipped int
	Took                time.Duration
}

// ErrFailed is returned by Migrate when any database failed.
var ErrFailed = errors.New("some databases failed to migrate")

// Migrate applies pending migrations to the main database, the template
// and every tenant, calling report once per database as soon as it is done.
// It returns ErrFailed (wrapped) if any database failed.
func (f *Fleet) Migrate(ctx context.Context, opts Options, report func(Outcome)) (Summary, error) {
	start := time.Now()
	var sum Summary
	var mu sync.Mutex
	record := func(o Outcome) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case o.Err != nil:
			sum.Failed++
		case o.Skipped != "":
			sum.Skipped++
		default:
			sum.OK++
		}
		report(o)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 10 * time.Minute
	}
	if !opts.DryRun {
		unlock, err := dbmigrate.Lock(ctx, f.MainDB, f.Server.Dialect(), f.Server.MigrationLockName(f.Naming.MainDB)+"_"+LockName, opts.LockTimeout)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return sum, fmt.Errorf("waiting for the fleet migration lock: %w", err)
		}
		if err != nil {
			return sum, fmt.Errorf("another fleet migration is running (waited %s): %w", opts.LockTimeout, err)
		}
		defer unlock()
	}
	if opts.Tenant == "" {
		record(f.migrateOne(ctx, KindMain, "", f.Naming.MainDB, f.MainDir, f.MainDB, opts.DryRun))
		record(f.migrateTemplate(ctx, opts.DryRun))
	}
	tenants, err := f.tenants(ctx, opts.Tenant)
	if err != nil {
		return sum, err
	}
	work := make(chan *maindb.Tenant)
	var wg sync.WaitGroup
	for range max(opts.Concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				record(f.migrateTenant(ctx, t, opts.DryRun))
			}
		}()
	}
	for _, t := range tenants {
		select {
		case work <- t:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	sum.Took = time.Since(start)
	if err := ctx.Err(); err != nil {
		return sum, err
	}
	if sum.Failed > 0 {
		return sum, fmt.Errorf("%w: %d of %d", ErrFailed, sum.Failed, sum.OK+sum.Failed+sum.Skipped)
	}
	return sum, nil
}

func (f *Fleet) tenants(ctx context.Context, slug string) ([]*maindb.Tenant, error) {
	q := f.Main.Tenant.Query().Order(enttenant.BySlug())
	if slug != "" {
		if err := tenancy.ValidateSlug(slug); err != nil {
			return nil, err
		}
		q = q.Where(enttenant.Slug(slug))
	}
	ts, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	if slug != "" && len(ts) == 0 {
		return nil, fmt.Errorf("%w: %s", tenancy.ErrTenantNotFound, slug)
	}
	return ts, nil
}

func (f *Fleet) migrateTemplate(ctx context.Context, dryRun bool) Outcome {
	name := f.Naming.TemplateName()
	ok, err := f.Server.Exists(ctx, name)
	if err != nil {
		return Outcome{Kind: KindTemplate, Database: name, Err: err}
	}
	if !ok {
		return Outcome{Kind: KindTemplate, Database: name, Skipped: "does not exist yet (created on first provisioning)"}
	}
	start := time.Now()
	res, err := f.migrateTenantDB(ctx, name, dryRun)
	return Outcome{Kind: KindTemplate, Database: name, From: res.From, To: res.To, Applied: res.Applied, Took: time.Since(start), Err: err}
}

func (f *Fleet) migrateTenant(ctx context.Context, t *maindb.Tenant, dryRun bool) Outcome {
	o := Outcome{Kind: KindTenant, Slug: t.Slug, Database: t.Database}
	if t.Status != enttenant.StatusReady {
		// Provisioning brings these to the latest version when retried.
		o.Skipped = "status " + string(t.Status)
		return o
	}
	start := time.Now()
	var res dbmigrate.Result
	// A missing database is a failure, not something to create: SQLite's
	// Open would create an empty file and migrate it from scratch.
	exists, err := f.Server.Exists(ctx, t.Database)
	if err == nil && !exists {
		err = fmt.Errorf("database %s does not exist", t.Database)
	}
	if err == nil {
		res, err = f.migrateTenantDB(ctx, t.Database, dryRun)
	}
	o.From, o.To, o.Applied, o.Took, o.Err = res.From, res.To, res.Applied, time.Since(start), err
	if dryRun {
		return o
	}
	// Record the outcome so the registry (and the status command) show
	// each tenant's version and last error.
	if rerr := registry.RecordMigration(context.WithoutCancel(ctx), f.Main, t.ID, res.To, err); rerr != nil {
		o.Err = errors.Join(o.Err, rerr)
	}
	return o
}

// migrateTenantDB applies f.TenantDir, the directory Status reports
// against, to a tenant or template database.
func (f *Fleet) migrateTenantDB(ctx context.Context, name string, dryRun bool) (dbmigrate.Result, error) {
	p := &tenancy.Provisioner{Server: f.Server, Naming: f.Naming, Dir: f.TenantDir}
	return p.Migrate(ctx, name, dryRun)
}

func (f *Fleet) migrateOne(ctx context.Context, kind Kind, slug, name string, dir migrate.Dir, db *sql.DB, dryRun bool) Outcome {
	start := time.Now()
	res, err := dbmigrate.Apply(ctx, db, f.Server.Dialect(), dir, dbmigrate.Options{
		LockName: f.Server.MigrationLockName(name), DryRun: dryRun,
	})
	return Outcome{Kind: kind, Slug: slug, Database: name, From: res.From, To: res.To, Applied: res.Applied, Took: time.Since(start), Err: err}
}

// DatabaseStatus is one line of the status report.
type DatabaseStatus struct {
	Kind     Kind
	Slug     string
	Database string
	Current  string
	Latest   string
	Pending  int
	// Registry fields (tenants only).
	Status         string
	Active         bool
	RecordedSchema string
	LastError      string
	Err            error
}

// Status reports every database's current version and pending count, and
// the databases named like tenants that no registry row claims.
func (f *Fleet) Status(ctx context.Context, slug string) (lines []DatabaseStatus, orphans []string, err error) {
	if slug == "" {
		st, err := dbmigrate.Status(ctx, f.MainDB, f.Server.Dialect(), f.MainDir)
		lines = append(lines, DatabaseStatus{Kind: KindMain, Database: f.Naming.MainDB, Current: st.Current, Latest: st.Latest, Pending: len(st.Pending), Err: err})
		lines = append(lines, f.statusOf(ctx, KindTemplate, "", f.Naming.TemplateName()))
	}
	tenants, err := f.tenants(ctx, slug)
	if err != nil {
		return lines, nil, err
	}
	for _, t := range tenants {
		l := f.statusOf(ctx, KindTenant, t.Slug, t.Database)
		l.Status, l.Active, l.RecordedSchema, l.LastError = string(t.Status), t.IsActive, t.SchemaVersion, t.StatusError
		lines = append(lines, l)
	}
	if slug == "" {
		names, err := f.Server.List(ctx, f.Naming.TenantPrefix())
		if err != nil {
			return lines, nil, err
		}
		claimed := map[string]bool{f.Naming.TemplateName(): true}
		for _, t := range tenants {
			claimed[t.Database] = true
		}
		for _, n := range names {
			if !claimed[n] {
				orphans = append(orphans, n)
			}
		}
		sort.Strings(orphans)
	}
	return lines, orphans, nil
}

func (f *Fleet) statusOf(ctx context.Context, kind Kind, slug, name string) DatabaseStatus {
	l := DatabaseStatus{Kind: kind, Slug: slug, Database: name}
	ok, err := f.Server.Exists(ctx, name)
	if err != nil || !ok {
		l.Err = err
		if err == nil {
			l.Err = errors.New("database does not exist")
		}
		return l
	}
	db, err := f.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 1})
	if err != nil {
		l.Err = err
		return l
	}
	defer db.Close()
	st, err := dbmigrate.Status(ctx, db, f.Server.Dialect(), f.TenantDir)
	l.Current, l.Latest, l.Pending, l.Err = st.Current, st.Latest, len(st.Pending), err
	return l
}
