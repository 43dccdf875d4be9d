package tenancy_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// recordingEvicter records what it is told to evict.
type recordingEvicter struct {
	mu     sync.Mutex
	slugs  []string
	allCnt int
}

func (r *recordingEvicter) Evict(slug string) {
	r.mu.Lock()
	r.slugs = append(r.slugs, slug)
	r.mu.Unlock()
}

func (r *recordingEvicter) EvictAll() {
	r.mu.Lock()
	r.allCnt++
	r.mu.Unlock()
}

func (r *recordingEvicter) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.slugs)
}

// A tenant change is announced in the transaction that makes it: listeners
// hear it exactly when it commits, never for a rollback, and a caller whose
// context ends after the commit cannot lose the announcement (it was queued
// before). Publish does not touch this process's cache: Evict does, after
// the commit.
func TestPostgresInvalidatorPublishesOnCommit(t *testing.T) {
	t.Parallel()
	env := testdb.Postgres(t)
	ctx := testdb.Context(t, time.Minute)
	if err := env.Server.Create(ctx, env.DBName, ""); err != nil {
		t.Fatal(err)
	}
	db, err := env.Server.Open(ctx, env.DBName, sqldb.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	channel := "tk_test_" + env.DBName
	remote := &recordingEvicter{}
	stop, err := tenancy.ListenPostgres(env.URL, channel, remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	local := &recordingEvicter{}
	inv := tenancy.PostgresInvalidator{Channel: channel, Target: local}

	publish := func(slug string, commit bool) {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := inv.Publish(ctx, tx, slug); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	publish("rolled-back", false)
	publish("committed", true)
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(remote.seen(), "committed") {
		if time.Now().After(deadline) {
			t.Fatalf("the committed change was not heard: %v", remote.seen())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := remote.seen(); !slices.Equal(got, []string{"committed"}) {
		t.Fatalf("listener heard %v, want only the committed change", got)
	}
	if got := local.seen(); len(got) != 0 {
		t.Fatalf("Publish evicted locally before the commit: %v", got)
	}
	inv.Evict("committed")
	if got := local.seen(); !slices.Equal(got, []string{"committed"}) {
		t.Fatalf("Evict: local evictions %v", got)
	}
}
