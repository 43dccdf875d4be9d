package tenancy_test

import (
	"ariga.io/atlas/sql/migrate"
	"context"
	"fmt"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/tenancy"
)

// warmManager returns a manager whose client of "acme" (a real SQLite
// tenant database) is open and cached: the hot path of every request.
func warmManager(b *testing.B) *tenancy.Manager[*countedClient] {
	b.Helper()
	f := newFixture(b, testdb.SQLite(b))
	f.addTenants(b, "acme")
	m := f.manager(b, tenancy.ManagerConfig{MaxClients: 8})
	l, err := m.Acquire(context.Background(), "acme")
	if err != nil {
		b.Fatal(err)
	}
	if err := checkOwnRow(context.Background(), "acme", l.Client()); err != nil {
		b.Fatal(err)
	}
	l.Release()
	return m
}

// BenchmarkAcquireHot measures Acquire+Release of a cached tenant client.
func BenchmarkAcquireHot(b *testing.B) {
	m := warmManager(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l, err := m.Acquire(ctx, "acme")
			if err != nil {
				b.Fatal(err)
			}
			l.Release()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l, err := m.Acquire(ctx, "acme")
				if err != nil {
					b.Error(err)
					return
				}
				l.Release()
			}
		})
	})
	if s := m.Stats(); s.Opens != 1 || s.InUse != 0 {
		b.Fatalf("stats %+v: the benchmark left the hot path", s)
	}
}

// BenchmarkResolve measures resolving the tenant of a request.
func BenchmarkResolve(b *testing.B) {
	rs := tenancy.Resolver{Header: "X-Tenant-ID", Subdomains: true, BaseDomain: "localhost"}
	b.Run("header", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/users", nil)
		r.Header.Set("X-Tenant-ID", "virgin-voyages")
		b.ReportAllocs()
		for b.Loop() {
			if slug, err := rs.Resolve(r); err != nil || slug != "virgin-voyages" {
				b.Fatal(slug, err)
			}
		}
	})
	b.Run("subdomain", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/users", nil)
		r.Host = "Virgin-Voyages.localhost:8000"
		b.ReportAllocs()
		for b.Loop() {
			if slug, err := rs.Resolve(r); err != nil || slug != "virgin-voyages" {
				b.Fatal(slug, err)
			}
		}
	})
}

// BenchmarkMiddleware measures a request through gin with the tenancy
// middleware and a no-op handler, for a warm tenant.
func BenchmarkMiddleware(b *testing.B) {
	m := warmManager(b)
	r := gin.New()
	r.Use(tenancy.Middleware(m, tenancy.Resolver{Header: "X-Tenant-ID"}, func(c *gin.Context, err error) {
		c.String(http.StatusInternalServerError, err.Error())
	}))
	r.GET("/noop", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	newReq := func() *http.Request {
		req := httptest.NewRequest(http.MethodGet, "/noop", nil)
		req.Header.Set("X-Tenant-ID", "acme")
		return req
	}
	b.Run("serial", func(b *testing.B) {
		req := newReq()
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != http.StatusNoContent {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := newReq()
			for pb.Next() {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code != http.StatusNoContent {
					b.Errorf("%d %s", w.Code, w.Body)
					return
				}
			}
		})
	})
	if s := m.Stats(); s.Opens != 1 || s.InUse != 0 {
		b.Fatalf("stats %+v", s)
	}
}

// maxProvisionsPerRun bounds the databases one run of BenchmarkProvision
// creates, whatever b.N is (a `-benchtime 2000x` run would otherwise create
// thousands of 7.5 MB PostgreSQL databases). The reported ns/op and ms/op are
// measured over the provisions actually made.
const maxProvisionsPerRun = 20

// BenchmarkProvision measures provisioning one tenant database to the latest
// migration: cloning the template, or creating and migrating.
func BenchmarkProvision(b *testing.B) {
	for _, dialect := range []string{"postgres", "sqlite"} {
		b.Run(dialect, func(b *testing.B) {
			var env testdb.Env
			if dialect == "postgres" {
				env = testdb.Postgres(b)
			} else {
				env = testdb.SQLite(b)
			}
			var seq atomic.Int64
			// The committed directory, and the same plus 20 more files: the
			// template's cost must not grow with the history, migrate's does.
			for _, extra := range []int{0, 20} {
				for _, s := range []tenancy.Strategy{tenancy.StrategyTemplate, tenancy.StrategyMigrate} {
					b.Run(fmt.Sprintf("%s/files=+%d", s, extra), func(b *testing.B) {
						p, latest := newProvisioner(b, env, s)
						p.Dir, latest = withExtraFiles(b, p.Dir, extra)
						// Each sub-benchmark gets its own template: the
						// directories differ.
						p.Naming = tenancy.Naming{MainDB: fmt.Sprintf("%s_x%d", env.DBName, extra)}
						ctx := context.Background()
						if s == tenancy.StrategyTemplate {
							if _, err := p.PrepareTemplate(ctx); err != nil {
								b.Fatal(err)
							}
						}
						n := min(b.N, maxProvisionsPerRun)
						var total time.Duration
						took := make([]time.Duration, 0, n)
						for range n {
							name, err := p.Naming.DatabaseName(fmt.Sprintf("bench-%d", seq.Add(1)))
							if err != nil {
								b.Fatal(err)
							}
							start := time.Now()
							v, err := p.Provision(ctx, name, false)
							total += time.Since(start)
							took = append(took, time.Since(start))
							if err != nil || v != latest {
								b.Fatalf("Provision = %q, %v (want %q)", v, err, latest)
							}
						}
						perOp := float64(total.Nanoseconds()) / float64(n)
						b.ReportMetric(perOp, "ns/op")
						b.ReportMetric(perOp/1e6, "ms/op")
						slices.Sort(took)
						b.ReportMetric(float64(took[len(took)/2].Microseconds())/1e3, "median-ms")
						b.ReportMetric(float64(n), "dbs")
					})
				}
			}
		})
	}
}

// withExtraFiles returns dir plus n small migration files (one table each)
// with a matching atlas.sum, and the new latest version.
func withExtraFiles(tb testing.TB, dir migrate.Dir, n int) (migrate.Dir, string) {
	tb.Helper()
	latest, _ := dbmigrate.LatestVersion(dir)
	if n == 0 {
		return dir, latest
	}
	mem := &migrate.MemDir{}
	files, err := dir.Files()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		if err := mem.WriteFile(f.Name(), f.Bytes()); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range n {
		latest = fmt.Sprintf("2999010100%04d", i)
		stmt := fmt.Sprintf("CREATE TABLE bench_history_%d (id integer PRIMARY KEY, note text);\n", i)
		if err := mem.WriteFile(latest+"_history.sql", []byte(stmt)); err != nil {
			tb.Fatal(err)
		}
	}
	sum, err := mem.Checksum()
	if err != nil {
		tb.Fatal(err)
	}
	if err := migrate.WriteSumFile(mem, sum); err != nil {
		tb.Fatal(err)
	}
	return mem, latest
}
