package tenancy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Client is what a cached per-tenant client must offer: every ent client does.
type Client interface {
	Close() error
}

// Registry looks a tenant up by slug; ErrTenantNotFound if unknown.
type Registry interface {
	LookupTenant(ctx context.Context, slug string) (Tenant, error)
}

// Opener opens a client on a tenant's database. The manager calls it once
// per tenant at a time, for tenants that are active and ready. An opener
// bounds its client's pool: the manager's MaxClients times that bound is the
// connection budget.
type Opener[C Client] func(ctx context.Context, t Tenant) (C, error)

// ManagerConfig bounds a Manager.
type ManagerConfig struct {
	// MaxClients is how many tenant clients may be open at once. When a new
	// tenant needs one and all are open, the least recently used idle client
	// is closed; if none is idle, the request waits (AcquireTimeout). A
	// client evicted while leased counts until its last lease is released.
	MaxClients int
	// IdleTimeout closes clients unused for this long (0: only on pressure).
	IdleTimeout time.Duration
	// AcquireTimeout bounds the wait for a free slot (default 5s), after
	// which Acquire fails with ErrCapacity.
	AcquireTimeout time.Duration
	// OpenTimeout bounds the registry lookup plus the open (default 30s).
	OpenTimeout time.Duration
	// NotFoundTTL remembers unknown slugs this long (0: not at all), so a
	// flood of requests for tenants that do not exist does not reach the
	// registry. Evict forgets a slug at once; the registry evicts a slug
	// when it creates that tenant.
	NotFoundTTL time.Duration
	// RevalidateInterval re-reads the registry entry of every cached tenant
	// this often (0: never) and evicts those no longer servable or no
	// longer the same tenant. Changes made through the registry evict at
	// once (Evict, invalidation); this catches the ones made behind its
	// back, which a busy tenant's client would otherwise never see.
	RevalidateInterval time.Duration
	// Logger receives evictions and open failures (default slog.Default()).
	Logger *slog.Logger
}

// maxNotFound bounds the not-found cache; when full, expired entries are
// dropped, and if none has expired nothing more is remembered.
const maxNotFound = 10000

// Stats are counters of a Manager, for metrics.
type Stats struct {
	Open      int    // clients open now, cached or evicted but still leased
	InUse     int    // clients with at least one lease, evicted ones included
	Opens     uint64 // clients opened since start
	Evictions uint64 // clients closed since start (pressure, idle, evict)
	Waits     uint64 // acquires that had to wait for a slot
	Failures  uint64 // acquires that failed (unknown, inactive, errors)
}

// Manager caches one client per tenant, opened on first use and shared by
// every request of that tenant.
type Manager[C Client] struct {
	registry Registry
	open     Opener[C]
	cfg      ManagerConfig
	log      *slog.Logger

	mu        sync.RWMutex
	entries   map[string]*entry[C]
	slotFreed chan struct{} // closed and replaced whenever a slot may have freed
	closed    bool
	notFound  map[string]int64 // unknown slug -> expiry (unix nanoseconds)
	lookups   map[string]*lookupCall
	// evictSeq counts Evict and EvictAll calls: a not-found answer read
	// before one of them may be stale (the tenant was just created) and is
	// not remembered.
	evictSeq uint64
	// draining counts clients taken out of the cache but not closed yet
	// (evicted while leased): they still hold connections, so they count
	// toward MaxClients until their last lease is released.
	draining int

	waiters                           atomic.Int64
	opens, evictions, waits, failures atomic.Uint64

	stopBackground chan struct{}
	background     sync.WaitGroup // the idle sweep and the revalidation
	// backgroundCtx bounds the background work's own lookups; Close
	// cancels it, so a hanging registry cannot hold a shutdown up.
	backgroundCtx    context.Context
	cancelBackground context.CancelFunc
}

type entry[C any] struct {
	slug     string
	tenant   Tenant
	client   C
	ready    chan struct{} // closed once the open finished, well or not
	ok       atomic.Bool   // the open succeeded
	err      error         // the open's error, read after ready is closed
	refs     atomic.Int64
	lastUsed atomic.Int64 // unix nanoseconds
	evicted  atomic.Bool
	closing  sync.Once
}

func (e *entry[C]) getClient() C      { return e.client }
func (e *entry[C]) getTenant() Tenant { return e.tenant }

// NewManager returns a Manager; call Close when done.
func NewManager[C Client](reg Registry, open Opener[C], cfg ManagerConfig) *Manager[C] {
	if cfg.MaxClients < 1 {
		cfg.MaxClients = 1
	}
	if cfg.AcquireTimeout <= 0 {
		cfg.AcquireTimeout = 5 * time.Second
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Manager[C]{
		registry:       reg,
		open:           open,
		cfg:            cfg,
		log:            cfg.Logger,
		entries:        make(map[string]*entry[C], cfg.MaxClients),
		notFound:       make(map[string]int64),
		lookups:        make(map[string]*lookupCall),
		slotFreed:      make(chan struct{}),
		stopBackground: make(chan struct{}),
	}
	m.backgroundCtx, m.cancelBackground = context.WithCancel(context.Background())
	if cfg.IdleTimeout > 0 {
		every := max(cfg.IdleTimeout/4, 100*time.Millisecond)
		m.every(every, func(now time.Time) { m.closeIdleBefore(now.Add(-cfg.IdleTimeout).UnixNano()) })
	}
	if cfg.RevalidateInterval > 0 {
		m.every(cfg.RevalidateInterval, func(time.Time) { m.revalidate() })
	}
	return m
}

// Lease is a tenant's client held for the length of a unit of work. The
// client is never closed while a lease on it is held; Release it exactly once.
type Lease[C Client] struct {
	m *Manager[C]
	e *entry[C]
}

// Client returns the tenant's client.
func (l Lease[C]) Client() C { return l.e.client }

// Tenant returns the registry entry the client was opened for.
func (l Lease[C]) Tenant() Tenant { return l.e.tenant }

// Release returns the lease.
func (l Lease[C]) Release() { l.m.release(l.e) }

// Acquire returns a lease on the client of slug, opening it if needed. Errors:
// ErrInvalidSlug, ErrTenantNotFound, ErrTenantInactive, ErrTenantNotReady,
// ErrCapacity, ErrManagerClosed, or the opener's and registry's errors.
//
// The hot path (client open) takes a read lock and two atomic operations and
// does not allocate.
func (m *Manager[C]) Acquire(ctx context.Context, slug string) (Lease[C], error) {
	m.mu.RLock()
	if e := m.entries[slug]; e != nil && e.ok.Load() {
		e.refs.Add(1)
		m.mu.RUnlock()
		return Lease[C]{m: m, e: e}, nil
	}
	m.mu.RUnlock()
	l, err := m.acquireSlow(ctx, slug)
	if err != nil {
		m.failures.Add(1)
	}
	return l, err
}

// Do runs fn with the client of slug: the Go form of the seed's
// TenantService.get_tenant_session("acme"), for jobs and scripts.
func (m *Manager[C]) Do(ctx context.Context, slug string, fn func(ctx context.Context, client C) error) error {
	l, err := m.Acquire(ctx, slug)
	if err != nil {
		return err
	}
	defer l.Release()
	return fn(NewContext(ctx, l.Tenant(), l.Client()), l.Client())
}

func (m *Manager[C]) acquireSlow(ctx context.Context, slug string) (Lease[C], error) {
	if err := ValidateSlug(slug); err != nil {
		return Lease[C]{}, err
	}
	deadline := time.Now().Add(m.cfg.AcquireTimeout)
	waited := false
	var found *Tenant   // the registry entry, once looked up
	var foundSeq uint64 // evictSeq when that lookup started
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return Lease[C]{}, ErrManagerClosed
		}
		if e := m.entries[slug]; e != nil {
			// Opened meanwhile, or being opened: wait for that one open.
			e.refs.Add(1)
			m.mu.Unlock()
			select {
			case <-e.ready:
			case <-ctx.Done():
				m.release(e)
				return Lease[C]{}, ctx.Err()
			}
			if !e.ok.Load() {
				m.release(e)
				return Lease[C]{}, e.err
			}
			return Lease[C]{m: m, e: e}, nil
		}
		// An Evict since the lookup started (a deactivation, say) may have
		// made it stale; caching it would serve the tenant until an LRU
		// eviction, so look again.
		if found == nil || foundSeq != m.evictSeq {
			if exp, ok := m.notFound[slug]; ok && time.Now().UnixNano() < exp {
				m.mu.Unlock()
				return Lease[C]{}, ErrTenantNotFound
			}
			// Ask the registry before taking a slot: a request for an
			// unknown or unservable tenant must not evict a real tenant's
			// idle client (a flood of random slugs would churn them all).
			t, seq, err := m.lookupShared(ctx, slug) // unlocks m.mu
			if err != nil {
				return Lease[C]{}, err
			}
			found, foundSeq = &t, seq
			continue
		}
		var victim *entry[C]
		if len(m.entries)+m.draining >= m.cfg.MaxClients {
			// Count as a waiter before looking for an idle client: a
			// release signals only when it sees a waiter, and releases do
			// not take the lock, so one landing between the scan and the
			// registration would otherwise be missed.
			m.waiters.Add(1)
			victim = m.leastRecentlyUsedIdleLocked()
			if victim == nil {
				// Every slot is leased: wait for a release, bounded.
				wait := m.slotFreed
				m.mu.Unlock()
				if !waited {
					waited = true
					m.waits.Add(1)
				}
				err := waitFor(ctx, wait, deadline)
				m.waiters.Add(-1)
				if err != nil {
					return Lease[C]{}, err
				}
				continue
			}
			m.waiters.Add(-1)
			m.removeLocked(victim)
		}
		e := &entry[C]{slug: slug, tenant: *found, ready: make(chan struct{})}
		e.refs.Store(1)
		m.entries[slug] = e
		delete(m.lookups, slug) // the entry serves later requests now
		m.mu.Unlock()
		if victim != nil {
			m.closeIfIdle(victim, "capacity")
		}
		if err := m.openEntry(ctx, e); err != nil {
			m.release(e)
			return Lease[C]{}, err
		}
		return Lease[C]{m: m, e: e}, nil
	}
}

func waitFor(ctx context.Context, ch <-chan struct{}, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrCapacity
	}
}

// lookupCall is one registry lookup that concurrent cold requests for the
// same slug share. A successful one stays in Manager.lookups until the
// slug's placeholder entry is inserted (or briefly, at most lookupReuse), so
// that requests arriving between the lookup and the placeholder do not look
// the tenant up again.
type lookupCall struct {
	done     chan struct{}
	tenant   Tenant
	err      error
	seq      uint64 // Manager.evictSeq when the lookup started
	finished int64  // unix nanoseconds; 0 while running (guarded by m.mu)
}

const lookupReuse = time.Second

// lookupShared runs one lookup per slug at a time; concurrent callers wait
// for it. It returns the evictSeq at which the lookup started, so that the
// caller can tell whether an Evict has made the answer stale since. It is
// called with m.mu held and returns with it released.
func (m *Manager[C]) lookupShared(ctx context.Context, slug string) (Tenant, uint64, error) {
	seq := m.evictSeq
	call, ok := m.lookups[slug]
	// A finished lookup is reused briefly, unless an Evict (of any slug)
	// came after it started: its answer may be stale, and handing it back
	// would send the caller round again with the same stale answer.
	if ok && call.finished != 0 && (time.Now().UnixNano()-call.finished > int64(lookupReuse) || call.seq != seq) {
		delete(m.lookups, slug)
		ok = false
	}
	if ok {
		m.mu.Unlock()
		select {
		case <-call.done:
			return call.tenant, call.seq, call.err
		case <-ctx.Done():
			return Tenant{}, 0, ctx.Err()
		}
	}
	call = &lookupCall{done: make(chan struct{}), seq: seq}
	m.lookups[slug] = call
	m.mu.Unlock()
	// Detached: other requests wait on this lookup.
	tenant, err := m.lookup(context.WithoutCancel(ctx), slug)
	m.mu.Lock()
	call.tenant, call.err, call.finished = tenant, err, time.Now().UnixNano()
	fresh := seq == m.evictSeq // no Evict ran meanwhile
	if errors.Is(err, ErrTenantNotFound) && fresh {
		m.rememberNotFoundLocked(slug)
	}
	if (err != nil || !fresh) && m.lookups[slug] == call {
		delete(m.lookups, slug)
	}
	m.mu.Unlock()
	close(call.done)
	return tenant, seq, err
}

func (m *Manager[C]) rememberNotFoundLocked(slug string) {
	if m.cfg.NotFoundTTL <= 0 {
		return
	}
	now := time.Now().UnixNano()
	if len(m.notFound) >= maxNotFound {
		for s, exp := range m.notFound {
			if exp <= now {
				delete(m.notFound, s)
			}
		}
		if len(m.notFound) >= maxNotFound {
			return
		}
	}
	m.notFound[slug] = now + int64(m.cfg.NotFoundTTL)
}

// lookup reads the registry entry of slug and checks it may be served.
func (m *Manager[C]) lookup(ctx context.Context, slug string) (Tenant, error) {
	lctx, cancel := context.WithTimeout(ctx, m.cfg.OpenTimeout)
	defer cancel()
	t, err := m.registry.LookupTenant(lctx, slug)
	if err != nil {
		return Tenant{}, err
	}
	if err := Servable(t); err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// openEntry opens the client of e.tenant. It runs detached from the
// caller's cancellation: other requests may be waiting on the same open.
func (m *Manager[C]) openEntry(ctx context.Context, e *entry[C]) error {
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.OpenTimeout)
	defer cancel()
	client, err := m.open(octx, e.tenant)
	if err != nil {
		e.err = fmt.Errorf("open tenant %s: %w", e.slug, err)
		m.mu.Lock()
		if m.entries[e.slug] == e {
			delete(m.entries, e.slug)
		}
		m.signalLocked()
		m.mu.Unlock()
		close(e.ready)
		return e.err
	}
	e.client = client
	m.opens.Add(1)
	e.lastUsed.Store(time.Now().UnixNano())
	e.ok.Store(true)
	close(e.ready)
	// Evicted (deactivated, say) while it was opening: close on last release.
	return nil
}

// Servable reports why a registry entry must not be served, or nil.
func Servable(t Tenant) error {
	switch {
	case !t.Active:
		return ErrTenantInactive
	case t.Status != StatusReady:
		return fmt.Errorf("%w: status %s", ErrTenantNotReady, t.Status)
	}
	return nil
}

func (m *Manager[C]) release(e *entry[C]) {
	// Idle time counts from the last release (before the count drops, so an
	// idle sweep never sees refs 0 with an older time).
	e.lastUsed.Store(time.Now().UnixNano())
	if e.refs.Add(-1) != 0 {
		return
	}
	if e.evicted.Load() {
		m.closeEntry(e)
	}
	if m.waiters.Load() > 0 {
		m.mu.Lock()
		m.signalLocked()
		m.mu.Unlock()
	}
}

func (m *Manager[C]) signalLocked() {
	close(m.slotFreed)
	m.slotFreed = make(chan struct{})
}

// leastRecentlyUsedIdleLocked scans the cache: it runs only on a miss with a
// full cache, and the cache is small (the budget divided by the pool size).
func (m *Manager[C]) leastRecentlyUsedIdleLocked() *entry[C] {
	var victim *entry[C]
	for _, e := range m.entries {
		if !e.ok.Load() || e.refs.Load() != 0 {
			continue
		}
		if victim == nil || e.lastUsed.Load() < victim.lastUsed.Load() {
			victim = e
		}
	}
	return victim
}

// removeLocked takes e out of the cache; nobody can lease it afterwards, so
// once its leases are released it is closed.
func (m *Manager[C]) removeLocked(e *entry[C]) {
	if m.entries[e.slug] == e {
		delete(m.entries, e.slug)
	}
	if !e.evicted.Swap(true) {
		m.draining++
	}
}

func (m *Manager[C]) closeIfIdle(e *entry[C], reason string) {
	m.log.Debug("tenant client evicted", slog.String("tenant", e.slug), slog.String("reason", reason))
	if e.refs.Load() == 0 {
		m.closeEntry(e)
	}
}

// closeEntry runs once for every entry removeLocked took out of the cache,
// when its last lease is gone: it closes the client, if one was opened, and
// frees the entry's share of the budget.
func (m *Manager[C]) closeEntry(e *entry[C]) {
	e.closing.Do(func() {
		if e.ok.Load() {
			m.evictions.Add(1)
			if err := e.client.Close(); err != nil {
				m.log.Warn("closing tenant client", slog.String("tenant", e.slug), slog.Any("error", err))
			}
		}
		m.mu.Lock()
		m.draining--
		m.signalLocked()
		m.mu.Unlock()
	})
}

// Evict closes the client of slug (once its running requests finish), so
// the next request reads the registry again. Call it when a tenant is
// deactivated or updated.
func (m *Manager[C]) Evict(slug string) {
	m.mu.Lock()
	delete(m.notFound, slug)
	delete(m.lookups, slug)
	m.evictSeq++
	e := m.entries[slug]
	if e != nil {
		m.removeLocked(e)
		m.signalLocked()
	}
	m.mu.Unlock()
	if e != nil {
		m.closeIfIdle(e, "evict")
	}
}

// evictEntry is Evict of e's slug, if e is still the cached entry (a newer
// one was opened from a newer lookup).
func (m *Manager[C]) evictEntry(e *entry[C]) {
	m.mu.Lock()
	if m.entries[e.slug] != e {
		m.mu.Unlock()
		return
	}
	delete(m.lookups, e.slug)
	m.evictSeq++
	m.removeLocked(e)
	m.signalLocked()
	m.mu.Unlock()
	m.closeIfIdle(e, "revalidate")
}

// EvictAll evicts every client, for example after missed invalidations.
func (m *Manager[C]) EvictAll() {
	m.mu.Lock()
	clear(m.notFound)
	clear(m.lookups)
	m.evictSeq++
	victims := make([]*entry[C], 0, len(m.entries))
	for _, e := range m.entries {
		m.removeLocked(e)
		victims = append(victims, e)
	}
	m.signalLocked()
	m.mu.Unlock()
	for _, e := range victims {
		m.closeIfIdle(e, "evict all")
	}
}

// every runs fn every d in the background until Close.
func (m *Manager[C]) every(d time.Duration, fn func(now time.Time)) {
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-m.stopBackground:
				return
			case now := <-t.C:
				fn(now)
			}
		}
	}()
}

// revalidate re-reads the registry entry of every cached tenant and evicts
// those that may no longer be served, or that the registry now describes
// as another tenant or database (deleted and registered again). A lookup
// that fails for another reason (the main database is down) keeps the
// client: the next round will tell.
func (m *Manager[C]) revalidate() {
	m.mu.RLock()
	cached := make([]*entry[C], 0, len(m.entries))
	for _, e := range m.entries {
		if e.ok.Load() {
			cached = append(cached, e)
		}
	}
	m.mu.RUnlock()
	for _, e := range cached {
		select {
		case <-m.stopBackground:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(m.backgroundCtx, m.cfg.OpenTimeout)
		t, err := m.lookup(ctx, e.slug)
		cancel()
		stale := errors.Is(err, ErrTenantNotFound) || errors.Is(err, ErrTenantInactive) || errors.Is(err, ErrTenantNotReady) ||
			(err == nil && (t.ID != e.tenant.ID || t.Database != e.tenant.Database))
		switch {
		case m.backgroundCtx.Err() != nil:
			return // closing
		case stale:
			m.log.Info("tenant changed in the registry; evicting its client", slog.String("tenant", e.slug))
			m.evictEntry(e)
		case err != nil:
			m.log.Warn("revalidating a cached tenant", slog.String("tenant", e.slug), slog.Any("error", err))
		}
	}
}

func (m *Manager[C]) closeIdleBefore(cutoff int64) {
	var victims []*entry[C]
	m.mu.Lock()
	for _, e := range m.entries {
		if e.ok.Load() && e.refs.Load() == 0 && e.lastUsed.Load() < cutoff {
			m.removeLocked(e)
			victims = append(victims, e)
		}
	}
	if len(victims) > 0 {
		m.signalLocked()
	}
	m.mu.Unlock()
	for _, e := range victims {
		m.closeIfIdle(e, "idle")
	}
}

// Stats returns the manager's counters.
func (m *Manager[C]) Stats() Stats {
	m.mu.RLock()
	// Draining clients were evicted while leased: open and in use until their
	// last lease is released.
	s := Stats{Open: m.draining, InUse: m.draining}
	for _, e := range m.entries {
		if e.ok.Load() {
			s.Open++
		}
		if e.refs.Load() > 0 {
			s.InUse++
		}
	}
	m.mu.RUnlock()
	s.Opens, s.Evictions, s.Waits, s.Failures = m.opens.Load(), m.evictions.Load(), m.waits.Load(), m.failures.Load()
	return s
}

// Close closes every client: idle ones now, leased ones on release. Acquire
// fails with ErrManagerClosed afterwards.
func (m *Manager[C]) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	victims := make([]*entry[C], 0, len(m.entries))
	for _, e := range m.entries {
		m.removeLocked(e)
		victims = append(victims, e)
	}
	m.signalLocked()
	m.mu.Unlock()
	close(m.stopBackground)
	m.cancelBackground()
	m.background.Wait()
	for _, e := range victims {
		m.closeIfIdle(e, "close")
	}
	return nil
}
