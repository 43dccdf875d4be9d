package migrationgen_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/tenantkit/tenantkit/internal/migrationgen"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/migrations"
)

const committedRoot = "../../migrations"

func testContext(t *testing.T) context.Context {
	t.Helper()
	return testdb.Context(t, 3*time.Minute)
}

func generator(root string) migrationgen.Generator {
	return migrationgen.Generator{MigrationsRoot: root, DevServer: testdb.PostgresURL()}
}

// snapshot returns every file below root (relative path -> contents).
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// copyMigrations copies the committed migration directories to a temporary
// root and returns it.
func copyMigrations(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for rel, body := range snapshot(t, committedRoot) {
		if !strings.HasSuffix(rel, ".sql") && !strings.HasSuffix(rel, "atlas.sum") {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func targetPath(t *testing.T, root string, g migrations.Graph, dialectName string) string {
	t.Helper()
	p, err := generator(root).Path(migrationgen.Target{Graph: g, Dialect: dialectName})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sqlFiles returns the migration files of dir, oldest first.
func sqlFiles(t *testing.T, dir string) []string {
	t.Helper()
	local, err := atlasmigrate.NewLocalDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := local.Files()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name()
	}
	return names
}

func rehash(t *testing.T, dir string) {
	t.Helper()
	local, err := atlasmigrate.NewLocalDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := local.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := atlasmigrate.WriteSumFile(local, sum); err != nil {
		t.Fatal(err)
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, tg := range migrationgen.Targets() {
		rel, err := migrations.RelPath(tg.Graph, tg.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		seen[rel] = true
		tables := map[string]bool{}
		for _, tb := range tg.Tables {
			tables[tb.Name] = true
		}
		if !tables["users"] || tables["tenants"] != (tg.Graph == migrations.Main) {
			t.Errorf("%s: tables %v; want users, and tenants only in main", rel, tables)
		}
	}
	for _, want := range []string{"main/postgres", "main/sqlite", "tenant/postgres", "tenant/sqlite"} {
		if !seen[want] {
			t.Errorf("no target for %s", want)
		}
	}
	if len(seen) != 4 {
		t.Errorf("targets %v; want 4", seen)
	}
}

// The committed migration directories describe the ent schemas exactly.
func TestCheckDriftCommitted(t *testing.T) {
	t.Parallel()
	before := snapshot(t, committedRoot)
	if err := generator(committedRoot).CheckDrift(testContext(t)); err != nil {
		t.Fatalf("CheckDrift on the committed migrations: %v\n"+
			"after changing a schema, run `go generate ./...` then `make migration name=...`", err)
	}
	if after := snapshot(t, committedRoot); !equalFiles(before, after) {
		t.Fatal("CheckDrift wrote to the migrations directory")
	}
}

func TestCheckDriftMissingFile(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	root := copyMigrations(t)
	dir := targetPath(t, root, migrations.Tenant, dialect.SQLite)
	files := sqlFiles(t, dir)
	if len(files) == 0 {
		t.Fatal("no migration files in tenant/sqlite")
	}
	newest := files[len(files)-1]
	if err := os.Remove(filepath.Join(dir, newest)); err != nil {
		t.Fatal(err)
	}
	rehash(t, dir)

	err := generator(root).CheckDrift(ctx)
	if !errors.Is(err, migrationgen.ErrDrift) {
		t.Fatalf("CheckDrift without %s = %v; want ErrDrift", newest, err)
	}
	if !strings.Contains(err.Error(), "tenant/sqlite") {
		t.Errorf("error %q does not name tenant/sqlite", err)
	}
	for _, other := range []string{"main/sqlite", "main/postgres", "tenant/postgres"} {
		if strings.Contains(err.Error(), other) {
			t.Errorf("error %q names %s, which is in sync", err, other)
		}
	}

	// Generate writes the missing change back into that directory only, and
	// the drift is gone.
	written, err := generator(root).Generate(ctx, "restore")
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if len(written) != 1 || written[0].Graph != migrations.Tenant || written[0].Dialect != dialect.SQLite {
		t.Fatalf("Generate wrote %v; want tenant/sqlite only", written)
	}
	if got := sqlFiles(t, dir); len(got) != len(files) || !strings.HasSuffix(got[len(got)-1], "_restore.sql") {
		t.Fatalf("files after Generate = %v", got)
	}
	if err := generator(root).CheckDrift(ctx); err != nil {
		t.Fatalf("CheckDrift after Generate: %v", err)
	}
}

func TestCheckDriftTamperedSum(t *testing.T) {
	t.Parallel()
	root := copyMigrations(t)
	dir := targetPath(t, root, migrations.Main, dialect.Postgres)
	files := sqlFiles(t, dir)
	p := filepath.Join(dir, files[0])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(b, []byte("-- edited by hand\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	err = generator(root).CheckDrift(testContext(t))
	if !errors.Is(err, atlasmigrate.ErrChecksumMismatch) {
		t.Fatalf("CheckDrift with an edited file = %v; want Atlas's checksum mismatch", err)
	}
	if errors.Is(err, migrationgen.ErrDrift) {
		t.Errorf("CheckDrift reported drift for a checksum error: %v", err)
	}
	if !strings.Contains(err.Error(), "main/postgres") {
		t.Errorf("error %q does not name main/postgres", err)
	}
}

func TestGenerateUnchangedWritesNothing(t *testing.T) {
	t.Parallel()
	root := copyMigrations(t)
	before := snapshot(t, root)
	written, err := generator(root).Generate(testContext(t), "nothing")
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if len(written) != 0 {
		t.Errorf("Generate wrote %v; want nothing", written)
	}
	if after := snapshot(t, root); !equalFiles(before, after) {
		t.Fatalf("Generate changed the directory:\nbefore %v\nafter %v", keys(before), keys(after))
	}
}

func TestGenerateBadDevServer(t *testing.T) {
	t.Parallel()
	root := copyMigrations(t)
	before := snapshot(t, root)
	g := migrationgen.Generator{MigrationsRoot: root, DevServer: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.Generate(ctx, "x"); err == nil {
		t.Fatal("Generate succeeded without a dev server")
	}
	if after := snapshot(t, root); !equalFiles(before, after) {
		t.Fatal("a failed Generate changed the directory")
	}
}

func equalFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
