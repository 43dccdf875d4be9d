// Package testdb gives tests real database servers: PostgreSQL (from
// TEST_DATABASE_URL, default the local server) and SQLite files in a
// temporary directory. Every test gets a unique database-name prefix, and
// every database whose name starts with it is dropped when the test ends, so
// parallel runs never collide and nothing is left behind.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// DefaultPostgresURL is the server the tests use unless TEST_DATABASE_URL is set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresURL returns the base URL of the test PostgreSQL server.
func PostgresURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Env is one dialect's server and a unique main-database name for a test.
type Env struct {
	Dialect string
	Server  sqldb.Server
	// DBName is unique to the test; every database the test creates must
	// start with it (tenant databases do: DBName_tenant_slug).
	DBName string
	// URL is the connection URL of DBName (postgres) or "" (sqlite).
	URL string
	// DataDir is the SQLite directory ("" for postgres).
	DataDir string
}

// UniqueName returns a valid database name unique to this run.
func UniqueName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Postgres returns an Env on the test PostgreSQL server. The test fails if
// the server is unreachable: tests against the real database are not optional.
func Postgres(t testing.TB) Env {
	t.Helper()
	pg, err := sqldb.NewPostgres(PostgresURL(), "")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pg.List(ctx, "postgres"); err != nil {
		t.Fatalf("testdb: PostgreSQL at %s is not reachable (start it, or set TEST_DATABASE_URL): %v", pg.Describe("postgres"), err)
	}
	name := UniqueName("tk_")
	t.Cleanup(func() {
		// DROP DATABASE waits for a checkpoint: give it time on a busy server.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		names, err := pg.List(ctx, name)
		if err != nil {
			t.Errorf("testdb: list databases to drop: %v", err)
		}
		for _, n := range names {
			if err := pg.Drop(ctx, n); err != nil {
				t.Errorf("testdb: drop %s: %v", n, err)
			}
		}
		_ = pg.Close()
	})
	return Env{Dialect: dialect.Postgres, Server: pg, DBName: name, URL: pg.URL(name)}
}

// SQLite returns an Env on a SQLite directory removed after the test.
func SQLite(t testing.TB) Env {
	t.Helper()
	dir := t.TempDir()
	s, err := sqldb.NewSQLite(dir)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return Env{Dialect: dialect.SQLite, Server: s, DBName: UniqueName("tk_"), DataDir: dir}
}

// EachDialect runs fn as a subtest on PostgreSQL and on SQLite.
func EachDialect(t *testing.T, fn func(t *testing.T, env Env)) {
	t.Helper()
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
}

// Context returns a context that ends after timeout or with the test,
// whichever comes first: every database call of a test is bounded.
func Context(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}
