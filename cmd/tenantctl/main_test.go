package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/tenantkit/tenantkit/config"
	enttenant "github.com/tenantkit/tenantkit/ent/maindb/tenant"
	"github.com/tenantkit/tenantkit/internal/fleet"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testdb.Context(t, 3*time.Minute)
}

func environ(env testdb.Env) []string {
	if env.Dialect == dialect.Postgres {
		return []string{"DATABASE_URL=" + env.URL}
	}
	return []string{"DATA_DIR=" + env.DataDir, "DB_NAME=" + env.DBName}
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// lines returns the lines of stdout after the header by their first two
// fields (kind and slug or database), and migrate's summary line.
func (r result) lines() (map[string]string, string) {
	all := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	summary := ""
	if last := all[len(all)-1]; strings.HasPrefix(last, "migrated ") || strings.HasPrefix(last, "checked ") {
		summary, all = last, all[:len(all)-1]
	}
	m := map[string]string{}
	for _, l := range all[1:] {
		if f := strings.Fields(l); len(f) >= 2 {
			m[f[0]+" "+f[1]] = l
		}
	}
	return m, summary
}

func tenantctl(ctx context.Context, environ []string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, environ, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// deployment opens the fleet of env (for the test's own set-up and checks).
func deployment(ctx context.Context, t *testing.T, env testdb.Env) *fleet.Fleet {
	t.Helper()
	cfg, err := config.Load(environ(env), "")
	if err != nil {
		t.Fatal(err)
	}
	f, closeFleet, err := fleet.Open(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeFleet() })
	return f
}

func addTenant(ctx context.Context, t *testing.T, f *fleet.Fleet, slug string, clone bool) string {
	t.Helper()
	name, err := f.Naming.DatabaseName(slug)
	if err != nil {
		t.Fatal(err)
	}
	version := ""
	if clone {
		if version, err = f.Provisioner.Provision(ctx, name, false); err != nil {
			t.Fatal(err)
		}
	} else if err := f.Server.Create(ctx, name, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Main.Tenant.Create().SetName(slug).SetSlug(slug).SetDatabase(name).
		SetStatus(enttenant.StatusReady).SetSchemaVersion(version).Save(ctx); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestMigrateAndStatus(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := testContext(t)
		envv := environ(env)

		// A first deploy: the main database is created and migrated, the
		// template does not exist yet.
		r := tenantctl(ctx, envv, "migrate")
		if r.code != 0 {
			t.Fatalf("first migrate: %s", r)
		}
		lines, summary := r.lines()
		if l := lines["main "+env.DBName]; !strings.HasSuffix(l, " ok") {
			t.Errorf("first migrate: main line %q, want ok\n%s", l, r)
		}
		if l := lines["template "+env.DBName+"_tenant__template"]; !strings.Contains(l, "skipped: does not exist yet") {
			t.Errorf("first migrate: template line %q, want skipped\n%s", l, r)
		}
		if !strings.HasPrefix(summary, "migrated 2 databases in ") || !strings.HasSuffix(summary, ": 1 ok, 0 failed, 1 skipped") {
			t.Errorf("first migrate: summary %q", summary)
		}

		f := deployment(ctx, t, env)
		tenantLatest, err := dbmigrate.LatestVersion(f.TenantDir)
		if err != nil {
			t.Fatal(err)
		}
		cloned := []string{"acme", "virgin-voyages", "globex"}
		for _, slug := range cloned {
			addTenant(ctx, t, f, slug, true)
		}
		// A ready tenant whose database is still empty: one file pending.
		addTenant(ctx, t, f, "fresh", false)

		// Dry run: pending and up to date, nothing applied.
		r = tenantctl(ctx, envv, "migrate", "-dry-run")
		if r.code != 0 {
			t.Fatalf("migrate -dry-run: %s", r)
		}
		lines, summary = r.lines()
		if l := lines["tenant fresh"]; !strings.Contains(l, "pending: ["+tenantLatest+"]") {
			t.Errorf("dry run: fresh line %q, want pending [%s]\n%s", l, tenantLatest, r)
		}
		for _, slug := range cloned {
			if l := lines["tenant "+slug]; !strings.HasSuffix(l, "up to date") {
				t.Errorf("dry run: %s line %q, want up to date\n%s", slug, l, r)
			}
		}
		if l := lines["main "+env.DBName]; !strings.HasSuffix(l, "up to date") {
			t.Errorf("dry run: main line %q, want up to date", l)
		}
		if !strings.HasPrefix(summary, "checked 6 databases in ") || !strings.HasSuffix(summary, ": 6 ok, 0 failed, 0 skipped") {
			t.Errorf("dry run: summary %q", summary)
		}
		r = tenantctl(ctx, envv, "status", "-tenant", "fresh")
		if lines, _ := r.lines(); r.code != 0 || !strings.Contains(lines["tenant fresh"], " - ") {
			t.Errorf("status after a dry run: fresh should still have no version:\n%s", r)
		}

		// Migrate: one line per database, all ok, and a summary line.
		r = tenantctl(ctx, envv, "migrate", "-concurrency", "3")
		if r.code != 0 {
			t.Fatalf("migrate: %s", r)
		}
		lines, summary = r.lines()
		if len(lines) != 6 {
			t.Errorf("migrate printed %d database lines, want 6 (main, template, 4 tenants):\n%s", len(lines), r)
		}
		for key, l := range lines {
			if !strings.HasSuffix(l, " ok") {
				t.Errorf("migrate: %s: %q, want ok", key, l)
			}
		}
		if f := strings.Fields(lines["tenant fresh"]); len(f) < 5 || f[3] != tenantLatest || f[4] != "1" {
			t.Errorf("migrate: fresh line %q, want 1 file to %s", lines["tenant fresh"], tenantLatest)
		}
		if !strings.HasPrefix(summary, "migrated 6 databases in ") || !strings.HasSuffix(summary, ": 6 ok, 0 failed, 0 skipped") {
			t.Errorf("migrate: summary %q", summary)
		}

		// Status: every database at the latest version.
		r = tenantctl(ctx, envv, "status")
		if r.code != 0 {
			t.Fatalf("status: %s", r)
		}
		lines, _ = r.lines()
		for _, slug := range append(cloned, "fresh") {
			f := strings.Fields(lines["tenant "+slug])
			if len(f) < 6 || f[2] != tenantLatest || f[3] != tenantLatest || f[4] != "0" || f[5] != "ready" {
				t.Errorf("status: %s line %q, want %s/%s, 0 pending, ready", slug, lines["tenant "+slug], tenantLatest, tenantLatest)
			}
		}
		if strings.Contains(r.stdout, "orphan") {
			t.Errorf("status reports an orphan:\n%s", r)
		}

		// One tenant only.
		r = tenantctl(ctx, envv, "migrate", "-tenant", "acme")
		if lines, _ := r.lines(); r.code != 0 || len(lines) != 1 || lines["tenant acme"] == "" {
			t.Errorf("migrate -tenant acme: want acme's line alone\n%s", r)
		}
		r = tenantctl(ctx, envv, "migrate", "-tenant", "nobody")
		if r.code != 2 || !strings.Contains(r.stderr, "tenant not found") {
			t.Errorf("migrate -tenant nobody: want exit 2, tenant not found\n%s", r)
		}
		r = tenantctl(ctx, envv, "status", "-tenant", "Bad_Slug")
		if r.code != 2 || !strings.Contains(r.stderr, "invalid tenant slug") {
			t.Errorf("status -tenant Bad_Slug: want exit 2, invalid tenant slug\n%s", r)
		}

		// A tenant whose database is gone: it fails, the others are ok.
		globex, _ := f.Naming.DatabaseName("globex")
		if err := f.Server.Drop(ctx, globex); err != nil {
			t.Fatal(err)
		}
		r = tenantctl(ctx, envv, "migrate")
		if r.code != 1 {
			t.Fatalf("migrate with a dropped tenant database: %s", r)
		}
		lines, summary = r.lines()
		if l := lines["tenant globex"]; !strings.Contains(l, "FAILED: ") || !strings.Contains(l, globex) {
			t.Errorf("globex line %q, want FAILED naming its database\n%s", l, r)
		}
		for key, l := range lines {
			if key != "tenant globex" && !strings.HasSuffix(l, " ok") {
				t.Errorf("%s: %q, want ok", key, l)
			}
		}
		if !strings.HasSuffix(summary, ": 5 ok, 1 failed, 0 skipped") {
			t.Errorf("summary %q, want 1 failed", summary)
		}
		if ok, _ := f.Server.Exists(ctx, globex); ok {
			t.Error("migrate recreated the dropped tenant database")
		}
		r = tenantctl(ctx, envv, "status")
		lines, _ = r.lines()
		if r.code != 1 || !strings.Contains(lines["tenant globex"], "error: ") {
			t.Errorf("status with a dropped tenant database: want exit 1 and an error on its line\n%s", r)
		}
	})
}

// An orphan database (named like a tenant, claimed by no row) is listed.
func TestStatusOrphan(t *testing.T) {
	ctx := testContext(t)
	env := testdb.Postgres(t)
	if r := tenantctl(ctx, environ(env), "migrate"); r.code != 0 {
		t.Fatal(r)
	}
	ghost := env.DBName + "_tenant_ghost"
	if err := env.Server.Create(ctx, ghost, ""); err != nil {
		t.Fatal(err)
	}
	r := tenantctl(ctx, environ(env), "status")
	if r.code != 0 || !strings.Contains(r.stdout, "orphan   "+ghost) {
		t.Errorf("status with an orphan database: want exit 0 and an orphan line for %s\n%s", ghost, r)
	}
}

func TestUsageErrors(t *testing.T) {
	ctx := testContext(t)
	pg := testdb.Postgres(t)
	lite := testdb.SQLite(t)
	for _, tc := range []struct {
		name    string
		environ []string
		args    []string
		stderr  string
	}{
		{"no command", environ(pg), nil, "usage:"},
		{"help", environ(pg), []string{"-h"}, "usage:"},
		{"unknown command (postgres)", environ(pg), []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown command (sqlite)", environ(lite), []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", environ(pg), []string{"migrate", "-bogus"}, "flag provided but not defined"},
		{"concurrency 0", environ(pg), []string{"migrate", "-concurrency", "0"}, "-concurrency"},
		{"concurrency too high", environ(pg), []string{"migrate", "-concurrency", "1000"}, "-concurrency"},
		{"concurrency not a number", environ(pg), []string{"migrate", "-concurrency", "many"}, "invalid value"},
		{"mysql url", []string{"DATABASE_URL=mysql://x"}, []string{"migrate"}, "DATABASE_URL"},
		{"bad db name", []string{"DATA_DIR=" + lite.DataDir, "DB_NAME=Not-Valid"}, []string{"status"}, "DB_NAME"},
		// Go's flag parsing stops at the first non-flag: "migrate acme
		// -dry-run" would otherwise migrate the whole fleet for real.
		{"stray argument", environ(pg), []string{"migrate", "acme", "-dry-run"}, `unexpected argument "acme"`},
		{"stray argument (status)", environ(lite), []string{"status", "-tenant", "acme", "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tenantctl(ctx, tc.environ, tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("want exit 2 and %q on stderr\n%s", tc.stderr, r)
			}
			if strings.Contains(r.stderr, "mysql://x") {
				t.Errorf("stderr echoes DATABASE_URL:\n%s", r)
			}
		})
	}
	// A mistyped command touches nothing: the main database is not created.
	if ok, err := pg.Server.Exists(ctx, pg.DBName); err != nil || ok {
		t.Errorf("main database %s exists after usage errors only (%v)", pg.DBName, err)
	}
	if ok, err := lite.Server.Exists(ctx, lite.DBName); err != nil || ok {
		t.Errorf("main database %s exists after usage errors only (%v)", lite.DBName, err)
	}
}

// status and migrate -dry-run only read: pointed at a main database that
// does not exist (a typo in DB_NAME, say), they say so and create nothing.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	ctx := testContext(t)
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		for _, args := range [][]string{{"status"}, {"migrate", "-dry-run"}} {
			r := tenantctl(ctx, environ(env), args...)
			if r.code != 2 || !strings.Contains(r.stderr, "does not exist") {
				t.Errorf("%v on a missing main database: want exit 2 and \"does not exist\"\n%s", args, r)
			}
			if ok, err := env.Server.Exists(ctx, env.DBName); err != nil || ok {
				t.Fatalf("%v created the main database %s (%v)", args, env.DBName, err)
			}
		}
		// A real migrate creates it: a first deploy may run it first.
		if r := tenantctl(ctx, environ(env), "migrate"); r.code != 0 {
			t.Fatalf("migrate on a new deployment:\n%s", r)
		}
		if r := tenantctl(ctx, environ(env), "status"); r.code != 0 {
			t.Fatalf("status after migrate:\n%s", r)
		}
	})
}
