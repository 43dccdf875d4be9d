package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/ent/maindb"
	maintenant "github.com/tenantkit/tenantkit/ent/maindb/tenant"
	"github.com/tenantkit/tenantkit/ent/tenantdb"
	"github.com/tenantkit/tenantkit/ent/tenantdb/user"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// exampleApp is what an application wires up, on the embedded SQLite
// default: the main graph's client (the registry, the seed's
// get_master_session) and the tenancy manager of tenant clients (the seed's
// get_tenant_session and TenantService). The real application does this in
// internal/app, with internal/registry as its Registry.
type exampleApp struct {
	Main    *maindb.Client
	Tenants *tenancy.Manager[*tenantdb.Client]
	close   func()
}

// mainRegistry is a tenancy.Registry on the main graph: registry work goes
// through the main client.
type mainRegistry struct{ main *maindb.Client }

func (r mainRegistry) LookupTenant(ctx context.Context, slug string) (tenancy.Tenant, error) {
	t, err := r.main.Tenant.Query().Where(maintenant.SlugEQ(slug)).Only(ctx)
	if maindb.IsNotFound(err) {
		return tenancy.Tenant{}, tenancy.ErrTenantNotFound
	}
	if err != nil {
		return tenancy.Tenant{}, err
	}
	return tenancy.Tenant{
		ID: t.ID.String(), Slug: t.Slug, Database: t.Database, Active: t.IsActive,
		Status: tenancy.Status(t.Status), SchemaVersion: t.SchemaVersion,
	}, nil
}

// newExampleApp builds the app in a fresh temporary directory with tenants
// "acme" (active, two users) and "initech" (deactivated).
func newExampleApp() *exampleApp {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tenancy-example-*")
	must(err)
	server, err := sqldb.NewSQLite(dir)
	must(err)

	// The main database, migrated, and its client.
	must(server.Create(ctx, "app", ""))
	mainDB, err := server.Open(ctx, "app", sqldb.Pool{MaxOpen: 4})
	must(err)
	mainDir, err := migrations.Dir(migrations.Main, dialect.SQLite)
	must(err)
	_, err = dbmigrate.Apply(ctx, mainDB, dialect.SQLite, mainDir, dbmigrate.Options{LockName: server.MigrationLockName("app")})
	must(err)
	mainClient := maindb.NewClient(maindb.Driver(entsql.OpenDB(dialect.SQLite, mainDB)))

	// Tenant databases: provisioned from the template, then registered.
	tenantDir, err := migrations.Dir(migrations.Tenant, dialect.SQLite)
	must(err)
	naming := tenancy.Naming{MainDB: "app"}
	prov := &tenancy.Provisioner{Server: server, Naming: naming, Dir: tenantDir, Strategy: tenancy.StrategyTemplate}
	for _, t := range []struct {
		slug   string
		active bool
		users  []string
	}{
		{"acme", true, []string{"wile@acme.test", "road.runner@acme.test"}},
		{"initech", false, []string{"peter@initech.test"}},
	} {
		name, err := naming.DatabaseName(t.slug)
		must(err)
		version, err := prov.Provision(ctx, name, false)
		must(err)
		db, err := server.Open(ctx, name, sqldb.Pool{MaxOpen: 1})
		must(err)
		c := tenantdb.NewClient(tenantdb.Driver(entsql.OpenDB(dialect.SQLite, db)))
		for _, email := range t.users {
			c.User.Create().SetEmail(email).SetName(email).SaveX(ctx)
		}
		must(c.Close())
		mainClient.Tenant.Create().SetName(t.slug).SetSlug(t.slug).SetDescription("").
			SetDatabase(name).SetIsActive(t.active).SetStatus(maintenant.StatusReady).
			SetSchemaVersion(version).SaveX(ctx)
	}

	opener := func(ctx context.Context, t tenancy.Tenant) (*tenantdb.Client, error) {
		db, err := server.Open(ctx, t.Database, sqldb.Pool{MaxOpen: 4, MaxIdle: 4})
		if err != nil {
			return nil, err
		}
		return tenantdb.NewClient(tenantdb.Driver(entsql.OpenDB(dialect.SQLite, db))), nil
	}
	tenants := tenancy.NewManager(mainRegistry{mainClient}, opener, tenancy.ManagerConfig{MaxClients: 16})
	return &exampleApp{
		Main:    mainClient,
		Tenants: tenants,
		close: func() {
			_ = tenants.Close()
			_ = mainClient.Close()
			_ = os.RemoveAll(dir)
		},
	}
}

func (a *exampleApp) Close() { a.close() }

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func get(h http.Handler, path, tenant string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if tenant != "" {
		req.Header.Set("X-Tenant-ID", tenant)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Printf("%d %s\n", w.Code, w.Body)
}

// In a handler, the tenant's client comes from the request context, where
// the middleware put it: the Go form of the seed's
// `session: AsyncSession = Depends(get_tenant_session)`.
func ExampleClientFromContext() {
	app := newExampleApp()
	defer app.Close()

	r := gin.New()
	r.Use(tenancy.Middleware(app.Tenants, tenancy.Resolver{Header: "X-Tenant-ID"},
		func(c *gin.Context, err error) {
			status := http.StatusInternalServerError
			switch {
			case tenancy.IsRequestError(err):
				status = http.StatusBadRequest
			case errors.Is(err, tenancy.ErrTenantNotFound):
				status = http.StatusNotFound
			case errors.Is(err, tenancy.ErrTenantInactive):
				status = http.StatusForbidden
			}
			c.String(status, err.Error())
		}))
	r.GET("/users", func(c *gin.Context) {
		ctx := c.Request.Context()
		client, err := tenancy.ClientFromContext[*tenantdb.Client](ctx)
		if err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		// This automatically uses the correct tenant database.
		emails, err := client.User.Query().Order(user.ByEmail()).Select(user.FieldEmail).Strings(ctx)
		if err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.String(http.StatusOK, "%v", emails)
	})

	get(r, "/users", "acme")
	get(r, "/users", "")
	get(r, "/users", "initech")
	get(r, "/users", "nobody")
	fmt.Println("leases held after the requests:", app.Tenants.Stats().InUse)
	// Output:
	// 200 [road.runner@acme.test wile@acme.test]
	// 400 tenant required: send the X-Tenant-ID header
	// 403 tenant deactivated
	// 404 tenant not found
	// leases held after the requests: 0
}

// Registry work uses the main graph's client, which the application keeps
// next to the tenancy manager: the Go form of the seed's
// `session: AsyncSession = Depends(get_master_session)`.
func Example_mainClient() {
	app := newExampleApp()
	defer app.Close()

	r := gin.New()
	r.GET("/tenants", func(c *gin.Context) {
		// This uses the main database, for tenant management.
		tenants, err := app.Main.Tenant.Query().Order(maintenant.BySlug()).All(c.Request.Context())
		if err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		lines := make([]string, len(tenants))
		for i, t := range tenants {
			lines[i] = fmt.Sprintf("%s database=%s active=%v", t.Slug, t.Database, t.IsActive)
		}
		c.String(http.StatusOK, strings.Join(lines, "\n"))
	})
	get(r, "/tenants", "")
	// Output:
	// 200 acme database=app_tenant_acme active=true
	// initech database=app_tenant_initech active=false
}

// Outside HTTP (jobs, scripts), the manager gives the client of a slug: the
// Go form of the seed's `TenantService().get_tenant_session("acme")`, with
// typed errors for unknown and deactivated tenants.
func ExampleManager_Do() {
	app := newExampleApp()
	defer app.Close()
	ctx := context.Background()

	for _, slug := range []string{"acme", "initech", "nobody", "../etc"} {
		err := app.Tenants.Do(ctx, slug, func(ctx context.Context, client *tenantdb.Client) error {
			n, err := client.User.Query().Count(ctx)
			if err != nil {
				return err
			}
			fmt.Printf("%s: %d users\n", slug, n)
			return nil
		})
		switch {
		case err == nil:
		case errors.Is(err, tenancy.ErrTenantNotFound):
			fmt.Printf("%s: unknown tenant\n", slug)
		case errors.Is(err, tenancy.ErrTenantInactive):
			fmt.Printf("%s: deactivated\n", slug)
		case errors.Is(err, tenancy.ErrInvalidSlug):
			fmt.Printf("%q: not a slug\n", slug)
		default:
			fmt.Printf("%s: %v\n", slug, err)
		}
	}
	// Output:
	// acme: 2 users
	// initech: deactivated
	// nobody: unknown tenant
	// "../etc": not a slug
}

// Acquire leases the client for longer work; Release it when done, and the
// client stays cached for the next caller.
func ExampleManager_Acquire() {
	app := newExampleApp()
	defer app.Close()
	ctx := context.Background()

	lease, err := app.Tenants.Acquire(ctx, "acme")
	if err != nil {
		fmt.Println(err)
		return
	}
	client := lease.Client()
	client.User.Create().SetEmail("coyote@acme.test").SetName("Coyote").SaveX(ctx)
	fmt.Println(lease.Tenant().Database, client.User.Query().CountX(ctx))
	lease.Release()

	if _, err := app.Tenants.Acquire(ctx, "initech"); errors.Is(err, tenancy.ErrTenantInactive) {
		fmt.Println("initech:", err)
	}
	s := app.Tenants.Stats()
	fmt.Printf("open %d, in use %d, opens %d\n", s.Open, s.InUse, s.Opens)
	// Output:
	// app_tenant_acme 3
	// initech: tenant deactivated
	// open 1, in use 0, opens 1
}
