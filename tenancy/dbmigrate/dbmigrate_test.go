package dbmigrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testdb.Context(t, 2*time.Minute)
}

// createDB creates database name on env's server and returns a pool on it,
// closed when the test ends.
func createDB(t *testing.T, env testdb.Env, name string) *sql.DB {
	t.Helper()
	ctx := testContext(t)
	if err := env.Server.Create(ctx, name, ""); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return openDB(t, env, name)
}

func openDB(t *testing.T, env testdb.Env, name string) *sql.DB {
	t.Helper()
	db, err := env.Server.Open(testContext(t), name, sqldb.Pool{MaxOpen: 4})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// opts are the options the service uses for database name of env.
func opts(env testdb.Env, name string) dbmigrate.Options {
	return dbmigrate.Options{LockName: env.Server.MigrationLockName(name), Operator: "tenantkit-test"}
}

func realDir(t *testing.T, g migrations.Graph, dialectName string) migrate.Dir {
	t.Helper()
	dir, err := migrations.Dir(g, dialectName)
	if err != nil {
		t.Fatalf("migrations.Dir(%s, %s): %v", g, dialectName, err)
	}
	return dir
}

func versions(t *testing.T, dir migrate.Dir) []string {
	t.Helper()
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	vs := make([]string, len(files))
	for i, f := range files {
		vs[i] = f.Version()
	}
	return vs
}

// withFiles returns a copy of base plus extra files (name -> SQL) and a
// correct atlas.sum.
func withFiles(t *testing.T, base migrate.Dir, extra map[string]string) *migrate.MemDir {
	t.Helper()
	files, err := base.Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := &migrate.MemDir{}
	for _, f := range files {
		if err := dir.WriteFile(f.Name(), f.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range extra {
		if err := dir.WriteFile(name, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	rehash(t, dir)
	return dir
}

func rehash(t *testing.T, dir *migrate.MemDir) {
	t.Helper()
	sum, err := dir.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.WriteSumFile(dir, sum); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Validate(dir); err != nil {
		t.Fatalf("test directory invalid: %v", err)
	}
}

func tableExists(t *testing.T, db *sql.DB, dialectName, table string) bool {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if dialectName == dialect.Postgres {
		q = `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public' AND tablename = $1`
	}
	var n int
	if err := db.QueryRowContext(testContext(t), q, table).Scan(&n); err != nil {
		t.Fatalf("look up table %s: %v", table, err)
	}
	return n > 0
}

type revisionRow struct {
	Version, Hash  string
	Applied, Total int
}

func revisionRows(t *testing.T, db *sql.DB, dialectName string) []revisionRow {
	t.Helper()
	table := "atlas_schema_revisions"
	if dialectName == dialect.Postgres {
		table = "public.atlas_schema_revisions"
	}
	rows, err := db.QueryContext(testContext(t), `SELECT version, hash, applied, total FROM `+table+` ORDER BY version`)
	if err != nil {
		t.Fatalf("read revisions: %v", err)
	}
	defer rows.Close()
	var rs []revisionRow
	for rows.Next() {
		var r revisionRow
		if err := rows.Scan(&r.Version, &r.Hash, &r.Applied, &r.Total); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}

func revisionVersions(rs []revisionRow) []string {
	vs := make([]string, len(rs))
	for i, r := range rs {
		vs[i] = r.Version
	}
	return vs
}

func last(vs []string) string { return vs[len(vs)-1] }

func TestApplyFreshDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		graph  migrations.Graph
		tables []string
	}{
		{migrations.Tenant, []string{"users"}},
		{migrations.Main, []string{"tenants", "users"}},
	}
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		for _, tt := range tests {
			t.Run(string(tt.graph), func(t *testing.T) {
				t.Parallel()
				ctx := testContext(t)
				name := env.DBName + "_" + string(tt.graph)
				db := createDB(t, env, name)
				dir := realDir(t, tt.graph, env.Dialect)
				all := versions(t, dir)

				latest, err := dbmigrate.LatestVersion(dir)
				if err != nil || latest != last(all) {
					t.Fatalf("LatestVersion = %q, %v; want %q", latest, err, last(all))
				}

				st, err := dbmigrate.Status(ctx, db, env.Dialect, dir)
				if err != nil {
					t.Fatalf("Status before: %v", err)
				}
				if st.Current != "" || st.Latest != latest || !slices.Equal(st.Pending, all) {
					t.Fatalf("Status before = %+v; want Current \"\", Latest %s, Pending %v", st, latest, all)
				}
				if tableExists(t, db, env.Dialect, dbmigrate.RevisionTable) {
					t.Fatal("Status created the revisions table")
				}

				res, err := dbmigrate.Apply(ctx, db, env.Dialect, dir, opts(env, name))
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if res.From != "" || res.To != latest || !slices.Equal(res.Applied, all) {
					t.Fatalf("Apply = %+v; want From \"\", To %s, Applied %v", res, latest, all)
				}
				for _, table := range tt.tables {
					if !tableExists(t, db, env.Dialect, table) {
						t.Errorf("table %s missing after Apply", table)
					}
				}
				revs := revisionRows(t, db, env.Dialect)
				if got := revisionVersions(revs); !slices.Equal(got, all) {
					t.Fatalf("revisions = %v; want %v", got, all)
				}
				sum, err := dir.Checksum()
				if err != nil {
					t.Fatal(err)
				}
				files, _ := dir.Files()
				for i, r := range revs {
					want, _ := sum.SumByName(files[i].Name())
					if r.Applied != r.Total || r.Total == 0 || r.Hash != want {
						t.Errorf("revision %+v: want applied == total > 0 and hash %s", r, want)
					}
				}

				st, err = dbmigrate.Status(ctx, db, env.Dialect, dir)
				if err != nil {
					t.Fatalf("Status after: %v", err)
				}
				if st.Current != latest || st.Latest != latest || len(st.Pending) != 0 {
					t.Fatalf("Status after = %+v; want Current = Latest = %s, nothing pending", st, latest)
				}

				res, err = dbmigrate.Apply(ctx, db, env.Dialect, dir, opts(env, name))
				if err != nil {
					t.Fatalf("second Apply: %v", err)
				}
				if res.From != latest || res.To != latest || len(res.Applied) != 0 {
					t.Fatalf("second Apply = %+v; want a no-op at %s", res, latest)
				}
				if got := revisionVersions(revisionRows(t, db, env.Dialect)); !slices.Equal(got, all) {
					t.Fatalf("revisions after second Apply = %v; want %v", got, all)
				}
			})
		}
	})
}

func TestApplyIncremental(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		db := createDB(t, env, env.DBName)
		base := realDir(t, migrations.Tenant, env.Dialect)
		baseLatest := last(versions(t, base))
		if _, err := dbmigrate.Apply(ctx, db, env.Dialect, base, opts(env, env.DBName)); err != nil {
			t.Fatalf("Apply base: %v", err)
		}
		next := withFiles(t, base, map[string]string{
			"30000101000001_a.sql": "CREATE TABLE inc_a (id integer);\n",
			"30000101000002_b.sql": "CREATE TABLE inc_b (id integer);\nCREATE TABLE inc_c (id integer);\n",
		})
		st, err := dbmigrate.Status(ctx, db, env.Dialect, next)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"30000101000001", "30000101000002"}
		if st.Current != baseLatest || st.Latest != "30000101000002" || !slices.Equal(st.Pending, want) {
			t.Fatalf("Status = %+v; want Current %s, Latest 30000101000002, Pending %v", st, baseLatest, want)
		}
		res, err := dbmigrate.Apply(ctx, db, env.Dialect, next, opts(env, env.DBName))
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if res.From != baseLatest || res.To != "30000101000002" || !slices.Equal(res.Applied, want) {
			t.Fatalf("Apply = %+v; want From %s, To 30000101000002, Applied %v", res, baseLatest, want)
		}
		for _, table := range []string{"inc_a", "inc_b", "inc_c"} {
			if !tableExists(t, db, env.Dialect, table) {
				t.Errorf("table %s missing", table)
			}
		}
	})
}

func TestApplyDryRun(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		db := createDB(t, env, env.DBName)
		base := realDir(t, migrations.Tenant, env.Dialect)
		all := versions(t, base)
		dry := opts(env, env.DBName)
		dry.DryRun = true

		// Fresh database: every file is pending, nothing is created.
		res, err := dbmigrate.Apply(ctx, db, env.Dialect, base, dry)
		if err != nil {
			t.Fatalf("dry run: %v", err)
		}
		if res.From != "" || res.To != last(all) || !slices.Equal(res.Applied, all) {
			t.Fatalf("dry run = %+v; want From \"\", To %s (where it would go), Applied %v", res, last(all), all)
		}
		for _, table := range []string{dbmigrate.RevisionTable, "users"} {
			if tableExists(t, db, env.Dialect, table) {
				t.Errorf("dry run created table %s", table)
			}
		}

		// Migrated database with one more file: only that one is listed.
		if _, err := dbmigrate.Apply(ctx, db, env.Dialect, base, opts(env, env.DBName)); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		next := withFiles(t, base, map[string]string{"30000101000001_more.sql": "CREATE TABLE dry_more (id integer);\n"})
		res, err = dbmigrate.Apply(ctx, db, env.Dialect, next, dry)
		if err != nil {
			t.Fatalf("dry run: %v", err)
		}
		if res.From != last(all) || res.To != "30000101000001" || !slices.Equal(res.Applied, []string{"30000101000001"}) {
			t.Fatalf("dry run = %+v; want From %s, To and Applied 30000101000001", res, last(all))
		}
		// It only reads: a run holding the migration lock does not hold it up.
		unlock, err := dbmigrate.Lock(ctx, db, env.Dialect, dry.LockName, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held := dry
		held.LockTimeout = 10 * time.Second
		start := time.Now()
		if res, err := dbmigrate.Apply(ctx, db, env.Dialect, next, held); err != nil || len(res.Applied) != 1 {
			t.Fatalf("dry run while the lock is held = %+v, %v", res, err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("dry run waited %v for the migration lock", took)
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if tableExists(t, db, env.Dialect, "dry_more") {
			t.Error("dry run applied a file")
		}
		if got := revisionVersions(revisionRows(t, db, env.Dialect)); !slices.Equal(got, all) {
			t.Errorf("revisions after dry run = %v; want %v", got, all)
		}
	})
}

func TestApplyFailingFileRollsBack(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		db := createDB(t, env, env.DBName)
		base := realDir(t, migrations.Tenant, env.Dialect)
		all := versions(t, base)
		baseLatest := last(all)
		if _, err := dbmigrate.Apply(ctx, db, env.Dialect, base, opts(env, env.DBName)); err != nil {
			t.Fatalf("Apply base: %v", err)
		}

		const file, version = "30000101000001_broken.sql", "30000101000001"
		broken := withFiles(t, base, map[string]string{
			file: "CREATE TABLE broken_first (id integer);\nINSERT INTO no_such_table (id) VALUES (1);\n",
		})
		res, err := dbmigrate.Apply(ctx, db, env.Dialect, broken, opts(env, env.DBName))
		if err == nil {
			t.Fatalf("Apply of a broken file succeeded: %+v", res)
		}
		var stmtErr *migrate.StmtExecError
		if !errors.As(err, &stmtErr) || !strings.Contains(stmtErr.Stmt.Text, "no_such_table") {
			t.Errorf("error %v: want a StmtExecError on the second statement", err)
		}
		if res.To != baseLatest || len(res.Applied) != 0 {
			t.Errorf("failed Apply = %+v; want To %s, nothing applied", res, baseLatest)
		}
		if tableExists(t, db, env.Dialect, "broken_first") {
			t.Error("the failing file's first statement was not rolled back")
		}
		if got := revisionVersions(revisionRows(t, db, env.Dialect)); !slices.Equal(got, all) {
			t.Errorf("revisions after failure = %v; want %v", got, all)
		}
		st, err := dbmigrate.Status(ctx, db, env.Dialect, broken)
		if err != nil {
			t.Fatal(err)
		}
		if st.Current != baseLatest || !slices.Equal(st.Pending, []string{version}) {
			t.Errorf("Status after failure = %+v; want Current %s, Pending [%s]", st, baseLatest, version)
		}

		fixed := withFiles(t, base, map[string]string{
			file: "CREATE TABLE broken_first (id integer);\nCREATE TABLE broken_second (id integer);\n",
		})
		res, err = dbmigrate.Apply(ctx, db, env.Dialect, fixed, opts(env, env.DBName))
		if err != nil {
			t.Fatalf("Apply of the fixed file: %v", err)
		}
		if res.From != baseLatest || res.To != version || !slices.Equal(res.Applied, []string{version}) {
			t.Fatalf("Apply of the fixed file = %+v", res)
		}
		for _, table := range []string{"broken_first", "broken_second"} {
			if !tableExists(t, db, env.Dialect, table) {
				t.Errorf("table %s missing after the fixed run", table)
			}
		}
	})
}

func TestApplyRefusesEditedAppliedFile(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		db := createDB(t, env, env.DBName)
		base := realDir(t, migrations.Tenant, env.Dialect)
		if _, err := dbmigrate.Apply(ctx, db, env.Dialect, base, opts(env, env.DBName)); err != nil {
			t.Fatalf("Apply base: %v", err)
		}
		files, err := base.Files()
		if err != nil {
			t.Fatal(err)
		}
		edit := func(rehashed bool) migrate.Dir {
			dir := withFiles(t, base, nil)
			body := string(files[0].Bytes()) + "CREATE TABLE edited_in (id integer);\n"
			if err := dir.WriteFile(files[0].Name(), []byte(body)); err != nil {
				t.Fatal(err)
			}
			if rehashed {
				rehash(t, dir)
			}
			return dir
		}
		tests := []struct {
			name string
			dir  migrate.Dir
		}{
			// atlas.sum no longer matches the files.
			{"stale atlas.sum", edit(false)},
			// atlas.sum was recomputed (`atlas migrate hash`), but the file
			// differs from the one the database recorded.
			{"rehashed atlas.sum", edit(true)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, err := dbmigrate.Apply(ctx, db, env.Dialect, tt.dir, opts(env, env.DBName))
				if !errors.Is(err, migrate.ErrChecksumMismatch) {
					t.Fatalf("Apply of an edited applied file = %+v, %v; want a checksum mismatch", res, err)
				}
				if tableExists(t, db, env.Dialect, "edited_in") {
					t.Fatal("the edited file was applied")
				}
			})
		}
	})
}

func TestApplyConcurrentSameDatabase(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		ctx := testContext(t)
		if err := env.Server.Create(ctx, env.DBName, ""); err != nil {
			t.Fatal(err)
		}
		dir := withFiles(t, realDir(t, migrations.Tenant, env.Dialect), map[string]string{
			"30000101000001_a.sql": "CREATE TABLE conc_a (id integer);\n",
			"30000101000002_b.sql": "CREATE TABLE conc_b (id integer);\n",
			"30000101000003_c.sql": "CREATE TABLE conc_c (id integer);\n",
		})
		all := versions(t, dir)

		const workers = 4
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			applied []string
			errs    []error
		)
		start := make(chan struct{})
		for i := range workers {
			// One pool per worker, as separate service instances would have.
			db := openDB(t, env, env.DBName)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := dbmigrate.Apply(ctx, db, env.Dialect, dir, opts(env, env.DBName))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("worker %d: %w", i, err))
				}
				applied = append(applied, res.Applied...)
			}()
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent Apply: %v", err)
		}
		slices.Sort(applied)
		if !slices.Equal(applied, all) {
			t.Fatalf("versions applied over all workers = %v; want each of %v exactly once", applied, all)
		}
		db := openDB(t, env, env.DBName)
		if got := revisionVersions(revisionRows(t, db, env.Dialect)); !slices.Equal(got, all) {
			t.Fatalf("revisions = %v; want %v", got, all)
		}
	})
}

// Atlas's SQLite lock is a file in the temp directory named after the lock:
// with sqldb's per-file lock names, two databases migrate at the same time.
func TestApplyParallelSQLiteDatabases(t *testing.T) {
	t.Parallel()
	env := testdb.SQLite(t)
	ctx := testContext(t)
	names := []string{env.DBName + "_one", env.DBName + "_two", env.DBName + "_three"}
	locks := map[string]bool{}
	for _, n := range names {
		locks[env.Server.MigrationLockName(n)] = true
	}
	if len(locks) != len(names) {
		t.Fatalf("MigrationLockName is not per database: %v", locks)
	}
	// A long migration, so the runs overlap.
	stmts := make([]string, 200)
	for i := range stmts {
		stmts[i] = fmt.Sprintf("CREATE TABLE par_%d (id integer);", i)
	}
	dir := withFiles(t, realDir(t, migrations.Tenant, env.Dialect), map[string]string{
		"30000101000001_many.sql": strings.Join(stmts, "\n") + "\n",
	})
	dbs := make([]*sql.DB, len(names))
	for i, n := range names {
		dbs[i] = createDB(t, env, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	start := make(chan struct{})
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// A short lock timeout: a shared lock would make a run fail
			// (Atlas's SQLite lock does not wait), not merely wait.
			o := opts(env, n)
			o.LockTimeout = 100 * time.Millisecond
			_, errs[i] = dbmigrate.Apply(ctx, dbs[i], env.Dialect, dir, o)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Apply %s: %v", names[i], err)
		}
	}
	for i, n := range names {
		if !tableExists(t, dbs[i], env.Dialect, "par_199") {
			t.Errorf("%s not migrated", n)
		}
	}
}

// The revisions table is the one the Atlas CLI writes with a URL that sets
// search_path=public: public.atlas_schema_revisions, with the CLI's columns.
func TestRevisionsTablePostgres(t *testing.T) {
	t.Parallel()
	env := testdb.Postgres(t)
	ctx := testContext(t)
	db := createDB(t, env, env.DBName)
	dir := realDir(t, migrations.Tenant, env.Dialect)
	if _, err := dbmigrate.Apply(ctx, db, env.Dialect, dir, opts(env, env.DBName)); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT column_name, data_type, is_nullable FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = 'atlas_schema_revisions' ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var name, typ, nullable string
		if err := rows.Scan(&name, &typ, &nullable); err != nil {
			t.Fatal(err)
		}
		got = append(got, name+" "+typ+" "+nullable)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"version character varying NO",
		"description character varying NO",
		"type bigint NO",
		"applied bigint NO",
		"total bigint NO",
		"executed_at timestamp with time zone NO",
		"execution_time bigint NO",
		"error text YES",
		"error_stmt text YES",
		"hash character varying NO",
		"partial_hashes jsonb YES",
		"operator_version character varying NO",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("public.atlas_schema_revisions columns:\n got %q\nwant %q", got, want)
	}
	var pk string
	if err := db.QueryRowContext(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = 'public.atlas_schema_revisions'::regclass AND i.indisprimary`).Scan(&pk); err != nil || pk != "version" {
		t.Errorf("primary key = %q, %v; want version", pk, err)
	}
	// The other URL style keeps the table in a schema of its own: it must
	// not be used.
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = 'atlas_schema_revisions'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("schema atlas_schema_revisions exists (%d, %v)", n, err)
	}
	var typ int
	var op string
	if err := db.QueryRowContext(ctx, `SELECT type, operator_version FROM public.atlas_schema_revisions ORDER BY version LIMIT 1`).Scan(&typ, &op); err != nil {
		t.Fatal(err)
	}
	if typ != int(migrate.RevisionTypeExecute) || op != "tenantkit-test" {
		t.Errorf("revision type %d, operator %q; want %d, tenantkit-test", typ, op, migrate.RevisionTypeExecute)
	}
}

func TestLatestVersionEmptyDir(t *testing.T) {
	t.Parallel()
	v, err := dbmigrate.LatestVersion(&migrate.MemDir{})
	if err != nil || v != "" {
		t.Fatalf("LatestVersion(empty) = %q, %v; want \"\", nil", v, err)
	}
}

func TestSQLiteLockName(t *testing.T) {
	t.Parallel()
	a, b := dbmigrate.SQLiteLockName("/data/a.db"), dbmigrate.SQLiteLockName("/data/b.db")
	if a == b || !strings.HasPrefix(a, dbmigrate.DefaultLockName+"_") {
		t.Fatalf("SQLiteLockName: %q, %q; want distinct names prefixed with %s_", a, b, dbmigrate.DefaultLockName)
	}
	if a != dbmigrate.SQLiteLockName("/data/a.db") {
		t.Fatal("SQLiteLockName is not stable")
	}
}

func TestApplyUnsupportedDialect(t *testing.T) {
	t.Parallel()
	dir := &migrate.MemDir{}
	if _, err := dbmigrate.Apply(context.Background(), nil, "mysql", dir, dbmigrate.Options{}); err == nil {
		t.Fatal("Apply with dialect mysql succeeded")
	}
	if _, err := dbmigrate.Status(context.Background(), nil, "mysql", dir); err == nil {
		t.Fatal("Status with dialect mysql succeeded")
	}
}

// Apply must work within a small connection budget: it holds the lock on a
// connection while it applies the files, and must not need a second one.
func TestApplySmallPool(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		dir := withFiles(t, realDir(t, migrations.Tenant, env.Dialect), map[string]string{
			"30000101000001_a.sql": "CREATE TABLE small_a (id integer);\n",
		})
		all := versions(t, dir)
		tests := []struct {
			name    string
			maxOpen int
			workers int
		}{
			{"one connection", 1, 1},
			{"two connections, four runs", 2, 4},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				name := fmt.Sprintf("%s_%d", env.DBName, i)
				if err := env.Server.Create(testContext(t), name, ""); err != nil {
					t.Fatal(err)
				}
				db, err := env.Server.Open(testContext(t), name, sqldb.Pool{MaxOpen: tt.maxOpen})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				// Short enough to fail rather than hang on a pool deadlock,
				// with a lock timeout longer than that.
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				o := opts(env, name)
				o.LockTimeout = time.Minute
				var wg sync.WaitGroup
				errs := make([]error, tt.workers)
				results := make([]dbmigrate.Result, tt.workers)
				for w := range tt.workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[w], errs[w] = dbmigrate.Apply(ctx, db, env.Dialect, dir, o)
					}()
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatalf("Apply on a pool of %d: %v", tt.maxOpen, err)
				}
				var applied []string
				for _, r := range results {
					applied = append(applied, r.Applied...)
				}
				slices.Sort(applied)
				if !slices.Equal(applied, all) {
					t.Fatalf("applied %v; want %v once each", applied, all)
				}
			})
		}
	})
}

// Another process (the Atlas CLI, another instance) holding the SQLite lock
// file makes Apply wait up to LockTimeout, as the PostgreSQL lock does,
// rather than fail at once.
func TestApplyWaitsForSQLiteLockOfAnotherProcess(t *testing.T) {
	t.Parallel()
	env := testdb.SQLite(t)
	ctx := testContext(t)
	db := createDB(t, env, env.DBName)
	dir := realDir(t, migrations.Tenant, env.Dialect)
	o := opts(env, env.DBName)
	// The lock file Atlas's SQLite driver writes: its expiry in Unix nanoseconds.
	lockFile := filepath.Join(os.TempDir(), o.LockName+".lock")
	hold := func(d time.Duration) {
		t.Helper()
		if err := os.WriteFile(lockFile, []byte(strconv.FormatInt(time.Now().Add(d).UnixNano(), 10)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = os.Remove(lockFile) })

	// Held for longer than the timeout: Apply gives up.
	hold(time.Minute)
	short := o
	short.LockTimeout = 300 * time.Millisecond
	start := time.Now()
	if _, err := dbmigrate.Apply(ctx, db, env.Dialect, dir, short); err == nil || !strings.Contains(err.Error(), "already taken") {
		t.Fatalf("Apply with the lock held = %v; want a lock error", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Apply waited %v with a lock timeout of %v", elapsed, short.LockTimeout)
	}
	if tableExists(t, db, env.Dialect, "users") {
		t.Fatal("Apply migrated without the lock")
	}

	// Released (here: expired) within the timeout: Apply waits and succeeds.
	hold(500 * time.Millisecond)
	o.LockTimeout = 10 * time.Second
	res, err := dbmigrate.Apply(ctx, db, env.Dialect, dir, o)
	if err != nil {
		t.Fatalf("Apply after the lock was released: %v", err)
	}
	if !slices.Equal(res.Applied, versions(t, dir)) {
		t.Fatalf("Apply = %+v", res)
	}
	if _, err := os.Stat(lockFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after Apply (%v)", err)
	}
}

// Waiting for a lock another run holds ends when the caller's context does
// (Ctrl-C on tenantctl), on both dialects, not when the lock timeout runs
// out; and a run that times out on a held PostgreSQL lock says so.
func TestApplyLockWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := testContext(t)
		db := createDB(t, env, env.DBName)
		dir := realDir(t, migrations.Tenant, env.Dialect)
		o := opts(env, env.DBName)
		unlock, err := dbmigrate.Lock(ctx, db, env.Dialect, o.LockName, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = unlock() }()

		o.LockTimeout = 20 * time.Second
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		if _, err := dbmigrate.Apply(cctx, db, env.Dialect, dir, o); !errors.Is(err, context.Canceled) {
			t.Fatalf("Apply cancelled while waiting for the lock = %v; want context.Canceled", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("Apply returned %v after its context was cancelled (lock timeout %v)", took, o.LockTimeout)
		}
		short := o
		short.LockTimeout = 300 * time.Millisecond
		if _, err := dbmigrate.Apply(ctx, db, env.Dialect, dir, short); err == nil || !strings.Contains(err.Error(), "lock") {
			t.Fatalf("Apply with the lock held past its timeout = %v; want a lock error", err)
		}
		if tableExists(t, db, env.Dialect, "users") {
			t.Fatal("Apply migrated without the lock")
		}
		// Released: the next run proceeds.
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		unlock = func() error { return nil }
		if _, err := dbmigrate.Apply(ctx, db, env.Dialect, dir, o); err != nil {
			t.Fatalf("Apply after the release: %v", err)
		}
	})
}
