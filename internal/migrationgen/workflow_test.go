package migrationgen_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"

	tenantdbmigrate "github.com/tenantkit/tenantkit/ent/tenantdb/migrate"
	"github.com/tenantkit/tenantkit/internal/migrationgen"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// withNickname returns deep copies of the targets in which the users table
// has an extra nullable column, as if the User schema had gained
// field.String("nickname").Optional(). The generated packages' tables are
// left untouched.
func withNickname(t *testing.T, targets []migrationgen.Target) []migrationgen.Target {
	t.Helper()
	out := make([]migrationgen.Target, len(targets))
	for i, tg := range targets {
		tables, err := schema.CopyTables(tg.Tables)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, tb := range tables {
			if tb.Name == "users" {
				tb.Columns = append(tb.Columns, &schema.Column{Name: "nickname", Type: field.TypeString, Nullable: true})
				found = true
			}
		}
		if !found {
			t.Fatalf("%s/%s: no users table", tg.Graph, tg.Dialect)
		}
		tg.Tables = tables
		out[i] = tg
	}
	return out
}

// The developer workflow of a schema change, without `go generate`: the
// application schema gains a column; Generate writes exactly one new file
// into each of the four directories (the application schema lives in both
// graphs), with a valid atlas.sum; databases migrated with the committed
// files take exactly the new file and get the column.
func TestWorkflowAddColumn(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	root := copyMigrations(t)
	targets := withNickname(t, migrationgen.Targets())

	type dirKey struct {
		graph   migrations.Graph
		dialect string
	}
	before := map[dirKey][]string{}
	for _, tg := range targets {
		before[dirKey{tg.Graph, tg.Dialect}] = sqlFiles(t, targetPath(t, root, tg.Graph, tg.Dialect))
	}

	written, err := generator(root).GenerateTargets(ctx, "add user nickname", targets)
	if err != nil {
		t.Fatalf("GenerateTargets: %v", err)
	}
	if len(written) != 4 {
		t.Fatalf("GenerateTargets wrote %d directories, want all 4: %v", len(written), written)
	}
	for _, c := range tenantdbmigrate.UsersTable.Columns {
		if c.Name == "nickname" {
			t.Fatal("the generated package's users table was modified")
		}
	}

	nameRE := regexp.MustCompile(`^(\d{14})_add_user_nickname\.sql$`)
	newVersion := map[dirKey]string{}
	for _, tg := range targets {
		key := dirKey{tg.Graph, tg.Dialect}
		p := targetPath(t, root, tg.Graph, tg.Dialect)
		files := sqlFiles(t, p)
		if len(files) != len(before[key])+1 || !slices.Equal(files[:len(before[key])], before[key]) {
			t.Errorf("%s/%s: files %v, want %v plus one", tg.Graph, tg.Dialect, files, before[key])
			continue
		}
		name := files[len(files)-1]
		m := nameRE.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("%s/%s: new file %q, want <timestamp>_add_user_nickname.sql", tg.Graph, tg.Dialect, name)
			continue
		}
		newVersion[key] = m[1]
		body, err := os.ReadFile(filepath.Join(p, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "nickname") || strings.Contains(string(body), "tenants") {
			t.Errorf("%s/%s: %s does not add users.nickname alone:\n%s", tg.Graph, tg.Dialect, name, body)
		}
		local, err := atlasmigrate.NewLocalDir(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := atlasmigrate.Validate(local); err != nil {
			t.Errorf("%s/%s: atlas.sum does not validate: %v", tg.Graph, tg.Dialect, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Nothing left to write; and against the real (unchanged) ent schemas,
	// the directories have drifted.
	if again, err := generator(root).GenerateTargets(ctx, "again", targets); err != nil || len(again) != 0 {
		t.Errorf("second GenerateTargets wrote %v (%v), want nothing", again, err)
	}
	if err := generator(root).CheckDrift(ctx); !errors.Is(err, migrationgen.ErrDrift) {
		t.Errorf("CheckDrift of the ent schemas against the new directories = %v, want ErrDrift", err)
	}

	// Databases migrated with the committed files take exactly the new one.
	for _, env := range []testdb.Env{testdb.Postgres(t), testdb.SQLite(t)} {
		for _, g := range migrations.Graphs {
			key := dirKey{g, env.Dialect}
			name := env.DBName
			if g == migrations.Tenant {
				name += "_tenant_dev"
			}
			if err := env.Server.Create(ctx, name, ""); err != nil {
				t.Fatal(err)
			}
			db, err := env.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 2})
			if err != nil {
				t.Fatal(err)
			}
			old, err := migrations.Dir(g, env.Dialect)
			if err != nil {
				t.Fatal(err)
			}
			opts := dbmigrate.Options{LockName: env.Server.MigrationLockName(name)}
			if _, err := dbmigrate.Apply(ctx, db, env.Dialect, old, opts); err != nil {
				t.Fatalf("%s/%s: apply the committed files: %v", g, env.Dialect, err)
			}
			if nullable, ok := nicknameColumn(ctx, t, db, env.Dialect); ok {
				t.Fatalf("%s/%s: nickname exists before the new file (nullable %v)", g, env.Dialect, nullable)
			}
			next, err := atlasmigrate.NewLocalDir(targetPath(t, root, g, env.Dialect))
			if err != nil {
				t.Fatal(err)
			}
			res, err := dbmigrate.Apply(ctx, db, env.Dialect, next, opts)
			if err != nil {
				t.Fatalf("%s/%s: apply the new directory: %v", g, env.Dialect, err)
			}
			if !slices.Equal(res.Applied, []string{newVersion[key]}) || res.To != newVersion[key] {
				t.Errorf("%s/%s: applied %v to %s, want exactly %s", g, env.Dialect, res.Applied, res.To, newVersion[key])
			}
			if nullable, ok := nicknameColumn(ctx, t, db, env.Dialect); !ok || !nullable {
				t.Errorf("%s/%s: users.nickname exists %v, nullable %v; want a nullable column", g, env.Dialect, ok, nullable)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// nicknameColumn reports whether users.nickname exists and is nullable.
func nicknameColumn(ctx context.Context, t *testing.T, db *sql.DB, dialectName string) (nullable, ok bool) {
	t.Helper()
	q := `SELECT is_nullable = 'YES' FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users' AND column_name = 'nickname'`
	if dialectName == dialect.SQLite {
		q = `SELECT "notnull" = 0 FROM pragma_table_info('users') WHERE name = 'nickname'`
	}
	switch err := db.QueryRowContext(ctx, q).Scan(&nullable); {
	case errors.Is(err, sql.ErrNoRows):
		return false, false
	case err != nil:
		t.Fatal(err)
	}
	return nullable, true
}
