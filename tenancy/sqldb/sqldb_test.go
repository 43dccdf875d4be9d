package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testdb.Context(t, 2*time.Minute)
}

func open(t *testing.T, env testdb.Env, name string) *sql.DB {
	t.Helper()
	db, err := env.Server.Open(testContext(t), name, sqldb.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"app", true},
		{"app_tenant_acme", true},
		{"app_tenant_virgin_voyages", true},
		{"a1", true},
		{"a" + strings.Repeat("b", 62), true}, // 63 bytes: PostgreSQL's limit
		{"", false},
		{"App", false},
		{"APP", false},
		{"app_Tenant", false},
		{"1app", false},
		{"_app", false},
		{`app"x`, false},
		{"app'x", false},
		{"app`x", false},
		{"../x", false},
		{"app/x", false},
		{`app\x`, false},
		{"app.db", false},
		{"app-tenant", false},
		{"a" + strings.Repeat("b", 63), false}, // 64 bytes
		{"app tenant", false},
		{" app", false},
		{"app\n", false},
		{"app;drop", false},
		{"app;", false},
		{"appé", false},
		{"аpp", false}, // Cyrillic a
		{"app\x00", false},
	}
	for _, tt := range tests {
		err := sqldb.ValidateName(tt.name)
		if tt.ok && err != nil {
			t.Errorf("ValidateName(%q) = %v; want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, sqldb.ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v; want ErrInvalidName", tt.name, err)
		}
	}
}

// Every entry point checks the name before building SQL or a path.
func TestInvalidNameRejectedEverywhere(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		const bad = "../x"
		checks := map[string]func() error{
			"Open": func() error {
				db, err := env.Server.Open(ctx, bad, sqldb.Pool{})
				if db != nil {
					db.Close()
				}
				return err
			},
			"Exists":          func() error { _, err := env.Server.Exists(ctx, bad); return err },
			"Create":          func() error { return env.Server.Create(ctx, bad, "") },
			"Create template": func() error { return env.Server.Create(ctx, env.DBName, bad) },
			"Drop":            func() error { return env.Server.Drop(ctx, bad) },
		}
		for name, check := range checks {
			if err := check(); !errors.Is(err, sqldb.ErrInvalidName) {
				t.Errorf("%s(%q) = %v; want ErrInvalidName", name, bad, err)
			}
		}
		if ok, err := env.Server.Exists(ctx, env.DBName); err != nil || ok {
			t.Errorf("Create with an invalid template created the database (%v, %v)", ok, err)
		}
	})
}

func TestCreateExistsListDrop(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		s := env.Server
		names := []string{env.DBName, env.DBName + "_tenant_acme", env.DBName + "_tenant_beta"}

		if got, err := s.List(ctx, env.DBName); err != nil || len(got) != 0 {
			t.Fatalf("List before = %v, %v; want none", got, err)
		}
		for _, n := range names {
			if ok, err := s.Exists(ctx, n); err != nil || ok {
				t.Fatalf("Exists(%s) before Create = %v, %v", n, ok, err)
			}
		}
		// Create in reverse order: List sorts.
		for _, n := range slices.Backward(names) {
			if err := s.Create(ctx, n, ""); err != nil {
				t.Fatalf("Create(%s): %v", n, err)
			}
		}
		for _, n := range names {
			if ok, err := s.Exists(ctx, n); err != nil || !ok {
				t.Fatalf("Exists(%s) after Create = %v, %v", n, ok, err)
			}
		}
		got, err := s.List(ctx, env.DBName)
		if err != nil || !slices.Equal(got, names) {
			t.Fatalf("List(%s) = %v, %v; want %v", env.DBName, got, err, names)
		}
		got, err = s.List(ctx, env.DBName+"_tenant_")
		if err != nil || !slices.Equal(got, names[1:]) {
			t.Fatalf("List(tenant prefix) = %v, %v; want %v", got, err, names[1:])
		}

		// A created database is usable.
		db := open(t, env, names[1])
		if _, err := db.ExecContext(ctx, "CREATE TABLE t (id integer)"); err != nil {
			t.Fatalf("use created database: %v", err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO t (id) VALUES (1)"); err != nil {
			t.Fatal(err)
		}

		// Drop works with the pool still open (PostgreSQL ends its sessions).
		if err := s.Drop(ctx, names[1]); err != nil {
			t.Fatalf("Drop(%s): %v", names[1], err)
		}
		_ = db.Close()
		if ok, err := s.Exists(ctx, names[1]); err != nil || ok {
			t.Fatalf("Exists after Drop = %v, %v", ok, err)
		}
		if err := s.Drop(ctx, names[1]); err != nil {
			t.Fatalf("Drop of a missing database = %v; want nil", err)
		}
		got, err = s.List(ctx, env.DBName)
		if err != nil || !slices.Equal(got, []string{names[0], names[2]}) {
			t.Fatalf("List after Drop = %v, %v", got, err)
		}
		if env.Dialect == dialect.SQLite {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				p := filepath.Join(env.DataDir, names[1]+".db"+suffix)
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left after Drop (%v)", p, err)
				}
			}
		}
	})
}

func TestCreateTwice(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		tmpl := env.DBName + "_tmpl"
		if err := env.Server.Create(ctx, tmpl, ""); err != nil {
			t.Fatal(err)
		}
		for name, template := range map[string]string{env.DBName + "_twice": "", env.DBName + "_twice_clone": tmpl} {
			if err := env.Server.Create(ctx, name, template); err != nil {
				t.Fatalf("Create(%s, %q): %v", name, template, err)
			}
			if err := env.Server.Create(ctx, name, template); !errors.Is(err, sqldb.ErrDatabaseExists) {
				t.Fatalf("second Create(%s, %q) = %v; want ErrDatabaseExists", name, template, err)
			}
		}
	})
}

func TestCreateFromTemplate(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		tmpl := env.DBName + "_tmpl"
		if err := env.Server.Create(ctx, tmpl, ""); err != nil {
			t.Fatal(err)
		}
		db := open(t, env, tmpl)
		for _, stmt := range []string{
			"CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL)",
			"CREATE INDEX items_name ON items (name)",
			"INSERT INTO items (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three')",
		} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		// Both engines need the template closed while it is copied.
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		clone := env.DBName + "_clone"
		if err := env.Server.Create(ctx, clone, tmpl); err != nil {
			t.Fatalf("Create from template: %v", err)
		}
		cdb := open(t, env, clone)
		rows, err := cdb.QueryContext(ctx, "SELECT name FROM items ORDER BY id")
		if err != nil {
			t.Fatalf("query clone: %v", err)
		}
		var got []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
		}
		rows.Close()
		if want := []string{"one", "two", "three"}; !slices.Equal(got, want) {
			t.Fatalf("clone rows = %v; want %v", got, want)
		}
		// The clone is independent of its template.
		if _, err := cdb.ExecContext(ctx, "INSERT INTO items (id, name) VALUES (4, 'four')"); err != nil {
			t.Fatal(err)
		}
		tdb := open(t, env, tmpl)
		var n int
		if err := tdb.QueryRowContext(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil || n != 3 {
			t.Fatalf("template rows = %d, %v; want 3", n, err)
		}

		if err := env.Server.Create(ctx, env.DBName+"_nothing", env.DBName+"_missing"); err == nil {
			t.Fatal("Create from a missing template succeeded")
		}
		if ok, _ := env.Server.Exists(ctx, env.DBName+"_nothing"); ok {
			t.Fatal("a failed Create left a database behind")
		}
		if env.Dialect == dialect.SQLite {
			// No temporary copy is left in the data directory.
			entries, err := os.ReadDir(env.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		}
	})
}

func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		tmpl := env.DBName + "_tmpl"
		if err := env.Server.Create(ctx, tmpl, ""); err != nil {
			t.Fatal(err)
		}
		tests := []struct{ name, target, template string }{
			{"empty", env.DBName + "_race", ""},
			{"from template", env.DBName + "_race_clone", tmpl},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				const n = 10
				var wg sync.WaitGroup
				errs := make([]error, n)
				start := make(chan struct{})
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						errs[i] = env.Server.Create(ctx, tt.target, tt.template)
					}()
				}
				close(start)
				wg.Wait()
				ok := 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case errors.Is(err, sqldb.ErrDatabaseExists):
					default:
						t.Errorf("Create: %v; want nil or ErrDatabaseExists", err)
					}
				}
				if ok != 1 {
					t.Fatalf("%d of %d concurrent Creates succeeded; want 1 (errors %v)", ok, n, errs)
				}
				if exists, err := env.Server.Exists(ctx, tt.target); err != nil || !exists {
					t.Fatalf("Exists = %v, %v", exists, err)
				}
			})
		}
	})
}

// CREATE DATABASE ... TEMPLATE fails while a session is connected to the
// template; Create retries, so it succeeds once that session ends.
func TestPostgresCreateWhileTemplateInUse(t *testing.T) {
	t.Parallel()
	env := testdb.Postgres(t)
	ctx := testContext(t)
	tmpl := env.DBName + "_tmpl"
	if err := env.Server.Create(ctx, tmpl, ""); err != nil {
		t.Fatal(err)
	}
	db := open(t, env, tmpl)
	if _, err := db.ExecContext(ctx, "CREATE TABLE marker (id integer)"); err != nil {
		t.Fatal(err)
	}
	const hold = 700 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		time.Sleep(hold)
		done <- db.Close()
	}()
	start := time.Now()
	clone := env.DBName + "_clone"
	if err := env.Server.Create(ctx, clone, tmpl); err != nil {
		t.Fatalf("Create while the template was in use for %v: %v", hold, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < hold {
		t.Errorf("Create returned after %v, before the template's session ended", elapsed)
	}
	cdb := open(t, env, clone)
	var n int
	if err := cdb.QueryRowContext(ctx, "SELECT count(*) FROM marker").Scan(&n); err != nil {
		t.Fatalf("clone lacks the template's table: %v", err)
	}
}

func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	down, err := sqldb.NewPostgres("postgres://postgres@127.0.0.1:1/postgres?sslmode=disable", "")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	db, err := down.Open(ctx, "postgres", sqldb.Pool{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	refused := db.PingContext(ctx)
	if refused == nil {
		t.Fatal("Ping of 127.0.0.1:1 succeeded")
	}
	_, existsErr := down.Exists(ctx, "postgres")

	env := testdb.Postgres(t)
	pg := open(t, env, "postgres")
	_, syntaxErr := pg.ExecContext(ctx, "SELEC 1")
	if syntaxErr == nil {
		t.Fatal("a syntax error succeeded")
	}
	lenv := testdb.SQLite(t)
	lite := open(t, lenv, lenv.DBName)
	_, liteSyntaxErr := lite.ExecContext(ctx, "SELEC 1")
	if liteSyntaxErr == nil {
		t.Fatal("a SQLite syntax error succeeded")
	}

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", refused, true},
		{"connection refused, wrapped", errors.Join(errors.New("ping"), refused), true},
		{"Exists on a server that is down", existsErr, true},
		{"ErrUnavailable", sqldb.ErrUnavailable, true},
		{"postgres syntax error", syntaxErr, false},
		{"sqlite syntax error", liteSyntaxErr, false},
		{"other", errors.New("boom"), false},
		{"ErrDatabaseExists", sqldb.ErrDatabaseExists, false},
	}
	for _, tt := range tests {
		if got := sqldb.IsUnavailable(tt.err); got != tt.want {
			t.Errorf("IsUnavailable(%s: %v) = %v; want %v", tt.name, tt.err, got, tt.want)
		}
	}
	if !errors.Is(existsErr, sqldb.ErrUnavailable) {
		t.Errorf("Exists on a server that is down = %v; want it to wrap ErrUnavailable", existsErr)
	}
}

func TestPostgresURLAndDescribe(t *testing.T) {
	t.Parallel()
	pg, err := sqldb.NewPostgres("postgres://user:s3cret@db.example:5432/app?sslmode=require", "")
	if err != nil {
		t.Fatal(err)
	}
	u := pg.URL("app_tenant_acme")
	for _, want := range []string{"/app_tenant_acme?", "search_path=public", "sslmode=require"} {
		if !strings.Contains(u, want) {
			t.Errorf("URL = %q; want it to contain %q", u, want)
		}
	}
	if d := pg.Describe("app"); strings.Contains(d, "s3cret") || strings.Contains(d, "user") {
		t.Errorf("Describe = %q leaks credentials", d)
	}
	if _, err := sqldb.NewPostgres("mysql://x/y", ""); err == nil {
		t.Error("NewPostgres accepted a mysql:// URL")
	}
	if _, err := sqldb.NewPostgres("postgres://user:s3cret@host:badport/app", ""); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("NewPostgres(bad URL) = %v; want an error without the password", err)
	}
	if name, err := sqldb.DatabaseFromURL("postgres://h/app?sslmode=disable"); err != nil || name != "app" {
		t.Errorf("DatabaseFromURL = %q, %v", name, err)
	}
}

func TestSQLiteListIgnoresOtherFiles(t *testing.T) {
	t.Parallel()
	env := testdb.SQLite(t)
	ctx := testContext(t)
	if err := env.Server.Create(ctx, env.DBName, ""); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{env.DBName + "_x.txt", env.DBName + "_Bad.db", "." + env.DBName + "_y.123.tmp", env.DBName + ".db-wal"} {
		if err := os.WriteFile(filepath.Join(env.DataDir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := env.Server.List(ctx, env.DBName)
	if err != nil || !slices.Equal(got, []string{env.DBName}) {
		t.Fatalf("List = %v, %v; want [%s]", got, err, env.DBName)
	}
}

// Table names read from a database are data: Tables lists them as they are
// and Quoted makes any of them safe to select from, on both dialects.
func TestTablesAndQuoted(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		name := env.DBName + "_tables"
		if err := env.Server.Create(ctx, name, ""); err != nil {
			t.Fatal(err)
		}
		db := open(t, env, name)
		if got, err := sqldb.Tables(ctx, db, env.Dialect); err != nil || len(got) != 0 {
			t.Fatalf("Tables of an empty database = %v, %v", got, err)
		}
		odd := `we"ird; DROP TABLE plain; --`
		plain := sqldb.Table{Schema: sqldb.DefaultSchema(env.Dialect), Name: "plain"}
		weird := sqldb.Table{Schema: sqldb.DefaultSchema(env.Dialect), Name: odd}
		for _, tb := range []sqldb.Table{plain, weird} {
			if _, err := db.ExecContext(ctx, "CREATE TABLE "+tb.Quoted(env.Dialect)+" (id integer)"); err != nil {
				t.Fatalf("create %s: %v", tb, err)
			}
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO "+weird.Quoted(env.Dialect)+" (id) VALUES (7)"); err != nil {
			t.Fatal(err)
		}
		got, err := sqldb.Tables(ctx, db, env.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		if want := []sqldb.Table{plain, weird}; !slices.Equal(got, want) {
			t.Fatalf("Tables = %q, want %q", got, want)
		}
		var id int
		if err := db.QueryRowContext(ctx, "SELECT id FROM "+got[1].Quoted(env.Dialect)).Scan(&id); err != nil || id != 7 {
			t.Fatalf("select from %s = %d, %v", got[1], id, err)
		}
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+plain.Quoted(env.Dialect)).Scan(&id); err != nil || id != 0 {
			t.Fatalf("plain after the odd name was used = %d rows, %v (want the table intact)", id, err)
		}
	})
}
