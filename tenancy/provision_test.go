package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/tenantkit/tenantkit/ent/tenantdb"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

func newProvisioner(tb testing.TB, env testdb.Env, s tenancy.Strategy) (*tenancy.Provisioner, string) {
	tb.Helper()
	dir, err := migrations.Dir(migrations.Tenant, env.Dialect)
	if err != nil {
		tb.Fatal(err)
	}
	latest, err := dbmigrate.LatestVersion(dir)
	if err != nil || latest == "" {
		tb.Fatalf("latest tenant version %q: %v", latest, err)
	}
	return &tenancy.Provisioner{Server: env.Server, Naming: tenancy.Naming{MainDB: env.DBName}, Dir: dir, Strategy: s}, latest
}

// checkAtLatest opens database name and checks it is fully migrated and
// usable through the tenant graph; it returns the number of users in it.
func checkAtLatest(ctx context.Context, env testdb.Env, p *tenancy.Provisioner, name, latest string) (int, error) {
	db, err := env.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 1})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	st, err := dbmigrate.Status(ctx, db, env.Dialect, p.Dir)
	if err != nil {
		return 0, fmt.Errorf("%s: status: %w", name, err)
	}
	if st.Current != latest || len(st.Pending) != 0 {
		return 0, fmt.Errorf("%s: at %q with %v pending, want %q", name, st.Current, st.Pending, latest)
	}
	n, err := tenantdb.NewClient(tenantdb.Driver(entsql.OpenDB(env.Dialect, db))).User.Query().Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: query users: %w", name, err)
	}
	return n, nil
}

func addUser(ctx context.Context, env testdb.Env, name, email string) error {
	db, err := env.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 1})
	if err != nil {
		return err
	}
	client := tenantdb.NewClient(tenantdb.Driver(entsql.OpenDB(env.Dialect, db)))
	_, err = client.User.Create().SetEmail(email).SetName("x").Save(ctx)
	return errors.Join(err, client.Close())
}

// sessionsOn counts the PostgreSQL sessions connected to database name.
func sessionsOn(ctx context.Context, tb testing.TB, env testdb.Env, name string) int {
	tb.Helper()
	db, err := env.Server.Open(ctx, "postgres", sqldb.Pool{MaxOpen: 1})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestProvisionStrategies(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := context.Background()
		// Migrate first: it must not need (or create) the template.
		for _, s := range []tenancy.Strategy{tenancy.StrategyMigrate, tenancy.StrategyTemplate, ""} {
			p, latest := newProvisioner(t, env, s)
			name, err := p.Naming.DatabaseName("acme-" + string(s) + "x")
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Provision(ctx, name, false)
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			if got != latest {
				t.Fatalf("%q: Provision = %q, want %q", s, got, latest)
			}
			n, err := checkAtLatest(ctx, env, p, name, latest)
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			if n != 0 {
				t.Fatalf("%q: new database holds %d users", s, n)
			}
			hasTemplate, err := env.Server.Exists(ctx, p.Naming.TemplateName())
			if err != nil {
				t.Fatal(err)
			}
			if want := s != tenancy.StrategyMigrate; hasTemplate != want {
				t.Fatalf("%q: template exists = %v, want %v", s, hasTemplate, want)
			}
			// The database is usable.
			if err := addUser(ctx, env, name, "a@b.test"); err != nil {
				t.Fatal(err)
			}
		}
		names, err := env.Server.List(ctx, env.DBName)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 4 { // three tenants and the template
			t.Fatalf("databases %v", names)
		}
	})
}

func TestPrepareTemplateIdempotent(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := context.Background()
		p, latest := newProvisioner(t, env, tenancy.StrategyTemplate)
		tmpl := p.Naming.TemplateName()
		for i := range 3 {
			v, err := p.PrepareTemplate(ctx)
			if err != nil || v != latest {
				t.Fatalf("PrepareTemplate #%d = %q, %v; want %q", i, v, err, latest)
			}
		}
		// Another instance (no cached version) finds it ready.
		p2, _ := newProvisioner(t, env, tenancy.StrategyTemplate)
		if v, err := p2.PrepareTemplate(ctx); err != nil || v != latest {
			t.Fatalf("second provisioner: %q, %v", v, err)
		}
		p2.ForgetTemplate()
		if v, err := p2.PrepareTemplate(ctx); err != nil || v != latest {
			t.Fatalf("after ForgetTemplate: %q, %v", v, err)
		}
		// Concurrently, from fresh provisioners.
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, _ := newProvisioner(t, env, tenancy.StrategyTemplate)
				if v, err := p.PrepareTemplate(ctx); err != nil || v != latest {
					t.Errorf("concurrent PrepareTemplate = %q, %v", v, err)
				}
			}()
		}
		wg.Wait()
		if n, err := checkAtLatest(ctx, env, p, tmpl, latest); err != nil || n != 0 {
			t.Fatalf("template: %d users, %v", n, err)
		}
		if env.Dialect == dialect.Postgres {
			// A clone fails while anyone is connected to the template.
			if n := sessionsOn(ctx, t, env, tmpl); n != 0 {
				t.Fatalf("%d sessions left on the template", n)
			}
		}
		names, err := env.Server.List(ctx, env.DBName)
		if err != nil || len(names) != 1 || names[0] != tmpl {
			t.Fatalf("databases %v, %v; want the template only", names, err)
		}
	})
}

func TestProvisionExisting(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := context.Background()
		for _, s := range []tenancy.Strategy{tenancy.StrategyTemplate, tenancy.StrategyMigrate} {
			p, latest := newProvisioner(t, env, s)
			name, err := p.Naming.DatabaseName("taken-" + string(s))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Provision(ctx, name, false); err != nil {
				t.Fatal(err)
			}
			if err := addUser(ctx, env, name, "keep@me.test"); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Provision(ctx, name, false); !errors.Is(err, sqldb.ErrDatabaseExists) {
				t.Fatalf("%s: Provision of an existing database = %v, want ErrDatabaseExists", s, err)
			}
			if n, err := checkAtLatest(ctx, env, p, name, latest); err != nil || n != 1 {
				t.Fatalf("%s: existing database after a refused Provision: %d users, %v", s, n, err)
			}
			// adopt of a database holding rows is refused, and nothing is
			// lost: a retried provisioning must never hand an earlier
			// customer's data (a registry row deleted by hand, a restored
			// backup) to a new tenant of the same slug.
			if _, err := p.Provision(ctx, name, true); !errors.Is(err, tenancy.ErrDatabaseNotEmpty) {
				t.Fatalf("%s: Provision(adopt) of a database holding a user = %v, want ErrDatabaseNotEmpty", s, err)
			}
			if n, err := checkAtLatest(ctx, env, p, name, latest); err != nil || n != 1 {
				t.Fatalf("%s: database after a refused adopt: %d users, %v; want its data kept", s, n, err)
			}
			// A leftover at an older version without rows (an attempt that
			// died half-way through its migrations) is adopted and migrated.
			partial, _ := p.Naming.DatabaseName("partial-" + string(s))
			if err := env.Server.Create(ctx, partial, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Migrate(ctx, partial, false); err != nil {
				t.Fatal(err)
			}
			// The next release brings one more file.
			newerDir, newerLatest := withExtraFiles(t, p.Dir, 1)
			newer := &tenancy.Provisioner{Server: p.Server, Naming: p.Naming, Dir: newerDir, Strategy: s}
			if v, err := newer.Provision(ctx, partial, true); err != nil || v != newerLatest {
				t.Fatalf("%s: Provision(adopt) of a half-migrated database = %q, %v; want %q", s, v, err, newerLatest)
			}
			if _, err := checkAtLatest(ctx, env, newer, partial, newerLatest); err != nil {
				t.Fatal(err)
			}
			// adopt of an empty leftover (an attempt that died after CREATE
			// DATABASE) migrates it onward.
			empty, _ := p.Naming.DatabaseName("empty-" + string(s))
			if err := env.Server.Create(ctx, empty, ""); err != nil {
				t.Fatal(err)
			}
			if v, err := p.Provision(ctx, empty, true); err != nil || v != latest {
				t.Fatalf("%s: Provision(adopt) of an empty database = %q, %v", s, v, err)
			}
			if _, err := checkAtLatest(ctx, env, p, empty, latest); err != nil {
				t.Fatal(err)
			}
			// adopt of a name that does not exist creates it.
			other, _ := p.Naming.DatabaseName("fresh-" + string(s))
			if v, err := p.Provision(ctx, other, true); err != nil || v != latest {
				t.Fatalf("%s: Provision(adopt) of a new name = %q, %v", s, v, err)
			}
			// adopt of a database holding foreign tables fails, and keeps them.
			foreign, _ := p.Naming.DatabaseName("foreign-" + string(s))
			if err := env.Server.Create(ctx, foreign, ""); err != nil {
				t.Fatal(err)
			}
			db, err := env.Server.Open(ctx, foreign, sqldb.Pool{MaxOpen: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `CREATE TABLE precious (id integer PRIMARY KEY)`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO precious (id) VALUES (1)`); err != nil {
				t.Fatal(err)
			}
			_ = db.Close()
			if _, err := p.Provision(ctx, foreign, true); !errors.Is(err, tenancy.ErrDatabaseNotEmpty) {
				t.Fatalf("%s: Provision(adopt) of a database with foreign rows = %v, want ErrDatabaseNotEmpty", s, err)
			}
			db, err = env.Server.Open(ctx, foreign, sqldb.Pool{MaxOpen: 1})
			if err != nil {
				t.Fatal(err)
			}
			var kept int
			err = db.QueryRowContext(ctx, `SELECT count(*) FROM precious`).Scan(&kept)
			_ = db.Close()
			if err != nil || kept != 1 {
				t.Fatalf("%s: foreign data after a refused adopt: %d rows, %v", s, kept, err)
			}
			// Names are validated before any SQL or path is built.
			for _, bad := range []string{"", "../x", "Bad", `x"; DROP DATABASE postgres; --`} {
				for _, adopt := range []bool{false, true} {
					if _, err := p.Provision(ctx, bad, adopt); !errors.Is(err, sqldb.ErrInvalidName) {
						t.Fatalf("%s: Provision(%q, %v) = %v, want ErrInvalidName", s, bad, adopt, err)
					}
				}
			}
		}
	})
}

func TestProvisionConcurrent(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := context.Background()
		// A fresh provisioner: the template is prepared by the first of the
		// concurrent calls, and the others clone it at the same time.
		p, latest := newProvisioner(t, env, tenancy.StrategyTemplate)
		const n = 10
		names := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			name, err := p.Naming.DatabaseName(fmt.Sprintf("conc-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			names[i] = name
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v, err := p.Provision(ctx, name, false)
				if err == nil && v != latest {
					err = fmt.Errorf("%s at %q, want %q", name, v, latest)
				}
				errs[i] = err
			}()
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for i, name := range names {
			if _, err := checkAtLatest(ctx, env, p, name, latest); err != nil {
				t.Fatal(err)
			}
			// Each is its own database.
			if err := addUser(ctx, env, name, fmt.Sprintf("u%d@x.test", i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range names {
			if n, err := checkAtLatest(ctx, env, p, name, latest); err != nil || n != 1 {
				t.Fatalf("%s: %d users, %v", name, n, err)
			}
		}
		all, err := env.Server.List(ctx, p.Naming.TenantPrefix())
		if err != nil || len(all) != n+1 {
			t.Fatalf("databases %v, %v; want %d tenants and the template", all, err, n)
		}
	})
}
