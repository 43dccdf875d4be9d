package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/internal/testlog"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// After a failover or a connection reset every idle connection of the main
// pool is dead. The database itself answers, so the very next readiness
// check must say ready, not fail once per dead connection (with a probe
// every 10 s and a threshold of 3, every replica would go unready at once).
func TestReadyzAfterConnectionsWereKilled(t *testing.T) {
	t.Parallel()
	env := testdb.Postgres(t)
	a := newTestApp(t, env, "DB_MAX_OPEN_CONNS=6", "DB_MAX_IDLE_CONNS=6")
	h := a.Handler
	ctx := testContext(t)

	// Fill the pool with idle connections.
	conns := make([]interface{ Close() error }, 0, 6)
	for range 6 {
		c, err := a.MainDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	if n := a.MainDB.Stats().Idle; n < 6 {
		t.Fatalf("%d idle connections, want 6", n)
	}
	admin, err := env.Server.Open(ctx, "postgres", sqldb.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var killed int
	if err := admin.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1`, env.DBName).Scan(&killed); err != nil || killed < 6 {
		t.Fatalf("terminated %d backends of %s (%v), want at least 6", killed, env.DBName, err)
	}
	for i := range 3 {
		if rec := serve(t, h, http.MethodGet, "/readyz", nil); rec.Code != http.StatusOK {
			t.Fatalf("/readyz #%d after the connections were killed: %d %s", i+1, rec.Code, rec.Body)
		}
	}
}

// A client that hangs up is not a server failure: its request is answered
// 499 (nginx's "client closed request", for the access log and metrics) and
// logged below error level, whatever the database layer made of the
// cancellation.
func TestClientGoneIsNotAServerError(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		logs := &testlog.Buffer{}
		h := newTestAppLogged(t, env, logs).Handler
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, target := range []string{"/api/v1/users", "/api/v1/users?limit=5"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil).WithContext(ctx))
			if rec.Code != 499 {
				t.Errorf("GET %s after the client left: %d %s, want 499", target, rec.Code, rec.Body)
			}
		}
		if strings.Contains(logs.String(), `"level":"ERROR"`) {
			t.Errorf("a client hanging up was logged as an error:\n%s", logs)
		}
	})
}
