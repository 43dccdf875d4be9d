package fleet_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/tenantkit/tenantkit/config"
	"github.com/tenantkit/tenantkit/ent/maindb"
	enttenant "github.com/tenantkit/tenantkit/ent/maindb/tenant"
	"github.com/tenantkit/tenantkit/internal/fleet"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// notesVersion is the version of the extra tenant migration the tests roll
// out. Its file creates two tables, so a failure on the second statement
// shows whether the first one was rolled back with it.
const (
	notesVersion = "20991231000001"
	notesFile    = notesVersion + "_add_notes.sql"
	notesSQL     = "CREATE TABLE note_kinds (id integer PRIMARY KEY);\nCREATE TABLE notes (id integer PRIMARY KEY);\n"
)

func testContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	return testdb.Context(t, d)
}

// environ is the configuration of a deployment on env, as tenantctl and the
// server would read it.
func environ(env testdb.Env) []string {
	if env.Dialect == dialect.Postgres {
		return []string{"DATABASE_URL=" + env.URL}
	}
	return []string{"DATA_DIR=" + env.DataDir, "DB_NAME=" + env.DBName}
}

// openFleet opens the fleet of env's deployment, closed at the end of the
// test (before testdb drops the databases).
func openFleet(ctx context.Context, t testing.TB, env testdb.Env) *fleet.Fleet {
	t.Helper()
	cfg, err := config.Load(environ(env), "")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	f, closeFleet, err := fleet.Open(ctx, cfg, true)
	if err != nil {
		t.Fatalf("fleet.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := closeFleet(); err != nil {
			t.Errorf("close fleet: %v", err)
		}
	})
	if f.Naming.MainDB != env.DBName {
		t.Fatalf("fleet main database %q, want %q", f.Naming.MainDB, env.DBName)
	}
	return f
}

// migrateMain brings the main database (the registry) to the latest version.
func migrateMain(ctx context.Context, t testing.TB, f *fleet.Fleet) {
	t.Helper()
	if _, err := dbmigrate.Apply(ctx, f.MainDB, f.Server.Dialect(), f.MainDir, dbmigrate.Options{
		LockName: f.Server.MigrationLockName(f.Naming.MainDB),
	}); err != nil {
		t.Fatalf("migrate main database: %v", err)
	}
}

// addTenants registers ready tenants and clones their databases from the
// template, at most 4 at a time.
func addTenants(ctx context.Context, t testing.TB, f *fleet.Fleet, slugs ...string) {
	t.Helper()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	errs := make([]error, len(slugs))
	for i, slug := range slugs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = addTenant(ctx, f, slug)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func addTenant(ctx context.Context, f *fleet.Fleet, slug string) error {
	name, err := f.Naming.DatabaseName(slug)
	if err != nil {
		return err
	}
	version, err := f.Provisioner.Provision(ctx, name, false)
	if err != nil {
		return fmt.Errorf("provision %s: %w", slug, err)
	}
	_, err = f.Main.Tenant.Create().SetName(slug).SetSlug(slug).SetDatabase(name).
		SetStatus(enttenant.StatusReady).SetSchemaVersion(version).Save(ctx)
	if err != nil {
		return fmt.Errorf("register %s: %w", slug, err)
	}
	return nil
}

// addRow registers a tenant without creating its database.
func addRow(ctx context.Context, t testing.TB, f *fleet.Fleet, slug string, status enttenant.Status) *maindb.Tenant {
	t.Helper()
	name, err := f.Naming.DatabaseName(slug)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := f.Main.Tenant.Create().SetName(slug).SetSlug(slug).SetDatabase(name).SetStatus(status).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func slugs(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("t%03d", i+1)
	}
	return s
}

// extend returns a copy of dir with extra files (name -> SQL) and a
// rewritten atlas.sum.
func extend(t testing.TB, dir migrate.Dir, extra map[string]string) migrate.Dir {
	t.Helper()
	mem := &migrate.MemDir{}
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := mem.WriteFile(f.Name(), f.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range extra {
		if err := mem.WriteFile(name, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := mem.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.WriteSumFile(mem, sum); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Validate(mem); err != nil {
		t.Fatal(err)
	}
	return mem
}

func latestOf(t testing.TB, dir migrate.Dir) string {
	t.Helper()
	v, err := dbmigrate.LatestVersion(dir)
	if err != nil || v == "" {
		t.Fatalf("latest version: %q, %v", v, err)
	}
	return v
}

// withDB runs fn on a short-lived pool on database name.
func withDB(ctx context.Context, t testing.TB, f *fleet.Fleet, name string, fn func(db *sql.DB)) {
	t.Helper()
	db, err := f.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fn(db)
}

func execIn(ctx context.Context, t testing.TB, f *fleet.Fleet, name, stmt string) {
	t.Helper()
	withDB(ctx, t, f, name, func(db *sql.DB) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %s: %v", name, stmt, err)
		}
	})
}

func state(ctx context.Context, t testing.TB, f *fleet.Fleet, name string, dir migrate.Dir) dbmigrate.State {
	t.Helper()
	var st dbmigrate.State
	withDB(ctx, t, f, name, func(db *sql.DB) {
		var err error
		if st, err = dbmigrate.Status(ctx, db, f.Server.Dialect(), dir); err != nil {
			t.Fatalf("%s: status: %v", name, err)
		}
	})
	return st
}

func tableExists(ctx context.Context, t testing.TB, f *fleet.Fleet, name, table string) bool {
	t.Helper()
	q := `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1`
	if f.Server.Dialect() == dialect.SQLite {
		q = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	}
	var n int
	withDB(ctx, t, f, name, func(db *sql.DB) {
		if err := db.QueryRowContext(ctx, q, table).Scan(&n); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	})
	return n > 0
}

// revisionRows counts the revision rows of version in database name.
func revisionRows(ctx context.Context, t testing.TB, f *fleet.Fleet, name, version string) int {
	t.Helper()
	q := `SELECT count(*) FROM public.atlas_schema_revisions WHERE version = $1`
	if f.Server.Dialect() == dialect.SQLite {
		q = "SELECT count(*) FROM `atlas_schema_revisions` WHERE version = ?"
	}
	var n int
	withDB(ctx, t, f, name, func(db *sql.DB) {
		if err := db.QueryRowContext(ctx, q, version).Scan(&n); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	})
	return n
}

func registry(ctx context.Context, t testing.TB, f *fleet.Fleet, slug string) *maindb.Tenant {
	t.Helper()
	tn, err := f.Main.Tenant.Query().Where(enttenant.Slug(slug)).Only(ctx)
	if err != nil {
		t.Fatalf("registry row of %s: %v", slug, err)
	}
	return tn
}

// run migrates the fleet and returns the outcomes by database name.
func run(ctx context.Context, t testing.TB, f *fleet.Fleet, opts fleet.Options) (map[string]fleet.Outcome, fleet.Summary, error) {
	t.Helper()
	var mu sync.Mutex
	out := map[string]fleet.Outcome{}
	sum, err := f.Migrate(ctx, opts, func(o fleet.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := out[o.Database]; dup {
			t.Errorf("database %s reported twice", o.Database)
		}
		out[o.Database] = o
	})
	return out, sum, err
}

// A new tenant migration reaches 50 tenants; one tenant that cannot take
// it fails alone, stays at its previous version with the failing file
// rolled back, has the error recorded in the registry, and a re-run after
// repairing it finishes the job.
func TestRolloutToFiftyTenants(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := testContext(t, 5*time.Minute)
		f := openFleet(ctx, t, env)
		migrateMain(ctx, t, f)
		all := slugs(50)
		setup := time.Now()
		addTenants(ctx, t, f, all...)
		t.Logf("50 tenants created in %s", time.Since(setup).Round(time.Millisecond))
		base := latestOf(t, f.TenantDir)
		mainLatest := latestOf(t, f.MainDir)

		broken := "t017"
		brokenDB, _ := f.Naming.DatabaseName(broken)
		execIn(ctx, t, f, brokenDB, "CREATE TABLE notes (id integer PRIMARY KEY, body text)")
		execIn(ctx, t, f, brokenDB, "INSERT INTO notes (id, body) VALUES (1, 'kept')")

		f.TenantDir = extend(t, f.TenantDir, map[string]string{notesFile: notesSQL})

		out, sum, err := run(ctx, t, f, fleet.Options{Concurrency: 4})
		t.Logf("rollout to 50 tenants: %s", sum.Took.Round(time.Millisecond))
		if !errors.Is(err, fleet.ErrFailed) {
			t.Fatalf("Migrate = %v, want an error wrapping ErrFailed", err)
		}
		if sum.OK != 51 || sum.Failed != 1 || sum.Skipped != 0 {
			t.Errorf("summary = %+v, want 51 ok (main, template, 49 tenants), 1 failed, 0 skipped", sum)
		}
		if len(out) != 52 {
			t.Errorf("%d outcomes reported, want 52", len(out))
		}
		if o := out[env.DBName]; o.Kind != fleet.KindMain || o.Err != nil || len(o.Applied) != 0 || o.To != mainLatest {
			t.Errorf("main outcome = %+v, want ok at %s with nothing applied", o, mainLatest)
		}
		if o := out[f.Naming.TemplateName()]; o.Kind != fleet.KindTemplate || o.Err != nil || !slices.Equal(o.Applied, []string{notesVersion}) {
			t.Errorf("template outcome = %+v, want %s applied", o, notesVersion)
		}
		for _, slug := range all {
			name, _ := f.Naming.DatabaseName(slug)
			o, ok := out[name]
			if !ok {
				t.Errorf("%s: no outcome", slug)
				continue
			}
			if o.Kind != fleet.KindTenant || o.Slug != slug || o.From != base {
				t.Errorf("%s: outcome %+v, want a tenant from %s", slug, o, base)
			}
			row := registry(ctx, t, f, slug)
			st := state(ctx, t, f, name, f.TenantDir)
			if slug == broken {
				if o.Err == nil || !strings.Contains(o.Err.Error(), "notes") {
					t.Errorf("%s: outcome error %v, want the failure on table notes", slug, o.Err)
				}
				if o.To != base || len(o.Applied) != 0 {
					t.Errorf("%s: outcome to %q applied %v, want still %s, nothing applied", slug, o.To, o.Applied, base)
				}
				if st.Current != base || !slices.Equal(st.Pending, []string{notesVersion}) {
					t.Errorf("%s: database at %+v, want %s with %s pending", slug, st, base, notesVersion)
				}
				if !strings.Contains(row.StatusError, "notes") || row.SchemaVersion != base {
					t.Errorf("%s: registry status_error %q schema_version %q, want the error and %s", slug, row.StatusError, row.SchemaVersion, base)
				}
				if row.Status != enttenant.StatusReady {
					t.Errorf("%s: registry status %s, want it still ready", slug, row.Status)
				}
				continue
			}
			if o.Err != nil || o.To != notesVersion || !slices.Equal(o.Applied, []string{notesVersion}) {
				t.Errorf("%s: outcome %+v, want %s applied", slug, o, notesVersion)
			}
			if st.Current != notesVersion || len(st.Pending) != 0 {
				t.Errorf("%s: database at %+v, want %s, nothing pending", slug, st, notesVersion)
			}
			if row.SchemaVersion != notesVersion || row.StatusError != "" || row.MigratedAt == nil {
				t.Errorf("%s: registry schema_version %q status_error %q migrated_at %v, want %s, no error, a time",
					slug, row.SchemaVersion, row.StatusError, row.MigratedAt, notesVersion)
			}
		}
		// The failing file ran in one transaction: its first statement was
		// rolled back with the second, no revision row was left, and the
		// tenant's own table is untouched.
		if tableExists(ctx, t, f, brokenDB, "note_kinds") {
			t.Error("broken tenant: note_kinds exists, the failed file was not rolled back")
		}
		if n := revisionRows(ctx, t, f, brokenDB, notesVersion); n != 0 {
			t.Errorf("broken tenant: %d revision rows for %s, want 0", n, notesVersion)
		}
		withDB(ctx, t, f, brokenDB, func(db *sql.DB) {
			var body string
			if err := db.QueryRowContext(ctx, "SELECT body FROM notes WHERE id = 1").Scan(&body); err != nil || body != "kept" {
				t.Errorf("broken tenant: its notes row = %q, %v; want it kept", body, err)
			}
		})

		// Repair, re-run: only the broken tenant has anything to do.
		execIn(ctx, t, f, brokenDB, "DROP TABLE notes")
		out, sum, err = run(ctx, t, f, fleet.Options{Concurrency: 4})
		if err != nil {
			t.Fatalf("re-run after repair: %v", err)
		}
		if sum.OK != 52 || sum.Failed != 0 || sum.Skipped != 0 {
			t.Errorf("re-run summary = %+v, want 52 ok", sum)
		}
		for name, o := range out {
			want := []string(nil)
			if name == brokenDB {
				want = []string{notesVersion}
			}
			if o.Err != nil || !slices.Equal(o.Applied, want) {
				t.Errorf("re-run %s: err %v applied %v, want %v", name, o.Err, o.Applied, want)
			}
		}
		if st := state(ctx, t, f, brokenDB, f.TenantDir); st.Current != notesVersion || len(st.Pending) != 0 {
			t.Errorf("repaired tenant at %+v, want %s", st, notesVersion)
		}
		if !tableExists(ctx, t, f, brokenDB, "note_kinds") || !tableExists(ctx, t, f, brokenDB, "notes") {
			t.Error("repaired tenant lacks the tables of the new migration")
		}
		if row := registry(ctx, t, f, broken); row.SchemaVersion != notesVersion || row.StatusError != "" || row.MigratedAt == nil {
			t.Errorf("repaired tenant registry: schema_version %q status_error %q migrated_at %v", row.SchemaVersion, row.StatusError, row.MigratedAt)
		}
	})
}

// Two runs at once (two processes' worth of fleets) both succeed and apply
// each file to each database exactly once.
func TestConcurrentRuns(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := testContext(t, 3*time.Minute)
		f1 := openFleet(ctx, t, env)
		migrateMain(ctx, t, f1)
		all := slugs(8)
		addTenants(ctx, t, f1, all...)
		f2 := openFleet(ctx, t, env)
		ext := map[string]string{notesFile: notesSQL}
		f1.TenantDir = extend(t, f1.TenantDir, ext)
		f2.TenantDir = extend(t, f2.TenantDir, ext)

		type result struct {
			out map[string]fleet.Outcome
			sum fleet.Summary
			err error
		}
		results := make([]result, 2)
		var wg sync.WaitGroup
		for i, f := range []*fleet.Fleet{f1, f2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, sum, err := run(ctx, t, f, fleet.Options{Concurrency: 1 + 2*i})
				results[i] = result{out, sum, err}
			}()
		}
		wg.Wait()
		applied := map[string]int{}
		for i, r := range results {
			if r.err != nil {
				t.Errorf("run %d: %v", i, r.err)
			}
			if r.sum.Failed != 0 || r.sum.OK != len(all)+2 {
				t.Errorf("run %d: summary %+v, want %d ok", i, r.sum, len(all)+2)
			}
			for name, o := range r.out {
				for _, v := range o.Applied {
					if v == notesVersion {
						applied[name]++
					}
				}
			}
		}
		names := []string{f1.Naming.TemplateName()}
		for _, slug := range all {
			name, _ := f1.Naming.DatabaseName(slug)
			names = append(names, name)
		}
		files, err := f1.TenantDir.Files()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if applied[name] != 1 {
				t.Errorf("%s: %s applied %d times by the two runs, want once", name, notesVersion, applied[name])
			}
			for _, file := range files {
				if n := revisionRows(ctx, t, f1, name, file.Version()); n != 1 {
					t.Errorf("%s: %d revision rows of %s, want 1", name, n, file.Version())
				}
			}
			if st := state(ctx, t, f1, name, f1.TenantDir); st.Current != notesVersion || len(st.Pending) != 0 {
				t.Errorf("%s: %+v, want %s", name, st, notesVersion)
			}
		}
	})
}

// -tenant migrates that tenant only; an unknown or invalid slug is an
// error and migrates nothing.
func TestTenantFilter(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := testContext(t, 2*time.Minute)
		f := openFleet(ctx, t, env)
		migrateMain(ctx, t, f)
		addTenants(ctx, t, f, "alpha", "beta-co", "gamma")
		base := latestOf(t, f.TenantDir)
		f.TenantDir = extend(t, f.TenantDir, map[string]string{notesFile: notesSQL})

		out, sum, err := run(ctx, t, f, fleet.Options{Concurrency: 4, Tenant: "beta-co"})
		if err != nil {
			t.Fatal(err)
		}
		betaDB, _ := f.Naming.DatabaseName("beta-co")
		if len(out) != 1 || sum.OK != 1 || sum.Failed+sum.Skipped != 0 {
			t.Fatalf("outcomes %v summary %+v, want beta-co alone", out, sum)
		}
		if o := out[betaDB]; o.Slug != "beta-co" || !slices.Equal(o.Applied, []string{notesVersion}) {
			t.Errorf("beta-co: %+v, want %s applied", o, notesVersion)
		}
		for _, slug := range []string{"alpha", "gamma"} {
			name, _ := f.Naming.DatabaseName(slug)
			if st := state(ctx, t, f, name, f.TenantDir); st.Current != base {
				t.Errorf("%s migrated to %s by a run limited to beta-co", slug, st.Current)
			}
		}
		if st := state(ctx, t, f, f.Naming.TemplateName(), f.TenantDir); st.Current != base {
			t.Errorf("template migrated to %s by a run limited to beta-co", st.Current)
		}

		for slug, want := range map[string]error{"nobody": tenancy.ErrTenantNotFound, "Bad_Slug": tenancy.ErrInvalidSlug} {
			out, _, err := run(ctx, t, f, fleet.Options{Concurrency: 4, Tenant: slug})
			if !errors.Is(err, want) {
				t.Errorf("-tenant %s: %v, want %v", slug, err, want)
			}
			if len(out) != 0 {
				t.Errorf("-tenant %s: outcomes %v, want none", slug, out)
			}
		}
	})
}

// A dry run lists each database's pending versions and changes nothing:
// neither the databases nor the registry.
func TestDryRun(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := testContext(t, 2*time.Minute)
		f := openFleet(ctx, t, env)
		migrateMain(ctx, t, f)
		all := slugs(3)
		addTenants(ctx, t, f, all...)
		base := latestOf(t, f.TenantDir)
		f.TenantDir = extend(t, f.TenantDir, map[string]string{notesFile: notesSQL})

		out, sum, err := run(ctx, t, f, fleet.Options{Concurrency: 2, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if sum.OK != 5 || sum.Failed+sum.Skipped != 0 {
			t.Errorf("summary %+v, want 5 ok", sum)
		}
		if o := out[env.DBName]; len(o.Applied) != 0 || o.Err != nil {
			t.Errorf("main: %+v, want nothing pending", o)
		}
		names := []string{f.Naming.TemplateName()}
		for _, slug := range all {
			name, _ := f.Naming.DatabaseName(slug)
			names = append(names, name)
		}
		for _, name := range names {
			o := out[name]
			if o.Err != nil || !slices.Equal(o.Applied, []string{notesVersion}) || o.From != base || o.To != notesVersion {
				t.Errorf("%s: dry-run outcome %+v, want %s pending at %s (To: where it would go)", name, o, notesVersion, base)
			}
			if st := state(ctx, t, f, name, f.TenantDir); st.Current != base || len(st.Pending) != 1 {
				t.Errorf("%s after a dry run: %+v, want still %s", name, st, base)
			}
			if tableExists(ctx, t, f, name, "notes") {
				t.Errorf("%s: a dry run created table notes", name)
			}
		}
		for _, slug := range all {
			if row := registry(ctx, t, f, slug); row.SchemaVersion != base || row.MigratedAt != nil {
				t.Errorf("%s: a dry run changed the registry: schema_version %q migrated_at %v", slug, row.SchemaVersion, row.MigratedAt)
			}
		}
	})
}

// Status reports every database's version and pending count, the registry
// fields, and the databases named like tenants that no row claims.
func TestStatusAndOrphans(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := testContext(t, 2*time.Minute)
		f := openFleet(ctx, t, env)
		migrateMain(ctx, t, f)
		addTenants(ctx, t, f, "alpha", "beta")
		if _, err := f.Main.Tenant.Update().Where(enttenant.Slug("beta")).SetIsActive(false).Save(ctx); err != nil {
			t.Fatal(err)
		}
		base := latestOf(t, f.TenantDir)
		mainLatest := latestOf(t, f.MainDir)
		ghost := f.Naming.TenantPrefix() + "ghost"
		if err := f.Server.Create(ctx, ghost, ""); err != nil {
			t.Fatal(err)
		}
		f.TenantDir = extend(t, f.TenantDir, map[string]string{notesFile: notesSQL})

		lines, orphans, err := f.Status(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(orphans, []string{ghost}) {
			t.Errorf("orphans = %v, want [%s]", orphans, ghost)
		}
		if len(lines) != 4 {
			t.Fatalf("%d status lines, want main, template, alpha, beta: %+v", len(lines), lines)
		}
		wantKinds := []fleet.Kind{fleet.KindMain, fleet.KindTemplate, fleet.KindTenant, fleet.KindTenant}
		for i, l := range lines {
			if l.Kind != wantKinds[i] || l.Err != nil {
				t.Errorf("line %d: %+v, want kind %s without error", i, l, wantKinds[i])
			}
		}
		if l := lines[0]; l.Database != env.DBName || l.Current != mainLatest || l.Latest != mainLatest || l.Pending != 0 {
			t.Errorf("main line %+v, want %s, nothing pending", l, mainLatest)
		}
		for _, l := range lines[1:] {
			if l.Current != base || l.Latest != notesVersion || l.Pending != 1 {
				t.Errorf("%s line %+v, want current %s latest %s 1 pending", l.Database, l, base, notesVersion)
			}
		}
		if l := lines[2]; l.Slug != "alpha" || l.Status != "ready" || !l.Active || l.RecordedSchema != base {
			t.Errorf("alpha line %+v", l)
		}
		if l := lines[3]; l.Slug != "beta" || l.Active {
			t.Errorf("beta line %+v, want inactive", l)
		}

		if _, err := f.Migrate(ctx, fleet.Options{Concurrency: 2}, func(fleet.Outcome) {}); err != nil {
			t.Fatal(err)
		}
		lines, _, err = f.Status(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if l.Err != nil || l.Current != l.Latest || l.Pending != 0 {
				t.Errorf("after Migrate: %+v, want up to date", l)
			}
			if l.Kind == fleet.KindTenant && l.RecordedSchema != notesVersion {
				t.Errorf("after Migrate: %s recorded %q, want %s", l.Slug, l.RecordedSchema, notesVersion)
			}
		}

		// One tenant: its line only, no orphan scan.
		lines, orphans, err = f.Status(ctx, "beta")
		if err != nil || len(lines) != 1 || lines[0].Slug != "beta" || orphans != nil {
			t.Errorf("Status(beta) = %+v, %v, %v; want beta's line alone", lines, orphans, err)
		}
		if _, _, err := f.Status(ctx, "nobody"); !errors.Is(err, tenancy.ErrTenantNotFound) {
			t.Errorf("Status(nobody) = %v, want ErrTenantNotFound", err)
		}

		// A tenant whose database is gone is reported, not created.
		alphaDB, _ := f.Naming.DatabaseName("alpha")
		if err := f.Server.Drop(ctx, alphaDB); err != nil {
			t.Fatal(err)
		}
		lines, _, err = f.Status(ctx, "alpha")
		if err != nil || len(lines) != 1 || lines[0].Err == nil {
			t.Errorf("Status of a dropped tenant = %+v, %v; want an error on its line", lines, err)
		}
		if ok, _ := f.Server.Exists(ctx, alphaDB); ok {
			t.Error("Status created the dropped tenant's database")
		}
	})
}

// Tenants whose provisioning did not complete are skipped and left alone.
func TestSkipsUnfinishedTenants(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := testContext(t, 2*time.Minute)
		f := openFleet(ctx, t, env)
		migrateMain(ctx, t, f)
		addTenants(ctx, t, f, "ready")
		addRow(ctx, t, f, "failed", enttenant.StatusFailed)
		addRow(ctx, t, f, "half", enttenant.StatusProvisioning)
		f.TenantDir = extend(t, f.TenantDir, map[string]string{notesFile: notesSQL})

		out, sum, err := run(ctx, t, f, fleet.Options{Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		if sum.OK != 3 || sum.Skipped != 2 || sum.Failed != 0 {
			t.Errorf("summary %+v, want 3 ok (main, template, ready) and 2 skipped", sum)
		}
		for slug, why := range map[string]string{"failed": "failed", "half": "provisioning"} {
			name, _ := f.Naming.DatabaseName(slug)
			o := out[name]
			if !strings.Contains(o.Skipped, why) || o.Err != nil || len(o.Applied) != 0 {
				t.Errorf("%s: outcome %+v, want skipped (%s)", slug, o, why)
			}
			if ok, _ := f.Server.Exists(ctx, name); ok {
				t.Errorf("%s: database created by Migrate", slug)
			}
			if row := registry(ctx, t, f, slug); row.SchemaVersion != "" || row.StatusError != "" || row.MigratedAt != nil {
				t.Errorf("%s: registry changed: %+v", slug, row)
			}
		}
		readyDB, _ := f.Naming.DatabaseName("ready")
		if o := out[readyDB]; !slices.Equal(o.Applied, []string{notesVersion}) {
			t.Errorf("ready: outcome %+v, want %s applied", o, notesVersion)
		}
	})
}

// A ready tenant whose database is missing fails (it is not recreated
// empty), and the others are migrated.
func TestMissingTenantDatabaseFails(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := testContext(t, 2*time.Minute)
		f := openFleet(ctx, t, env)
		migrateMain(ctx, t, f)
		addTenants(ctx, t, f, "kept", "lost")
		lostDB, _ := f.Naming.DatabaseName("lost")
		if err := f.Server.Drop(ctx, lostDB); err != nil {
			t.Fatal(err)
		}
		out, sum, err := run(ctx, t, f, fleet.Options{Concurrency: 2})
		if !errors.Is(err, fleet.ErrFailed) || sum.Failed != 1 || sum.OK != 3 {
			t.Fatalf("Migrate = %+v, %v; want 1 failed (lost), 3 ok", sum, err)
		}
		if o := out[lostDB]; o.Err == nil {
			t.Errorf("lost: outcome %+v, want an error", o)
		}
		if ok, _ := f.Server.Exists(ctx, lostDB); ok {
			t.Error("Migrate recreated the missing tenant database (empty)")
		}
		if row := registry(ctx, t, f, "lost"); row.StatusError == "" {
			t.Error("lost: no error recorded in the registry")
		}
	})
}
