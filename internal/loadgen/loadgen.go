// Package loadgen drives a running tenantkit server from a second process:
// it can register tenants, then sends tenant-scoped requests round-robin
// over them and reports throughput, latency percentiles and status codes,
// optionally sampling the PostgreSQL server's connection count meanwhile.
package loadgen

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/lib/pq" // the connection sampler reads pg_stat_activity
)

// Options of a run.
type Options struct {
	BaseURL     string        // http://127.0.0.1:8000
	Tenants     []string      // slugs, requested round-robin; empty: single-tenant
	Header      string        // tenant header name
	Path        string        // request path, GET
	Concurrency int           // parallel connections
	Duration    time.Duration // how long to send
	MaxRequests int64         // stop after this many (0: only Duration bounds)
	AdminKey    string
	// PostgresURL, when set, samples pg_stat_activity every 100ms.
	PostgresURL string
	// DatabasePrefix limits the sample to databases whose name starts with
	// it (the server's main database name: main, template and tenants).
	DatabasePrefix string
}

// Result of a run.
type Result struct {
	Requests        int64
	Errors          int64 // transport errors
	Statuses        map[int]int64
	Took            time.Duration
	P50, P90        time.Duration
	P99, Max        time.Duration
	PeakConns       int // highest pg_stat_activity count seen (-1 if not sampled)
	PeakTenantConns int // of which to tenant databases (name contains _tenant_)
}

// RPS is requests per second.
func (r Result) RPS() float64 { return float64(r.Requests) / r.Took.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("requests=%d rps=%.0f p50=%s p90=%s p99=%s max=%s statuses=%v transport_errors=%d peak_pg_connections=%d peak_tenant_db_connections=%d",
		r.Requests, r.RPS(), r.P50, r.P90, r.P99, r.Max, r.Statuses, r.Errors, r.PeakConns, r.PeakTenantConns)
}

func newClient(concurrency int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        concurrency * 2,
			MaxIdleConnsPerHost: concurrency * 2,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// CreateTenants registers the slugs that do not exist yet, concurrency at a time.
func CreateTenants(ctx context.Context, baseURL, adminKey string, slugs []string, concurrency int) error {
	client := newClient(concurrency)
	work := make(chan string)
	errs := make(chan error, len(slugs))
	var wg sync.WaitGroup
	for range max(concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for slug := range work {
				body, _ := json.Marshal(map[string]string{"name": slug, "slug": slug})
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/api/v1/tenants", bytes.NewReader(body))
				if err != nil {
					errs <- err
					continue
				}
				req.Header.Set("Content-Type", "application/json")
				if adminKey != "" {
					req.Header.Set("Authorization", "Bearer "+adminKey)
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- fmt.Errorf("create %s: %w", slug, err)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
					errs <- fmt.Errorf("create %s: %d %s", slug, resp.StatusCode, b)
				}
			}
		}()
	}
	for _, s := range slugs {
		work <- s
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}

// Run sends requests until Duration or MaxRequests is reached.
func Run(ctx context.Context, o Options) (Result, error) {
	client := newClient(o.Concurrency)
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	res := Result{Statuses: map[int]int64{}, PeakConns: -1, PeakTenantConns: -1}

	var sampler sync.WaitGroup
	var peak, peakTenants atomic.Int64
	peak.Store(-1)
	peakTenants.Store(-1)
	if o.PostgresURL != "" {
		db, err := sql.Open("postgres", o.PostgresURL)
		if err != nil {
			return res, err
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				var n, nt int64
				// Our own sampling connection is excluded.
				err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE strpos(datname, '_tenant_') > 0)
					FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND starts_with(datname, $1)`,
					o.DatabasePrefix).Scan(&n, &nt)
				if err == nil {
					if n > peak.Load() {
						peak.Store(n)
					}
					if nt > peakTenants.Load() {
						peakTenants.Store(nt)
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}

	var (
		next    atomic.Int64
		mu      sync.Mutex
		lats    []time.Duration
		wg      sync.WaitGroup
		errsN   atomic.Int64
		started = time.Now()
	)
	for range max(o.Concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			statuses := map[int]int64{}
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if o.MaxRequests > 0 && i >= o.MaxRequests {
					break
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.BaseURL+o.Path, nil)
				if len(o.Tenants) > 0 {
					req.Header.Set(o.Header, o.Tenants[int(i)%len(o.Tenants)])
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errsN.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				statuses[resp.StatusCode]++
			}
			mu.Lock()
			lats = append(lats, local...)
			for k, v := range statuses {
				res.Statuses[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Took = time.Since(started)
	cancel()
	sampler.Wait()
	res.PeakConns = int(peak.Load())
	res.PeakTenantConns = int(peakTenants.Load())
	res.Requests = int64(len(lats))
	res.Errors = errsN.Load()
	if len(lats) > 0 {
		slices.Sort(lats)
		pct := func(p float64) time.Duration { return lats[min(len(lats)-1, int(float64(len(lats))*p))] }
		res.P50, res.P90, res.P99, res.Max = pct(0.50), pct(0.90), pct(0.99), lats[len(lats)-1]
	}
	return res, nil
}
