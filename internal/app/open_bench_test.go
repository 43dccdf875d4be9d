package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/app"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// BenchmarkTenantOpen measures what a request to a cold tenant pays on top
// of its own query: opening the tenant's pool, the schema-version check and
// the first connection, then closing it again (as an eviction does).
func BenchmarkTenantOpen(b *testing.B) {
	for _, env := range []testdb.Env{testdb.Postgres(b), testdb.SQLite(b)} {
		b.Run(env.Dialect, func(b *testing.B) {
			ctx := context.Background()
			dir, err := migrations.Dir(migrations.Tenant, env.Dialect)
			if err != nil {
				b.Fatal(err)
			}
			naming := tenancy.Naming{MainDB: env.DBName}
			p := &tenancy.Provisioner{Server: env.Server, Naming: naming, Dir: dir, Strategy: tenancy.StrategyTemplate}
			const tenants = 8
			var list []tenancy.Tenant
			for i := range tenants {
				slug := string(rune('a'+i)) + "bench"
				name, _ := naming.DatabaseName(slug)
				if _, err := p.Provision(ctx, name, false); err != nil {
					b.Fatal(err)
				}
				list = append(list, tenancy.Tenant{Slug: slug, Database: name, Active: true, Status: tenancy.StatusReady})
			}
			open, err := app.TenantOpener(env.Server, dir, sqldb.Pool{MaxOpen: 2, MaxIdle: 2, MaxIdleTime: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			i := 0
			for b.Loop() {
				c, err := open(ctx, list[i%tenants])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.User.Query().Count(ctx); err != nil {
					b.Fatal(err)
				}
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
