package sqldb_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// Connections opened at once on a new database file (a fresh tenant's
// first requests, a migration run's pool) wait for each other while they
// set themselves up (WAL needs a lock the first time) instead of failing
// with SQLITE_BUSY: the busy timeout must be set before the other pragmas.
func TestSQLiteConcurrentFirstConnections(t *testing.T) {
	t.Parallel()
	env := testdb.SQLite(t)
	ctx := testContext(t)
	for i := range 15 {
		name := fmt.Sprintf("%s_%d", env.DBName, i)
		if err := env.Server.Create(ctx, name, ""); err != nil {
			t.Fatal(err)
		}
		db, err := env.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 8})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for w := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := db.Conn(ctx)
				if err == nil {
					err = conn.PingContext(ctx)
					_ = conn.Close()
				}
				errs[w] = err
			}()
		}
		wg.Wait()
		_ = db.Close()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("database %d: a first connection failed: %v", i, err)
			}
		}
	}
}
