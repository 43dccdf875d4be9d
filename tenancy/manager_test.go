package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/ent/tenantdb"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

func init() { gin.SetMode(gin.TestMode) }

// ---------------------------------------------------------------------------
// Fixture: real tenant databases, an in-memory registry, a counting opener.

// memRegistry is the registry boundary of tenancy, in memory.
type memRegistry struct {
	mu      sync.RWMutex
	tenants map[string]tenancy.Tenant
	lookups atomic.Int64
}

func newMemRegistry() *memRegistry {
	return &memRegistry{tenants: map[string]tenancy.Tenant{}}
}

func (r *memRegistry) LookupTenant(_ context.Context, slug string) (tenancy.Tenant, error) {
	r.lookups.Add(1)
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tenants[slug]
	if !ok {
		return tenancy.Tenant{}, tenancy.ErrTenantNotFound
	}
	return t, nil
}

func (r *memRegistry) put(t tenancy.Tenant) {
	r.mu.Lock()
	r.tenants[t.Slug] = t
	r.mu.Unlock()
}

func (r *memRegistry) update(slug string, fn func(*tenancy.Tenant)) {
	r.mu.Lock()
	t := r.tenants[slug]
	fn(&t)
	r.tenants[slug] = t
	r.mu.Unlock()
}

// countedClient is a real tenant client whose Close is counted.
type countedClient struct {
	*tenantdb.Client
	slug   string
	n      *openCounter
	closed atomic.Bool
}

func (c *countedClient) Close() error {
	if c.closed.Swap(true) {
		c.n.doubleCloses.Add(1)
		return nil
	}
	c.n.closes.Add(1)
	c.n.live.Add(-1)
	return c.Client.Close()
}

// openCounter counts what the opener did.
type openCounter struct {
	opens, closes, doubleCloses atomic.Int64
	live, maxLive               atomic.Int64 // clients open now / at most at once
	delay                       atomic.Int64 // nanoseconds each open takes at least
	mu                          sync.Mutex
	perSlug                     map[string]int
}

func (n *openCounter) opensOf(slug string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.perSlug[slug]
}

type fixture struct {
	env     testdb.Env
	naming  tenancy.Naming
	prov    *tenancy.Provisioner
	reg     *memRegistry
	n       *openCounter
	version string
}

func newFixture(tb testing.TB, env testdb.Env) *fixture {
	tb.Helper()
	dir, err := migrations.Dir(migrations.Tenant, env.Dialect)
	if err != nil {
		tb.Fatal(err)
	}
	naming := tenancy.Naming{MainDB: env.DBName}
	return &fixture{
		env:    env,
		naming: naming,
		prov:   &tenancy.Provisioner{Server: env.Server, Naming: naming, Dir: dir, Strategy: tenancy.StrategyTemplate},
		reg:    newMemRegistry(),
		n:      &openCounter{perSlug: map[string]int{}},
	}
}

// addTenants provisions a real database per slug, writes one user named
// after the tenant into it, and registers the tenant active and ready.
func (f *fixture) addTenants(tb testing.TB, slugs ...string) {
	tb.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, len(slugs))
	for i, slug := range slugs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.addTenant(ctx, slug)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
}

func (f *fixture) addTenant(ctx context.Context, slug string) error {
	name, err := f.naming.DatabaseName(slug)
	if err != nil {
		return err
	}
	version, err := f.prov.Provision(ctx, name, false)
	if err != nil {
		return fmt.Errorf("provision %s: %w", slug, err)
	}
	db, err := f.env.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 1})
	if err != nil {
		return err
	}
	client := tenantdb.NewClient(tenantdb.Driver(entsql.OpenDB(f.env.Dialect, db)))
	_, err = client.User.Create().SetEmail(emailOf(slug)).SetName(slug).Save(ctx)
	if err := errors.Join(err, client.Close()); err != nil {
		return fmt.Errorf("seed %s: %w", slug, err)
	}
	f.reg.put(tenancy.Tenant{
		ID: "id-" + slug, Slug: slug, Database: name,
		Active: true, Status: tenancy.StatusReady, SchemaVersion: version,
	})
	return nil
}

func emailOf(slug string) string { return slug + "@example.test" }

// open is the Opener: a real pool on the tenant's database.
func (f *fixture) open(ctx context.Context, t tenancy.Tenant) (*countedClient, error) {
	if d := time.Duration(f.n.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	db, err := f.env.Server.Open(ctx, t.Database, sqldb.Pool{MaxOpen: 2, MaxIdle: 2})
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	live := f.n.live.Add(1)
	for {
		m := f.n.maxLive.Load()
		if live <= m || f.n.maxLive.CompareAndSwap(m, live) {
			break
		}
	}
	f.n.opens.Add(1)
	f.n.mu.Lock()
	f.n.perSlug[t.Slug]++
	f.n.mu.Unlock()
	return &countedClient{
		Client: tenantdb.NewClient(tenantdb.Driver(entsql.OpenDB(f.env.Dialect, db))),
		slug:   t.Slug,
		n:      f.n,
	}, nil
}

func (f *fixture) manager(tb testing.TB, cfg tenancy.ManagerConfig) *tenancy.Manager[*countedClient] {
	tb.Helper()
	m := tenancy.NewManager[*countedClient](f.reg, f.open, cfg)
	tb.Cleanup(func() {
		_ = m.Close()
		if d := f.n.doubleCloses.Load(); d != 0 {
			tb.Errorf("%d clients were closed twice", d)
		}
	})
	return m
}

// checkOwnRow reads the one user of the leased client's database: it must be
// the one written into the tenant's own database.
func checkOwnRow(ctx context.Context, slug string, c *countedClient) error {
	if c.slug != slug {
		return fmt.Errorf("lease of %s holds the client of %s", slug, c.slug)
	}
	u, err := c.User.Query().Only(ctx)
	if err != nil {
		return fmt.Errorf("query through the client of %s: %w", slug, err)
	}
	if u.Email != emailOf(slug) {
		return fmt.Errorf("tenant %s reads the row of another tenant: %s", slug, u.Email)
	}
	return nil
}

func eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------

func TestManagerSingleflight(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme")
		f.n.delay.Store(int64(50 * time.Millisecond)) // widen the window
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: 4})
		ctx := context.Background()

		const n = 50
		start := make(chan struct{})
		leases := make([]tenancy.Lease[*countedClient], n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				leases[i], errs[i] = m.Acquire(ctx, "acme")
			}()
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if got := f.n.opens.Load(); got != 1 {
			t.Fatalf("%d opens for %d parallel first requests, want 1", got, n)
		}
		if got := f.reg.lookups.Load(); got != 1 {
			t.Fatalf("%d registry lookups, want 1", got)
		}
		for _, l := range leases {
			if l.Client() != leases[0].Client() {
				t.Fatal("leases of one tenant hold different clients")
			}
			if l.Tenant().Slug != "acme" || l.Tenant().Database != f.reg.tenants["acme"].Database {
				t.Fatalf("lease tenant = %+v", l.Tenant())
			}
		}
		if err := checkOwnRow(ctx, "acme", leases[0].Client()); err != nil {
			t.Fatal(err)
		}
		if s := m.Stats(); s.Open != 1 || s.InUse != 1 || s.Opens != 1 {
			t.Fatalf("stats while leased = %+v", s)
		}
		for _, l := range leases {
			l.Release()
		}
		if s := m.Stats(); s.Open != 1 || s.InUse != 0 {
			t.Fatalf("stats after release = %+v", s)
		}
		// Warm: no further open or lookup.
		l, err := m.Acquire(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		l.Release()
		if f.n.opens.Load() != 1 || f.reg.lookups.Load() != 1 {
			t.Fatalf("warm acquire opened (%d) or looked up (%d) again", f.n.opens.Load(), f.reg.lookups.Load())
		}
	})
}

func TestManagerUnservableTenants(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme", "sleepy", "fresh", "broken")
		f.reg.update("sleepy", func(t *tenancy.Tenant) { t.Active = false })
		f.reg.update("fresh", func(t *tenancy.Tenant) { t.Status = tenancy.StatusProvisioning })
		f.reg.update("broken", func(t *tenancy.Tenant) { t.Status = tenancy.StatusFailed })
		// One slot: a failure that kept it would make the last Acquire wait.
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: 1, AcquireTimeout: 2 * time.Second})
		ctx := context.Background()

		cases := []struct {
			slug string
			want error
		}{
			{"nobody", tenancy.ErrTenantNotFound},
			{"sleepy", tenancy.ErrTenantInactive},
			{"fresh", tenancy.ErrTenantNotReady},
			{"broken", tenancy.ErrTenantNotReady},
			{"Not_A_Slug", tenancy.ErrInvalidSlug},
			{"", tenancy.ErrInvalidSlug},
		}
		for _, c := range cases {
			// Sequentially, and 10 at once.
			if _, err := m.Acquire(ctx, c.slug); !errors.Is(err, c.want) {
				t.Fatalf("Acquire(%q) = %v, want %v", c.slug, err, c.want)
			}
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := m.Acquire(ctx, c.slug); !errors.Is(err, c.want) {
						t.Errorf("parallel Acquire(%q) = %v, want %v", c.slug, err, c.want)
					}
				}()
			}
			wg.Wait()
			if s := m.Stats(); s.Open != 0 || s.InUse != 0 {
				t.Fatalf("after Acquire(%q): %+v, want no slot kept", c.slug, s)
			}
			if err := m.Do(ctx, c.slug, func(context.Context, *countedClient) error {
				t.Errorf("Do(%q) ran its function", c.slug)
				return nil
			}); !errors.Is(err, c.want) {
				t.Fatalf("Do(%q) = %v, want %v", c.slug, err, c.want)
			}
		}
		if got := f.n.opens.Load(); got != 0 {
			t.Fatalf("%d clients opened for unservable tenants", got)
		}
		if s := m.Stats(); s.Failures == 0 {
			t.Fatalf("failures not counted: %+v", s)
		}

		// The one slot is free: a servable tenant gets it at once.
		start := time.Now()
		l, err := m.Acquire(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if err := checkOwnRow(ctx, "acme", l.Client()); err != nil {
			t.Fatal(err)
		}
		l.Release()
		if s := m.Stats(); s.Waits != 0 || time.Since(start) > time.Second {
			t.Fatalf("acquire after failures waited: %+v", s)
		}

		// No negative caching: once the tenant is ready it is served.
		f.reg.update("fresh", func(t *tenancy.Tenant) { t.Status = tenancy.StatusReady })
		if err := m.Do(ctx, "fresh", func(ctx context.Context, c *countedClient) error {
			return checkOwnRow(ctx, "fresh", c)
		}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestManagerEvictionUnderBudget(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		slugs := make([]string, 10)
		for i := range slugs {
			slugs[i] = fmt.Sprintf("tenant-%d", i)
		}
		f.addTenants(t, slugs...)
		const maxClients = 3
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: maxClients, AcquireTimeout: 30 * time.Second})
		ctx := context.Background()

		stop := make(chan struct{})
		sampled := make(chan int)
		go func() { // watch the budget while the workers run
			most := 0
			for {
				select {
				case <-stop:
					sampled <- most
					return
				default:
				}
				most = max(most, m.Stats().Open)
				time.Sleep(100 * time.Microsecond)
			}
		}()

		const workers, rounds = 8, 40
		var wg sync.WaitGroup
		var served atomic.Int64
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					slug := slugs[(w+i)%len(slugs)]
					l, err := m.Acquire(ctx, slug)
					if err != nil {
						t.Errorf("Acquire(%s): %v", slug, err)
						return
					}
					err = checkOwnRow(ctx, slug, l.Client())
					if l.Tenant().Slug != slug {
						err = errors.Join(err, fmt.Errorf("lease of %s reports tenant %s", slug, l.Tenant().Slug))
					}
					l.Release()
					if err != nil {
						t.Error(err)
						return
					}
					served.Add(1)
				}
			}()
		}
		wg.Wait()
		close(stop)
		most := <-sampled
		if t.Failed() {
			return
		}
		s := m.Stats()
		t.Logf("served %d, stats %+v, opens %d, closes %d, at most %d open", served.Load(), s, f.n.opens.Load(), f.n.closes.Load(), f.n.maxLive.Load())
		if most > maxClients {
			t.Fatalf("Stats().Open reached %d, budget %d", most, maxClients)
		}
		if got := f.n.maxLive.Load(); got > maxClients {
			t.Fatalf("%d clients were open at once, budget %d", got, maxClients)
		}
		if s.Open > maxClients || s.InUse != 0 {
			t.Fatalf("final stats %+v", s)
		}
		opens, closes := f.n.opens.Load(), f.n.closes.Load()
		if closes != opens-int64(s.Open) {
			t.Fatalf("closes %d != opens %d - open %d", closes, opens, s.Open)
		}
		if opens <= maxClients || s.Evictions != uint64(closes) || s.Opens != uint64(opens) {
			t.Fatalf("expected evictions under the budget: opens %d, closes %d, stats %+v", opens, closes, s)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if f.n.opens.Load() != f.n.closes.Load() || f.n.live.Load() != 0 {
			t.Fatalf("after Close: opens %d, closes %d", f.n.opens.Load(), f.n.closes.Load())
		}
	})
}

func TestManagerLeaseSurvivesEvict(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme")
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: 2})
		ctx := context.Background()

		l, err := m.Acquire(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		old := l.Client()
		m.Evict("acme")
		m.EvictAll()
		m.Evict("acme")
		if old.closed.Load() {
			t.Fatal("a leased client was closed by Evict")
		}
		if err := checkOwnRow(ctx, "acme", old); err != nil {
			t.Fatalf("query on a leased, evicted client: %v", err)
		}
		// The next request reads the registry again and opens a new client,
		// while the old lease still works.
		l2, err := m.Acquire(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if l2.Client() == old {
			t.Fatal("an evicted client was handed out again")
		}
		if f.reg.lookups.Load() != 2 || f.n.opens.Load() != 2 {
			t.Fatalf("lookups %d, opens %d; want 2 and 2", f.reg.lookups.Load(), f.n.opens.Load())
		}
		if err := checkOwnRow(ctx, "acme", old); err != nil {
			t.Fatalf("old lease after a new open: %v", err)
		}
		l.Release()
		if !old.closed.Load() {
			t.Fatal("an evicted client was not closed at its last release")
		}
		if _, err := old.User.Query().Count(ctx); err == nil {
			t.Fatal("query on the closed client succeeded: it was not really closed")
		}
		if err := checkOwnRow(ctx, "acme", l2.Client()); err != nil {
			t.Fatal(err)
		}
		l2.Release()
		if l2.Client().closed.Load() {
			t.Fatal("the cached client was closed at release")
		}
		m.Evict("nobody") // unknown: no-op
		if s := m.Stats(); s.Open != 1 || s.InUse != 0 || s.Evictions != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestManagerDeactivationInFlight(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme", "globex")
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: 4})
		ctx := context.Background()

		const inflight = 5
		holding := make(chan struct{}, inflight)
		proceed := make(chan struct{})
		var wg sync.WaitGroup
		var late atomic.Int64
		for range inflight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := m.Do(ctx, "acme", func(ctx context.Context, c *countedClient) error {
					if err := checkOwnRow(ctx, "acme", c); err != nil {
						return err
					}
					holding <- struct{}{}
					<-proceed
					// Still works after the deactivation: the request finishes.
					if _, err := c.User.Create().SetEmail(fmt.Sprintf("late-%d@x.test", late.Add(1))).SetName("late").Save(ctx); err != nil {
						return err
					}
					_, err := c.User.Query().Count(ctx)
					return err
				})
				if err != nil {
					t.Errorf("in-flight request: %v", err)
				}
			}()
		}
		for range inflight {
			<-holding
		}

		// Deactivate: the registry changes, then the cache is invalidated.
		f.reg.update("acme", func(t *tenancy.Tenant) { t.Active = false })
		tenancy.LocalInvalidator{Target: m}.Evict("acme")

		if _, err := m.Acquire(ctx, "acme"); !errors.Is(err, tenancy.ErrTenantInactive) {
			t.Fatalf("Acquire after deactivation = %v, want ErrTenantInactive", err)
		}
		if f.n.closes.Load() != 0 {
			t.Fatal("the client closed under in-flight requests")
		}
		// Other tenants are untouched.
		if err := m.Do(ctx, "globex", func(ctx context.Context, c *countedClient) error { return checkOwnRow(ctx, "globex", c) }); err != nil {
			t.Fatal(err)
		}
		close(proceed)
		wg.Wait()
		if got := f.n.opensOf("acme"); got != 1 {
			t.Fatalf("acme opened %d times", got)
		}
		if f.n.closes.Load() != 1 {
			t.Fatalf("closes = %d after the in-flight requests finished, want 1", f.n.closes.Load())
		}
		if s := m.Stats(); s.InUse != 0 || s.Open != 1 {
			t.Fatalf("stats %+v (globex only)", s)
		}
		if _, err := m.Acquire(ctx, "acme"); !errors.Is(err, tenancy.ErrTenantInactive) {
			t.Fatalf("Acquire = %v, want ErrTenantInactive", err)
		}
		// Reactivated: served again, with the rows the late requests wrote.
		f.reg.update("acme", func(t *tenancy.Tenant) { t.Active = true })
		err := m.Do(ctx, "acme", func(ctx context.Context, c *countedClient) error {
			n, err := c.User.Query().Count(ctx)
			if err == nil && n != 1+inflight {
				err = fmt.Errorf("%d users, want %d", n, 1+inflight)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestManagerCapacity(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme", "globex", "initech")
		ctx := context.Background()

		t.Run("waits for a release", func(t *testing.T) {
			m := f.manager(t, tenancy.ManagerConfig{MaxClients: 1, AcquireTimeout: 10 * time.Second})
			la, err := m.Acquire(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				l   tenancy.Lease[*countedClient]
				err error
			}
			got := make(chan result, 1)
			go func() {
				l, err := m.Acquire(ctx, "globex")
				got <- result{l, err}
			}()
			eventually(t, 5*time.Second, "the second Acquire waits", func() bool { return m.Stats().Waits == 1 })
			select {
			case r := <-got:
				t.Fatalf("Acquire of a second tenant returned while the only slot was leased: %v", r.err)
			case <-time.After(100 * time.Millisecond):
			}
			ca := la.Client()
			la.Release()
			r := <-got
			if r.err != nil {
				t.Fatal(r.err)
			}
			if err := checkOwnRow(ctx, "globex", r.l.Client()); err != nil {
				t.Fatal(err)
			}
			if !ca.closed.Load() {
				t.Fatal("the idle client was not closed to make room")
			}
			r.l.Release()
			if s := m.Stats(); s.Open != 1 || s.InUse != 0 || s.Evictions != 1 {
				t.Fatalf("stats %+v", s)
			}
		})

		t.Run("fails with ErrCapacity", func(t *testing.T) {
			m := f.manager(t, tenancy.ManagerConfig{MaxClients: 2, AcquireTimeout: 300 * time.Millisecond})
			la, err := m.Acquire(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			defer la.Release()
			lb, err := m.Acquire(ctx, "globex")
			if err != nil {
				t.Fatal(err)
			}
			defer lb.Release()
			start := time.Now()
			if _, err := m.Acquire(ctx, "initech"); !errors.Is(err, tenancy.ErrCapacity) {
				t.Fatalf("Acquire with every slot leased = %v, want ErrCapacity", err)
			}
			if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
				t.Fatalf("ErrCapacity after %v, AcquireTimeout 300ms", d)
			}
			// The caller's context bounds the wait too.
			cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if _, err := m.Acquire(cctx, "initech"); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Acquire with a short context = %v, want DeadlineExceeded", err)
			}
			// A leased tenant is still served at once.
			l, err := m.Acquire(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			l.Release()
			if s := m.Stats(); s.Open != 2 || s.InUse != 2 {
				t.Fatalf("stats %+v", s)
			}
		})
	})
}

// An evicted client that is still leased holds its connections: it counts
// toward MaxClients until it is closed, so the budget holds through
// deactivations and invalidations (EvictAll after a lost listener) under load.
func TestManagerEvictedLeaseCountsTowardBudget(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme", "globex")
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: 1, AcquireTimeout: 10 * time.Second})
		ctx := context.Background()

		la, err := m.Acquire(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		m.EvictAll()
		got := make(chan error, 1)
		go func() {
			err := m.Do(ctx, "globex", func(ctx context.Context, c *countedClient) error {
				return checkOwnRow(ctx, "globex", c)
			})
			got <- err
		}()
		select {
		case err := <-got:
			t.Fatalf("a second client was opened while the evicted one was leased (budget 1, %d open at once): %v", f.n.maxLive.Load(), err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := checkOwnRow(ctx, "acme", la.Client()); err != nil {
			t.Fatal(err)
		}
		la.Release()
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if got := f.n.maxLive.Load(); got != 1 {
			t.Fatalf("%d clients open at once, budget 1", got)
		}
		if s := m.Stats(); s.Open != 1 || s.InUse != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// A waiter must not miss the release of the last leased slot. Every slot is
// leased; one lease is released at a varying moment while another tenant's
// Acquire scans the full cache for an idle client. A release that lands
// between that scan and the waiter registering itself must still wake it:
// otherwise it sleeps until AcquireTimeout and fails with ErrCapacity while
// a slot is free. Many leased slots make the scan, and so the window, long.
func TestManagerWaiterWakesOnRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testdb.SQLite(t))
	const slots = 64
	holds := make([]string, slots)
	for i := range holds {
		holds[i] = fmt.Sprintf("hold-%d", i)
	}
	f.addTenants(t, append(holds, "waiter")...)
	m := f.manager(t, tenancy.ManagerConfig{MaxClients: slots, AcquireTimeout: time.Second})
	ctx := context.Background()

	leases := make([]tenancy.Lease[*countedClient], slots)
	for i, slug := range holds {
		l, err := m.Acquire(ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		leases[i] = l
	}
	defer func() {
		for _, l := range leases {
			l.Release()
		}
	}()

	var sink atomic.Int64
	spin := func(n int) {
		for range n {
			sink.Add(1)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for round := 0; round < 5000 && time.Now().Before(deadline); round++ {
		k := round % slots
		var started atomic.Bool
		got := make(chan error, 1)
		go func() {
			started.Store(true)
			l, err := m.Acquire(ctx, "waiter")
			if err == nil {
				l.Release()
			}
			got <- err
		}()
		for !started.Load() {
			runtime.Gosched()
		}
		spin((round * 37) % 3000) // sweep the release across the waiter's scan
		leases[k].Release()
		if err := <-got; err != nil {
			leases[k], _ = m.Acquire(ctx, holds[k])
			t.Fatalf("round %d: the waiter missed the release of a slot: %v", round, err)
		}
		// Take the slot back; "waiter" is the only idle client, so it goes.
		l, err := m.Acquire(ctx, holds[k])
		if err != nil {
			t.Fatal(err)
		}
		leases[k] = l
	}
}

func TestManagerIdleTimeout(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme", "globex")
		const idle = 300 * time.Millisecond
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: 4, IdleTimeout: idle})
		ctx := context.Background()

		la, err := m.Acquire(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		acme := la.Client()
		la.Release()
		lg, err := m.Acquire(ctx, "globex")
		if err != nil {
			t.Fatal(err)
		}
		globex := lg.Client()

		eventually(t, 5*time.Second, "the idle client closes", func() bool {
			return acme.closed.Load() && m.Stats().Open == 1
		})
		// Leased longer than the idle timeout: not closed.
		time.Sleep(2 * idle)
		if globex.closed.Load() {
			t.Fatal("a leased client was closed as idle")
		}
		if err := checkOwnRow(ctx, "globex", globex); err != nil {
			t.Fatal(err)
		}
		// Idle counts from the release, not from the acquire.
		lg.Release()
		released := time.Now()
		time.Sleep(idle / 3)
		if globex.closed.Load() {
			t.Fatalf("client closed %v after its release, idle timeout %v", time.Since(released), idle)
		}
		eventually(t, 5*time.Second, "the released client closes once idle", globex.closed.Load)
		if d := time.Since(released); d < idle {
			t.Fatalf("closed %v after its release, idle timeout %v", d, idle)
		}
		eventually(t, 5*time.Second, "no client open", func() bool { return m.Stats().Open == 0 })
		if s := m.Stats(); s.Open != 0 || s.Evictions != 2 {
			t.Fatalf("stats %+v", s)
		}
		// Reopened on demand.
		if err := m.Do(ctx, "acme", func(ctx context.Context, c *countedClient) error {
			return checkOwnRow(ctx, "acme", c)
		}); err != nil {
			t.Fatal(err)
		}
		if got := f.n.opensOf("acme"); got != 2 {
			t.Fatalf("acme opened %d times, want 2", got)
		}
	})
}

func TestManagerClose(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme", "globex")
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: 4, IdleTimeout: time.Hour})
		ctx := context.Background()

		la, err := m.Acquire(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Do(ctx, "globex", func(context.Context, *countedClient) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if f.n.closes.Load() != 1 || la.Client().closed.Load() {
			t.Fatalf("Close: %d closed, leased closed %v; want the idle one only", f.n.closes.Load(), la.Client().closed.Load())
		}
		if err := checkOwnRow(ctx, "acme", la.Client()); err != nil {
			t.Fatalf("leased client after Close: %v", err)
		}
		for _, slug := range []string{"acme", "globex", "nobody"} {
			if _, err := m.Acquire(ctx, slug); !errors.Is(err, tenancy.ErrManagerClosed) {
				t.Fatalf("Acquire(%s) after Close = %v, want ErrManagerClosed", slug, err)
			}
		}
		la.Release()
		if f.n.closes.Load() != 2 || f.n.opens.Load() != 2 || f.n.live.Load() != 0 {
			t.Fatalf("opens %d, closes %d after the last release", f.n.opens.Load(), f.n.closes.Load())
		}
		if err := m.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if s := m.Stats(); s.Open != 0 || s.InUse != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestManagerDo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testdb.SQLite(t))
	f.addTenants(t, "acme")
	m := f.manager(t, tenancy.ManagerConfig{MaxClients: 2})
	ctx := context.Background()

	boom := errors.New("boom")
	err := m.Do(ctx, "acme", func(ctx context.Context, c *countedClient) error {
		fromCtx, err := tenancy.ClientFromContext[*countedClient](ctx)
		if err != nil || fromCtx != c {
			return fmt.Errorf("ClientFromContext in Do = %v, %v", fromCtx, err)
		}
		if tn, ok := tenancy.TenantFromContext(ctx); !ok || tn.Slug != "acme" {
			return fmt.Errorf("TenantFromContext in Do = %+v", tn)
		}
		if m.Stats().InUse != 1 {
			return errors.New("not leased during Do")
		}
		if err := checkOwnRow(ctx, "acme", c); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Do = %v, want the function's error", err)
	}
	if s := m.Stats(); s.InUse != 0 {
		t.Fatalf("lease kept after Do: %+v", s)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme", "globex", "sleepy")
		f.reg.update("sleepy", func(t *tenancy.Tenant) { t.Active = false })
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: 4})

		var (
			mu      sync.Mutex
			lastErr error
			inUse   int
		)
		onError := func(c *gin.Context, err error) {
			mu.Lock()
			lastErr = err
			mu.Unlock()
			status := http.StatusInternalServerError
			switch {
			case tenancy.IsRequestError(err):
				status = http.StatusBadRequest
			case errors.Is(err, tenancy.ErrTenantNotFound):
				status = http.StatusNotFound
			case errors.Is(err, tenancy.ErrTenantInactive):
				status = http.StatusForbidden
			}
			c.JSON(status, gin.H{"error": gin.H{"message": err.Error()}})
		}
		r := gin.New()
		r.Use(gin.RecoveryWithWriter(io.Discard))
		r.Use(tenancy.Middleware(m, tenancy.Resolver{Header: "X-Tenant-ID", Subdomains: true, BaseDomain: "localhost"}, onError))
		r.GET("/whoami", func(c *gin.Context) {
			client, err := tenancy.ClientFromContext[*countedClient](c.Request.Context())
			if err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			tn, _ := tenancy.TenantFromContext(c.Request.Context())
			u, err := client.User.Query().Only(c.Request.Context())
			if err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			mu.Lock()
			inUse = m.Stats().InUse
			mu.Unlock()
			c.String(http.StatusOK, tn.Slug+" "+u.Email)
		})
		r.GET("/panic", func(*gin.Context) { panic("handler failed") })

		do := func(path, host, slug string) *httptest.ResponseRecorder {
			mu.Lock()
			lastErr, inUse = nil, -1
			mu.Unlock()
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Host = host
			if slug != "" {
				req.Header.Set("X-Tenant-ID", slug)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if s := m.Stats(); s.InUse != 0 {
				t.Fatalf("%s %s: lease not released after the handler: %+v", path, slug, s)
			}
			return w
		}

		w := do("/whoami", "localhost:8000", "")
		if w.Code != http.StatusBadRequest || !errors.Is(lastErr, tenancy.ErrTenantRequired) {
			t.Fatalf("missing header: %d, ErrorHandler saw %v", w.Code, lastErr)
		}
		for _, slug := range []string{"acme", "globex", "acme"} {
			w = do("/whoami", "localhost:8000", slug)
			if w.Code != http.StatusOK || w.Body.String() != slug+" "+emailOf(slug) || lastErr != nil {
				t.Fatalf("%s: %d %q (error handler: %v)", slug, w.Code, w.Body, lastErr)
			}
			if inUse != 1 {
				t.Fatalf("%s: %d leases during the handler, want 1", slug, inUse)
			}
		}
		w = do("/whoami", "globex.localhost:8000", "")
		if w.Code != http.StatusOK || w.Body.String() != "globex "+emailOf("globex") {
			t.Fatalf("subdomain: %d %q", w.Code, w.Body)
		}
		for _, c := range []struct {
			slug   string
			status int
			err    error
		}{
			{"nobody", http.StatusNotFound, tenancy.ErrTenantNotFound},
			{"sleepy", http.StatusForbidden, tenancy.ErrTenantInactive},
			{"Bad_Slug", http.StatusBadRequest, tenancy.ErrInvalidSlug},
		} {
			w = do("/whoami", "localhost", c.slug)
			if w.Code != c.status || !errors.Is(lastErr, c.err) {
				t.Fatalf("%s: %d, ErrorHandler saw %v; want %d, %v", c.slug, w.Code, lastErr, c.status, c.err)
			}
		}
		// A panicking handler still releases its lease.
		if w = do("/panic", "localhost", "acme"); w.Code != http.StatusInternalServerError {
			t.Fatalf("panic: %d", w.Code)
		}
		if got := f.n.opens.Load(); got != 2 {
			t.Fatalf("%d opens for two tenants", got)
		}

		// Concurrent requests share the cached clients; all leases return.
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				slug := []string{"acme", "globex"}[i%2]
				req := httptest.NewRequest(http.MethodGet, "/whoami", nil)
				req.Header.Set("X-Tenant-ID", slug)
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code != http.StatusOK || w.Body.String() != slug+" "+emailOf(slug) {
					t.Errorf("%s: %d %q", slug, w.Code, w.Body)
				}
			}()
		}
		wg.Wait()
		if s := m.Stats(); s.InUse != 0 || s.Opens != 2 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestStaticMiddleware(t *testing.T) {
	t.Parallel()
	main := tenantdb.NewClient()
	r := gin.New()
	r.Use(tenancy.Static(main))
	r.GET("/", func(c *gin.Context) {
		got, err := tenancy.ClientFromContext[*tenantdb.Client](c.Request.Context())
		tn, ok := tenancy.TenantFromContext(c.Request.Context())
		if err != nil || got != main || !ok || tn != (tenancy.Tenant{}) {
			c.Status(http.StatusInternalServerError)
			return
		}
		c.Status(http.StatusNoContent)
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusNoContent {
		t.Fatalf("single-tenant mode: %d", w.Code)
	}
}

// TestManagerUnservableDoesNotEvict: requests for unknown or unservable
// tenants must not take a slot from a real tenant's idle client (a flood of
// random slugs would otherwise force every real tenant to reopen).
func TestManagerUnservableDoesNotEvict(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		f := newFixture(t, env)
		f.addTenants(t, "acme", "sleepy")
		f.reg.update("sleepy", func(t *tenancy.Tenant) { t.Active = false })
		m := f.manager(t, tenancy.ManagerConfig{MaxClients: 1, AcquireTimeout: 2 * time.Second})
		ctx := context.Background()
		if err := m.Do(ctx, "acme", func(context.Context, *countedClient) error { return nil }); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			slug := fmt.Sprintf("nobody-%d", i)
			if _, err := m.Acquire(ctx, slug); !errors.Is(err, tenancy.ErrTenantNotFound) {
				t.Fatalf("Acquire(%s) = %v", slug, err)
			}
			if _, err := m.Acquire(ctx, "sleepy"); !errors.Is(err, tenancy.ErrTenantInactive) {
				t.Fatalf("Acquire(sleepy) = %v", err)
			}
		}
		if s := m.Stats(); s.Evictions != 0 || s.Open != 1 {
			t.Fatalf("unservable requests evicted the cached client: %+v", s)
		}
		if err := m.Do(ctx, "acme", func(ctx context.Context, c *countedClient) error { return checkOwnRow(ctx, "acme", c) }); err != nil {
			t.Fatal(err)
		}
		if n := f.n.opensOf("acme"); n != 1 {
			t.Fatalf("acme opened %d times, want 1", n)
		}
	})
}

// countingRegistry counts lookups, to see the not-found cache work.
type countingRegistry struct {
	inner   tenancy.Registry
	lookups atomic.Int64
}

func (r *countingRegistry) LookupTenant(ctx context.Context, slug string) (tenancy.Tenant, error) {
	r.lookups.Add(1)
	return r.inner.LookupTenant(ctx, slug)
}

// TestManagerNotFoundCache: unknown slugs are remembered for NotFoundTTL so
// a flood of them does not reach the registry; Evict forgets at once (the
// registry evicts a slug when the tenant is created).
func TestManagerNotFoundCache(t *testing.T) {
	t.Parallel()
	env := testdb.SQLite(t)
	f := newFixture(t, env)
	reg := &countingRegistry{inner: f.reg}
	m := tenancy.NewManager[*countedClient](reg, f.open, tenancy.ManagerConfig{MaxClients: 2, NotFoundTTL: time.Hour})
	t.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()
	for range 50 {
		if _, err := m.Acquire(ctx, "later"); !errors.Is(err, tenancy.ErrTenantNotFound) {
			t.Fatalf("Acquire(later) = %v", err)
		}
	}
	if n := reg.lookups.Load(); n != 1 {
		t.Fatalf("%d registry lookups for one unknown slug, want 1", n)
	}
	// The tenant is created: the registry evicts the slug, and it is served.
	f.addTenants(t, "later")
	m.Evict("later")
	if err := m.Do(ctx, "later", func(ctx context.Context, c *countedClient) error { return checkOwnRow(ctx, "later", c) }); err != nil {
		t.Fatalf("after Evict: %v", err)
	}
	// Other errors are never cached.
	f.reg.update("later", func(t *tenancy.Tenant) { t.Active = false })
	m.Evict("later")
	before := reg.lookups.Load()
	for range 3 {
		if _, err := m.Acquire(ctx, "later"); !errors.Is(err, tenancy.ErrTenantInactive) {
			t.Fatalf("Acquire(deactivated) = %v", err)
		}
	}
	if n := reg.lookups.Load() - before; n != 3 {
		t.Fatalf("%d lookups for 3 requests of a deactivated tenant, want 3 (not cached)", n)
	}
}

// acquireInBackground acquires slug in a goroutine, releases the lease at
// once, and delivers Acquire's error.
func acquireInBackground(ctx context.Context, m *tenancy.Manager[*countedClient], slug string) <-chan error {
	got := make(chan error, 1)
	go func() {
		l, err := m.Acquire(ctx, slug)
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	return got
}

// gatedRegistry holds each lookup of one slug until the test lets it go,
// to land a deactivation in the middle of it.
type gatedRegistry struct {
	inner   tenancy.Registry
	slug    string
	entered chan struct{}
	release chan struct{}
	held    atomic.Bool
}

func (r *gatedRegistry) LookupTenant(ctx context.Context, slug string) (tenancy.Tenant, error) {
	t, err := r.inner.LookupTenant(ctx, slug)
	if slug == r.slug && r.held.CompareAndSwap(false, true) { // the first lookup only
		r.entered <- struct{}{}
		<-r.release
	}
	return t, err
}

// A tenant deactivated (and evicted) while a cold request for it was between
// its registry lookup and the cache insert must not be cached from that
// stale lookup: the cached client would serve it until an LRU eviction,
// however long after "refused at once". Both windows: the lookup itself, and
// the wait for a free slot under the budget.
func TestManagerEvictDuringColdAcquire(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		ctx := context.Background()
		deactivate := func(f *fixture, m *tenancy.Manager[*countedClient], slug string) {
			f.reg.update(slug, func(t *tenancy.Tenant) { t.Active = false })
			m.Evict(slug)
		}
		refusedFromNowOn := func(t *testing.T, m *tenancy.Manager[*countedClient], slug string, first error) {
			t.Helper()
			if !errors.Is(first, tenancy.ErrTenantInactive) {
				t.Errorf("the Acquire in flight during the deactivation = %v, want ErrTenantInactive", first)
			}
			for range 3 {
				if l, err := m.Acquire(ctx, slug); !errors.Is(err, tenancy.ErrTenantInactive) {
					if err == nil {
						l.Release()
					}
					t.Fatalf("Acquire after the deactivation = %v, want ErrTenantInactive", err)
				}
			}
		}

		t.Run("during the registry lookup", func(t *testing.T) {
			f := newFixture(t, env)
			f.addTenants(t, "acme")
			reg := &gatedRegistry{inner: f.reg, slug: "acme", entered: make(chan struct{}), release: make(chan struct{})}
			m := tenancy.NewManager[*countedClient](reg, f.open, tenancy.ManagerConfig{MaxClients: 2})
			t.Cleanup(func() { _ = m.Close() })
			got := acquireInBackground(ctx, m, "acme")
			<-reg.entered // the lookup has read "active"
			deactivate(f, m, "acme")
			close(reg.release)
			refusedFromNowOn(t, m, "acme", <-got)
		})

		t.Run("while waiting for a slot", func(t *testing.T) {
			f := newFixture(t, env)
			f.addTenants(t, "holder", "waiter")
			m := f.manager(t, tenancy.ManagerConfig{MaxClients: 1, AcquireTimeout: 10 * time.Second})
			la, err := m.Acquire(ctx, "holder")
			if err != nil {
				t.Fatal(err)
			}
			got := acquireInBackground(ctx, m, "waiter")
			eventually(t, 5*time.Second, "the Acquire of waiter waits for a slot", func() bool { return m.Stats().Waits == 1 })
			deactivate(f, m, "waiter")
			la.Release()
			refusedFromNowOn(t, m, "waiter", <-got)
		})
	})
}

// Changes made to the registry without telling the manager (by hand in
// SQL, by another tool) reach a busy tenant within RevalidateInterval: its
// cached client would otherwise serve it for as long as it has traffic.
// A registry that cannot be read meanwhile keeps the client: an outage of
// the main database does not take every cached tenant down with it.
func TestManagerRevalidatesCachedTenants(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testdb.SQLite(t))
	f.addTenants(t, "acme", "globex", "initech", "umbrella")
	reg := &flakyRegistry{inner: f.reg}
	m := tenancy.NewManager[*countedClient](reg, f.open, tenancy.ManagerConfig{MaxClients: 8, RevalidateInterval: 50 * time.Millisecond})
	t.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()
	use := func(slug string) error {
		return m.Do(ctx, slug, func(ctx context.Context, c *countedClient) error { return checkOwnRow(ctx, slug, c) })
	}
	for _, slug := range []string{"acme", "globex", "initech", "umbrella"} {
		if err := use(slug); err != nil {
			t.Fatal(err)
		}
	}
	// Edited behind the manager's back: deactivated, marked failed, and
	// deleted and registered again (another tenant under the same slug).
	f.reg.update("acme", func(t *tenancy.Tenant) { t.Active = false })
	f.reg.update("globex", func(t *tenancy.Tenant) { t.Status = tenancy.StatusFailed })
	f.reg.update("initech", func(t *tenancy.Tenant) { t.ID = "id-initech-2" })
	eventually(t, 5*time.Second, "hand edits reach the cache", func() bool {
		errA, errG := use("acme"), use("globex")
		return errors.Is(errA, tenancy.ErrTenantInactive) && errors.Is(errG, tenancy.ErrTenantNotReady)
	})
	eventually(t, 5*time.Second, "the re-registered tenant gets a fresh client", func() bool {
		return use("initech") == nil && f.n.opensOf("initech") == 2
	})
	// Unchanged tenants keep their client.
	if err := use("umbrella"); err != nil {
		t.Fatal(err)
	}
	if n := f.n.opensOf("umbrella"); n != 1 {
		t.Fatalf("an unchanged tenant was reopened: %d opens", n)
	}
	// The registry fails: cached clients stay.
	reg.failing.Store(true)
	time.Sleep(300 * time.Millisecond) // several intervals
	if err := use("umbrella"); err != nil {
		t.Fatalf("a registry outage evicted a cached tenant: %v", err)
	}
	if n := f.n.opensOf("umbrella"); n != 1 {
		t.Fatalf("a registry outage reopened a cached tenant: %d opens", n)
	}
}

// flakyRegistry fails every lookup while failing is set.
type flakyRegistry struct {
	inner   tenancy.Registry
	failing atomic.Bool
}

func (r *flakyRegistry) LookupTenant(ctx context.Context, slug string) (tenancy.Tenant, error) {
	if r.failing.Load() {
		return tenancy.Tenant{}, errors.New("registry unreachable")
	}
	return r.inner.LookupTenant(ctx, slug)
}

// A cold Acquire waiting for a slot must not spin when another tenant is
// evicted meanwhile: its lookup is stale then (any Evict may be about it),
// and the fresh lookup it needs must really happen, at once, instead of
// the shared finished one being handed back until it ages out.
func TestManagerUnrelatedEvictDuringSlotWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testdb.SQLite(t))
	f.addTenants(t, "holder", "other", "waiter")
	reg := &countingRegistry{inner: f.reg}
	m := tenancy.NewManager[*countedClient](reg, f.open, tenancy.ManagerConfig{MaxClients: 2, AcquireTimeout: 10 * time.Second})
	t.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()
	lh, err := m.Acquire(ctx, "holder")
	if err != nil {
		t.Fatal(err)
	}
	lo, err := m.Acquire(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	got := acquireInBackground(ctx, m, "waiter")
	eventually(t, 5*time.Second, "the Acquire of waiter waits for a slot", func() bool { return m.Stats().Waits == 1 })
	before := reg.lookups.Load()
	m.Evict("other") // leased: its slot frees only on release
	eventually(t, 400*time.Millisecond, "the waiter looks its tenant up again", func() bool { return reg.lookups.Load() > before })
	lo.Release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	lh.Release()
}

// blockingRegistry answers only when the lookup's context ends.
type blockingRegistry struct{}

func (blockingRegistry) LookupTenant(ctx context.Context, _ string) (tenancy.Tenant, error) {
	<-ctx.Done()
	return tenancy.Tenant{}, ctx.Err()
}

// Close does not wait out a revalidation stuck on a hanging registry: a
// shutdown must not spend its grace period there.
func TestManagerCloseDuringRevalidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testdb.SQLite(t))
	f.addTenants(t, "acme")
	reg := &switchingRegistry{inner: f.reg}
	m := tenancy.NewManager[*countedClient](reg, f.open, tenancy.ManagerConfig{
		MaxClients: 2, OpenTimeout: 20 * time.Second, RevalidateInterval: 10 * time.Millisecond,
	})
	if err := m.Do(context.Background(), "acme", func(context.Context, *countedClient) error { return nil }); err != nil {
		t.Fatal(err)
	}
	reg.hang.Store(true)
	time.Sleep(100 * time.Millisecond) // a revalidation is stuck by now
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %v behind a hanging registry lookup", took)
	}
}

// switchingRegistry hangs every lookup once hang is set.
type switchingRegistry struct {
	inner tenancy.Registry
	hang  atomic.Bool
}

func (r *switchingRegistry) LookupTenant(ctx context.Context, slug string) (tenancy.Tenant, error) {
	if r.hang.Load() {
		return blockingRegistry{}.LookupTenant(ctx, slug)
	}
	return r.inner.LookupTenant(ctx, slug)
}
