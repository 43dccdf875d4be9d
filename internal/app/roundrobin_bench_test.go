package app_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/ent/tenantdb"
	"github.com/tenantkit/tenantkit/internal/app"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

type mapRegistry map[string]tenancy.Tenant

func (r mapRegistry) LookupTenant(_ context.Context, slug string) (tenancy.Tenant, error) {
	t, ok := r[slug]
	if !ok {
		return tenancy.Tenant{}, tenancy.ErrTenantNotFound
	}
	return t, nil
}

// BenchmarkRoundRobinOverBudget drives the manager the way the worst case
// of the load test does: more tenants than client slots, requested in turn
// from many goroutines, so nearly every request opens a client.
func BenchmarkRoundRobinOverBudget(b *testing.B) {
	env := testdb.Postgres(b)
	ctx := context.Background()
	dir, err := migrations.Dir(migrations.Tenant, env.Dialect)
	if err != nil {
		b.Fatal(err)
	}
	naming := tenancy.Naming{MainDB: env.DBName}
	p := &tenancy.Provisioner{Server: env.Server, Naming: naming, Dir: dir, Strategy: tenancy.StrategyTemplate}
	const tenants = 60
	reg := mapRegistry{}
	var slugs []string
	for i := range tenants {
		slug := fmt.Sprintf("rr%d", i)
		name, _ := naming.DatabaseName(slug)
		if _, err := p.Provision(ctx, name, false); err != nil {
			b.Fatal(err)
		}
		reg[slug] = tenancy.Tenant{Slug: slug, Database: name, Active: true, Status: tenancy.StatusReady}
		slugs = append(slugs, slug)
	}
	open, err := app.TenantOpener(env.Server, dir, sqldb.Pool{MaxOpen: 2, MaxIdle: 2, MaxIdleTime: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	m := tenancy.NewManager[*tenantdb.Client](reg, open, tenancy.ManagerConfig{MaxClients: 20, AcquireTimeout: 30 * time.Second})
	defer m.Close()
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			slug := slugs[int(next.Add(1))%tenants]
			l, err := m.Acquire(ctx, slug)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := l.Client().User.Query().Limit(10).All(ctx); err != nil {
				b.Error(err)
			}
			l.Release()
		}
	})
	b.StopTimer()
	s := m.Stats()
	b.ReportMetric(float64(s.Opens)/float64(b.N), "opens/op")
}
