package atlascli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/tenantkit/tenantkit/config"
	enttenant "github.com/tenantkit/tenantkit/ent/maindb/tenant"
	"github.com/tenantkit/tenantkit/internal/atlascli"
	"github.com/tenantkit/tenantkit/internal/fleet"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// requireCLI skips the test when bin/atlas has not been built, unless
// TENANTKIT_REQUIRE_ATLAS is set (CI builds the CLI and sets it): then a
// missing CLI fails the test.
func requireCLI(t *testing.T) {
	t.Helper()
	_, err := atlascli.Binary()
	switch {
	case err == nil:
	case errors.Is(err, atlascli.ErrNotBuilt) && os.Getenv("TENANTKIT_REQUIRE_ATLAS") == "":
		t.Skipf("skipping: %v; set TENANTKIT_REQUIRE_ATLAS=1 to make this a failure", err)
	default:
		t.Fatalf("atlas CLI required (TENANTKIT_REQUIRE_ATLAS is set): %v", err)
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testdb.Context(t, 2*time.Minute)
}

func dir(t *testing.T, g migrations.Graph) migrate.Dir {
	t.Helper()
	d, err := migrations.Dir(g, dialect.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func latest(t *testing.T, d migrate.Dir) string {
	t.Helper()
	v, err := dbmigrate.LatestVersion(d)
	if err != nil {
		t.Fatal(err)
	}
	if v == "" {
		t.Fatal("migration directory has no files")
	}
	return v
}

// createDB creates an empty database and returns a pool on it, closed at
// the end of the test (before testdb drops the database).
func createDB(ctx context.Context, t *testing.T, env testdb.Env, name string) *sql.DB {
	t.Helper()
	if err := env.Server.Create(ctx, name, ""); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	db, err := env.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 4})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// cliStatus is the part of `atlas migrate status --format '{{ json . }}'`
// the tests read.
type cliStatus struct {
	Status  string
	Current string
	Next    string
	Pending []struct{ Version string }
	Applied []struct{ Version string }
}

func migrateStatus(ctx context.Context, t *testing.T, url string) cliStatus {
	t.Helper()
	out, err := atlascli.Run(ctx, "migrate", "status", "--env", "main", "--var", "url="+url, "--format", "{{ json . }}")
	if err != nil {
		t.Fatal(err)
	}
	var st cliStatus
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &st); err != nil {
		t.Fatalf("decode migrate status output: %v\n%s", err, out)
	}
	return st
}

// operators returns the operator_version of every revision row, which tells
// who applied it: "Atlas CLI ..." or the service's "tenantkit".
func operators(ctx context.Context, t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT operator_version FROM public.atlas_schema_revisions ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ops []string
	for rows.Next() {
		var op string
		if err := rows.Scan(&op); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}

func assertAllByCLI(ctx context.Context, t *testing.T, name string, db *sql.DB) {
	t.Helper()
	ops := operators(ctx, t, db)
	if len(ops) == 0 {
		t.Fatalf("%s: no revisions recorded", name)
	}
	for _, op := range ops {
		if !strings.HasPrefix(op, "Atlas CLI") {
			t.Errorf("%s: revision applied by %q, want the Atlas CLI", name, op)
		}
	}
}

// The service migrates the main database; the CLI's `migrate status` sees
// the same version and nothing pending.
func TestStatusReadsServiceMigrations(t *testing.T) {
	requireCLI(t)
	ctx := testContext(t)
	env := testdb.Postgres(t)
	mainDir := dir(t, migrations.Main)
	want := latest(t, mainDir)

	db := createDB(ctx, t, env, env.DBName)
	res, err := dbmigrate.Apply(ctx, db, dialect.Postgres, mainDir, dbmigrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.To != want {
		t.Fatalf("dbmigrate.Apply reached %q, want %q", res.To, want)
	}

	st := migrateStatus(ctx, t, env.URL)
	if st.Status != "OK" || st.Current != want || len(st.Pending) != 0 {
		t.Errorf("atlas migrate status = {Status:%q Current:%q Pending:%v}, want {OK %s none}", st.Status, st.Current, st.Pending, want)
	}
	files, err := mainDir.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Applied) != len(files) {
		t.Errorf("atlas migrate status lists %d applied revisions, want %d", len(st.Applied), len(files))
	}

	// The human-readable report says the same.
	out, err := atlascli.Run(ctx, "migrate", "status", "--env", "main", "--var", "url="+env.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Migration Status: OK", "Current Version: " + want, "Already at latest version"} {
		if !strings.Contains(out, s) {
			t.Errorf("atlas migrate status output lacks %q:\n%s", s, out)
		}
	}
}

// The CLI migrates a fresh main database (URL from DATABASE_URL, as in a
// deploy); the service's migrator agrees and has nothing left to do.
func TestServiceReadsCLIMigrations(t *testing.T) {
	requireCLI(t)
	ctx := testContext(t)
	env := testdb.Postgres(t)
	mainDir := dir(t, migrations.Main)
	want := latest(t, mainDir)

	db := createDB(ctx, t, env, env.DBName)
	if _, err := atlascli.RunEnv(ctx, []string{"DATABASE_URL=" + env.URL}, "migrate", "apply", "--env", "main"); err != nil {
		t.Fatal(err)
	}
	assertAllByCLI(ctx, t, env.DBName, db)

	st, err := dbmigrate.Status(ctx, db, dialect.Postgres, mainDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != want || st.Latest != want || len(st.Pending) != 0 {
		t.Errorf("dbmigrate.Status = %+v, want current = latest = %s, nothing pending", st, want)
	}
	res, err := dbmigrate.Apply(ctx, db, dialect.Postgres, mainDir, dbmigrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.From != want || res.To != want {
		t.Errorf("dbmigrate.Apply after the CLI = %+v, want nothing applied at %s", res, want)
	}

	// And the CLI, run again, finds nothing to do either.
	out, err := atlascli.Run(ctx, "migrate", "apply", "--env", "main", "--var", "url="+env.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "No migration files to execute") {
		t.Errorf("second atlas migrate apply did something:\n%s", out)
	}
}

// `atlas migrate apply --env tenants` migrates every ready tenant listed in
// the main database's registry, deactivated ones included, and no other.
func TestApplyTenantsEnv(t *testing.T) {
	requireCLI(t)
	ctx := testContext(t)
	env := testdb.Postgres(t)
	mainDir := dir(t, migrations.Main)
	tenantDir := dir(t, migrations.Tenant)
	want := latest(t, tenantDir)

	mainDB := createDB(ctx, t, env, env.DBName)
	if _, err := dbmigrate.Apply(ctx, mainDB, dialect.Postgres, mainDir, dbmigrate.Options{}); err != nil {
		t.Fatal(err)
	}

	type tenant struct {
		slug     string
		active   bool
		status   string
		migrated bool // expected to be migrated by the CLI
	}
	tenants := []tenant{
		{slug: "acme", active: true, status: "ready", migrated: true},
		{slug: "virgin-voyages", active: true, status: "ready", migrated: true},
		{slug: "dormant", active: false, status: "ready", migrated: true},
		{slug: "half-made", active: true, status: "failed", migrated: false},
	}
	dbs := map[string]*sql.DB{}
	for _, tn := range tenants {
		name := env.DBName + "_tenant_" + strings.ReplaceAll(tn.slug, "-", "_")
		dbs[tn.slug] = createDB(ctx, t, env, name)
		_, err := mainDB.ExecContext(ctx,
			`INSERT INTO tenants (id, created_at, updated_at, name, slug, database, is_active, status)
			 VALUES (gen_random_uuid(), now(), now(), $1, $1, $2, $3, $4)`,
			tn.slug, name, tn.active, tn.status)
		if err != nil {
			t.Fatal(err)
		}
	}

	out, err := atlascli.Run(ctx, "migrate", "apply", "--env", "tenants", "--var", "url="+env.URL)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "-- migrating version "+want); n != 3 {
		t.Errorf("atlas migrated %d databases to %s, want 3:\n%s", n, want, out)
	}

	for _, tn := range tenants {
		db := dbs[tn.slug]
		st, err := dbmigrate.Status(ctx, db, dialect.Postgres, tenantDir)
		if err != nil {
			t.Fatalf("%s: %v", tn.slug, err)
		}
		if !tn.migrated {
			if st.Current != "" {
				t.Errorf("%s (status %s): the CLI migrated it to %q, want it left alone", tn.slug, tn.status, st.Current)
			}
			continue
		}
		if st.Current != want || len(st.Pending) != 0 {
			t.Errorf("%s: dbmigrate.Status = %+v, want %s with nothing pending", tn.slug, st, want)
		}
		assertAllByCLI(ctx, t, tn.slug, db)
		res, err := dbmigrate.Apply(ctx, db, dialect.Postgres, tenantDir, dbmigrate.Options{})
		if err != nil {
			t.Fatalf("%s: %v", tn.slug, err)
		}
		if len(res.Applied) != 0 || res.To != want {
			t.Errorf("%s: dbmigrate.Apply after the CLI = %+v, want nothing applied", tn.slug, res)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Errorf("%s: tenant schema missing: %v", tn.slug, err)
		}
	}

	// Run again: every tenant is up to date.
	out, err = atlascli.Run(ctx, "migrate", "apply", "--env", "tenants", "--var", "url="+env.URL)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "No migration files to execute"); n != 3 {
		t.Errorf("second run: %d tenants up to date, want 3:\n%s", n, out)
	}
	if slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.Contains(l, "-- migrating version") }) {
		t.Errorf("second run migrated something:\n%s", out)
	}
}

// `atlas migrate apply --env template` finds the template database by the
// main database's name (the path of the URL when DB_NAME is not set).
func TestApplyTemplateEnv(t *testing.T) {
	requireCLI(t)
	ctx := testContext(t)
	env := testdb.Postgres(t)
	tenantDir := dir(t, migrations.Tenant)
	want := latest(t, tenantDir)

	name := env.DBName + "_tenant__template"
	db := createDB(ctx, t, env, name)
	if _, err := atlascli.RunEnv(ctx, []string{"DB_NAME="}, "migrate", "apply", "--env", "template", "--var", "url="+env.URL); err != nil {
		t.Fatal(err)
	}
	st, err := dbmigrate.Status(ctx, db, dialect.Postgres, tenantDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != want || len(st.Pending) != 0 {
		t.Errorf("template: dbmigrate.Status = %+v, want %s with nothing pending", st, want)
	}
	assertAllByCLI(ctx, t, name, db)
}

// writeTenantDir writes the committed tenant/postgres migrations plus extra
// files (name -> SQL) and their atlas.sum into a temporary directory, and
// returns its path and the directory.
func writeTenantDir(t *testing.T, extra map[string]string) (string, migrate.Dir) {
	t.Helper()
	p := t.TempDir()
	local, err := migrate.NewLocalDir(p)
	if err != nil {
		t.Fatal(err)
	}
	files, err := dir(t, migrations.Tenant).Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := local.WriteFile(f.Name(), f.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range extra {
		if err := local.WriteFile(name, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := local.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.WriteSumFile(local, sum); err != nil {
		t.Fatal(err)
	}
	return p, local
}

// The fleet command and the CLI read each other's work on a fleet of
// tenants cloned from the template: what `atlas migrate apply --env tenants`
// applied, Fleet.Status reports as current; what Fleet.Migrate applied,
// `atlas migrate status` reports as current. The tenants are cloned at the
// latest committed version, so each direction rolls out an extra file.
func TestFleetAndCLIAgreeOnTenants(t *testing.T) {
	requireCLI(t)
	ctx := testContext(t)
	env := testdb.Postgres(t)
	cfg, err := config.Load([]string{"DATABASE_URL=" + env.URL}, "")
	if err != nil {
		t.Fatal(err)
	}
	f, closeFleet, err := fleet.Open(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeFleet() })
	if _, err := dbmigrate.Apply(ctx, f.MainDB, dialect.Postgres, f.MainDir, dbmigrate.Options{}); err != nil {
		t.Fatal(err)
	}
	base := latest(t, dir(t, migrations.Tenant))
	pg := env.Server.(*sqldb.Postgres)
	var urls []string
	for i := range 5 {
		slug := fmt.Sprintf("tenant-%d", i+1)
		name, err := f.Naming.DatabaseName(slug)
		if err != nil {
			t.Fatal(err)
		}
		version, err := f.Provisioner.Provision(ctx, name, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Main.Tenant.Create().SetName(slug).SetSlug(slug).SetDatabase(name).
			SetStatus(enttenant.StatusReady).SetSchemaVersion(version).Save(ctx); err != nil {
			t.Fatal(err)
		}
		urls = append(urls, pg.URL(name))
	}
	cliStatusOf := func(url, dirURL string) cliStatus {
		t.Helper()
		out, err := atlascli.Run(ctx, "migrate", "status", "--url", url, "--dir", dirURL, "--format", "{{ json . }}")
		if err != nil {
			t.Fatal(err)
		}
		var st cliStatus
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &st); err != nil {
			t.Fatalf("decode migrate status output: %v\n%s", err, out)
		}
		return st
	}
	// The clones carry the template's revisions: the CLI sees them at the
	// latest committed version.
	for _, u := range urls {
		if st := cliStatusOf(u, "file://migrations/tenant/postgres"); st.Status != "OK" || st.Current != base || len(st.Pending) != 0 {
			t.Errorf("clone: atlas migrate status = %+v, want OK at %s", st, base)
		}
	}

	// The CLI rolls out A; Fleet.Status reports every tenant at A.
	const versionA, versionB = "20991231000001", "20991231000002"
	fileA := map[string]string{versionA + "_cli_notes.sql": "CREATE TABLE cli_notes (id integer PRIMARY KEY);\n"}
	pathA, dirA := writeTenantDir(t, fileA)
	out, err := atlascli.RunEnv(ctx, []string{"DATABASE_URL=" + env.URL}, "migrate", "apply", "--env", "tenants", "--dir", "file://"+pathA)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "-- migrating version "+versionA); n != 5 {
		t.Errorf("atlas migrated %d tenants to %s, want 5:\n%s", n, versionA, out)
	}
	f.TenantDir = dirA
	lines, orphans, err := f.Status(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	tenants := 0
	for _, l := range lines {
		if l.Kind != fleet.KindTenant {
			continue
		}
		tenants++
		if l.Err != nil || l.Current != versionA || l.Latest != versionA || l.Pending != 0 {
			t.Errorf("Fleet.Status after the CLI: %s = %+v, want %s with 0 pending", l.Slug, l, versionA)
		}
	}
	if tenants != 5 || len(orphans) != 0 {
		t.Errorf("Fleet.Status: %d tenant lines, orphans %v; want 5, none", tenants, orphans)
	}

	// Fleet.Migrate rolls out B; the CLI reports every tenant at B.
	extra := map[string]string{versionB + "_fleet_notes.sql": "CREATE TABLE fleet_notes (id integer PRIMARY KEY);\n"}
	for k, v := range fileA {
		extra[k] = v
	}
	pathAB, dirAB := writeTenantDir(t, extra)
	f.TenantDir = dirAB
	var applied int
	if _, err := f.Migrate(ctx, fleet.Options{Concurrency: 3}, func(o fleet.Outcome) {
		if o.Kind == fleet.KindTenant {
			if o.Err != nil || !slices.Equal(o.Applied, []string{versionB}) {
				t.Errorf("Fleet.Migrate: %s applied %v (%v), want [%s]", o.Slug, o.Applied, o.Err, versionB)
			}
			applied++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if applied != 5 {
		t.Errorf("Fleet.Migrate reported %d tenants, want 5", applied)
	}
	for _, u := range urls {
		st := cliStatusOf(u, "file://"+pathAB)
		if st.Status != "OK" || st.Current != versionB || len(st.Pending) != 0 || len(st.Applied) != 3 {
			t.Errorf("atlas migrate status after Fleet.Migrate = %+v, want OK at %s, 3 applied, none pending", st, versionB)
		}
	}
}
