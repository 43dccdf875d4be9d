// Package app wires the service together from a Config: the database server,
// the main database and its migrations, the tenant registry and client
// manager, and the HTTP router. cmd/server only loads the configuration and
// calls Run.
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/config"
	"github.com/tenantkit/tenantkit/ent/maindb"
	"github.com/tenantkit/tenantkit/ent/tenantdb"
	"github.com/tenantkit/tenantkit/handlers"
	"github.com/tenantkit/tenantkit/internal/metrics"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// InvalidationChannel is the PostgreSQL NOTIFY channel tenant changes are
// published on, in the main database.
const InvalidationChannel = "tenantkit_tenant_changed"

// App is the wired service. Close releases everything New opened.
type App struct {
	Config   config.Config
	Handler  http.Handler
	Server   sqldb.Server
	MainDB   *sql.DB
	Main     *maindb.Client   // the registry graph on the main database (get_master_session)
	AppMain  *tenantdb.Client // the application graph on the main database
	Registry *registry.Service
	// Tenants is nil when multi-tenancy is off.
	Tenants     *tenancy.Manager[*tenantdb.Client]
	Provisioner *tenancy.Provisioner

	log     *slog.Logger
	closers []func() error
}

// New opens and migrates the main database and builds the router.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (a *App, err error) {
	a = &App{Config: cfg, log: log}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Close())
			a = nil
		}
	}()
	if a.Server, err = OpenServer(cfg); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Server.Close)
	if err := sqldb.EnsureDatabase(ctx, a.Server, cfg.DBName); err != nil {
		return nil, fmt.Errorf("main database: %w", err)
	}
	a.MainDB, err = a.Server.Open(ctx, cfg.DBName, sqldb.Pool{
		MaxOpen: cfg.DBMaxOpenConns, MaxIdle: cfg.DBMaxIdleConns, MaxLifetime: cfg.DBConnMaxLifetime,
	})
	if err != nil {
		return nil, fmt.Errorf("open main database: %w", err)
	}
	a.closers = append(a.closers, a.MainDB.Close)
	if err := a.migrateMain(ctx); err != nil {
		return nil, err
	}
	drv := entsql.OpenDB(cfg.Dialect(), a.MainDB)
	a.Main = maindb.NewClient(maindb.Driver(drv))
	a.AppMain = tenantdb.NewClient(tenantdb.Driver(drv))

	m := metrics.New()
	m.WatchDB(a.MainDB, cfg.DBName)
	deps := handlers.Deps{
		Logger:            log,
		AdminAPIKey:       cfg.AdminAPIKey,
		Ready:             func(ctx context.Context) error { return sqldb.Ping(ctx, a.MainDB) },
		MetricsMiddleware: m.Middleware(),
		MetricsHandler:    m.Handler(),
		MaxBodyBytes:      cfg.MaxBodyBytes,
		RequestTimeout:    cfg.HTTPRequestTimeout,
		ProvisionTimeout:  cfg.TenantProvisionTimeout,
		TrustProxyHeaders: cfg.TrustProxyHeaders,
		Tenant:            tenancy.Static(a.AppMain),
	}
	if cfg.MultiTenantEnabled {
		if err := a.setUpTenancy(ctx); err != nil {
			return nil, err
		}
		m.WatchTenants(a.Tenants.Stats)
		deps.Registry = a.Registry
		deps.Tenant = tenancy.Middleware(a.Tenants, tenancy.Resolver{
			Header:     cfg.TenantHeaderName,
			Subdomains: cfg.TenantSubdomainEnabled,
			BaseDomain: cfg.TenantBaseDomain,
		}, handlers.WriteError)
		if cfg.AdminAPIKey == "" {
			log.Warn("ADMIN_API_KEY is empty: tenant management endpoints are open to anyone who can reach this server")
		}
	}
	gin.SetMode(gin.ReleaseMode)
	a.Handler = handlers.NewRouter(deps)
	return a, nil
}

// OpenServer returns the database server the configuration selects.
func OpenServer(cfg config.Config) (sqldb.Server, error) {
	if cfg.Dialect() == config.DialectPostgres {
		return sqldb.NewPostgres(cfg.DatabaseURL, "")
	}
	return sqldb.NewSQLite(cfg.DataDir)
}

func (a *App) migrateMain(ctx context.Context) error {
	dir, err := migrations.Dir(migrations.Main, a.Config.Dialect())
	if err != nil {
		return err
	}
	if !a.Config.MigrateOnStart {
		st, err := dbmigrate.Status(ctx, a.MainDB, a.Config.Dialect(), dir)
		if err != nil {
			return fmt.Errorf("read main database migration status: %w", err)
		}
		if len(st.Pending) > 0 {
			a.log.Warn("main database has pending migrations and MIGRATE_ON_START=false: run `atlas migrate apply --env main` or `tenantctl migrate`",
				slog.String("current", st.Current), slog.Int("pending", len(st.Pending)))
		}
		return nil
	}
	res, err := dbmigrate.Apply(ctx, a.MainDB, a.Config.Dialect(), dir, dbmigrate.Options{
		LockName: a.Server.MigrationLockName(a.Config.DBName),
	})
	if err != nil {
		return fmt.Errorf("migrate main database: %w", err)
	}
	if len(res.Applied) > 0 {
		a.log.Info("main database migrated", slog.String("from", res.From), slog.String("to", res.To), slog.Int("files", len(res.Applied)))
	}
	return nil
}

func (a *App) setUpTenancy(ctx context.Context) error {
	cfg := a.Config
	tenantDir, err := migrations.Dir(migrations.Tenant, cfg.Dialect())
	if err != nil {
		return err
	}
	naming := tenancy.Naming{MainDB: cfg.DBName}
	a.Provisioner = &tenancy.Provisioner{
		Server: a.Server, Naming: naming, Dir: tenantDir,
		Strategy: tenancy.Strategy(cfg.TenantProvisionStrategy), Logger: a.log,
	}
	a.Registry = registry.New(registry.Options{Client: a.Main, Provisioner: a.Provisioner, Naming: naming, Logger: a.log,
		ProvisionTimeout: cfg.TenantProvisionTimeout})
	opener, err := TenantOpener(a.Server, tenantDir, sqldb.Pool{
		MaxOpen: cfg.TenantPoolSize, MaxIdle: cfg.TenantPoolSize, MaxIdleTime: cfg.TenantClientIdleTimeout,
	})
	if err != nil {
		return err
	}
	a.Tenants = tenancy.NewManager(a.Registry, opener, tenancy.ManagerConfig{
		MaxClients:         cfg.TenantCacheSize(),
		IdleTimeout:        cfg.TenantClientIdleTimeout,
		AcquireTimeout:     cfg.TenantAcquireTimeout,
		NotFoundTTL:        cfg.TenantNotFoundTTL,
		RevalidateInterval: cfg.TenantRevalidateInterval,
		Logger:             a.log,
	})
	a.closers = append(a.closers, a.Tenants.Close)

	if pg, ok := a.Server.(*sqldb.Postgres); ok {
		a.Registry.SetInvalidator(tenancy.PostgresInvalidator{Channel: InvalidationChannel, Target: a.Tenants})
		stop, err := tenancy.ListenPostgres(pg.URL(cfg.DBName), InvalidationChannel, a.Tenants, a.log)
		if err != nil {
			return fmt.Errorf("listen for tenant changes: %w", err)
		}
		a.closers = append(a.closers, stop)
	} else {
		a.Registry.SetInvalidator(tenancy.LocalInvalidator{Target: a.Tenants})
	}

	if a.Provisioner.Strategy == tenancy.StrategyTemplate {
		if _, err := a.Provisioner.PrepareTemplate(ctx); err != nil {
			// Not fatal: provisioning retries it, and serving existing
			// tenants does not need it.
			a.log.Error("preparing the tenant template database", slog.Any("error", err))
		}
	}
	if unfinished, err := a.Registry.Unfinished(ctx); err != nil {
		a.log.Warn("checking for unfinished tenant provisioning", slog.Any("error", err))
	} else if len(unfinished) > 0 {
		slugs := make([]string, 0, min(len(unfinished), 20))
		for _, t := range unfinished[:min(len(unfinished), 20)] {
			slugs = append(slugs, t.Slug+" ("+string(t.Status)+")")
		}
		a.log.Warn("tenants whose provisioning failed or stalled are not served; retry with POST /api/v1/tenants/{id}/provision",
			slog.Int("count", len(unfinished)), slog.Any("tenants", slugs))
	}
	if orphans, err := a.Registry.Orphans(ctx, a.Server); err != nil {
		a.log.Warn("checking for orphaned tenant databases", slog.Any("error", err))
	} else if len(orphans) > 0 {
		a.log.Warn("databases named like tenant databases that no tenant claims; inspect and drop them by hand",
			slog.Any("databases", orphans))
	}
	return nil
}

// TenantOpener returns the tenancy.Opener of the tenant graph: a pool of
// the given bound on the tenant's database, refused (ErrSchemaOutdated)
// unless the database is at the newest tenant migration, so no request runs
// against a schema it was not written for.
func TenantOpener(server sqldb.Server, dir migrate.Dir, pool sqldb.Pool) (tenancy.Opener[*tenantdb.Client], error) {
	latest, err := dbmigrate.LatestVersion(dir)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, t tenancy.Tenant) (*tenantdb.Client, error) {
		// A missing SQLite file would be created empty by the driver; a
		// missing PostgreSQL database fails the status query below (and the
		// check would cost a round trip on every open).
		if server.Dialect() == dialect.SQLite {
			ok, err := server.Exists(ctx, t.Database)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("%w: %s", tenancy.ErrDatabaseMissing, t.Database)
			}
		}
		db, err := server.Open(ctx, t.Database, pool)
		if err != nil {
			return nil, err
		}
		st, err := dbmigrate.Status(ctx, db, server.Dialect(), dir)
		if err != nil {
			_ = db.Close()
			if sqldb.IsMissingDatabase(err) {
				return nil, fmt.Errorf("%w: %s", tenancy.ErrDatabaseMissing, t.Database)
			}
			return nil, fmt.Errorf("read migration state: %w", err)
		}
		// Behind is refused; ahead is fine (a newer release migrated the
		// fleet first, and migrations are written to be backward compatible).
		if len(st.Pending) > 0 {
			_ = db.Close()
			return nil, fmt.Errorf("%w: database at %q, service needs %q", tenancy.ErrSchemaOutdated, st.Current, latest)
		}
		return tenantdb.NewClient(tenantdb.Driver(entsql.OpenDB(server.Dialect(), db))), nil
	}, nil
}

// Close releases what New opened, newest first.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// Run serves HTTP on the configured port until ctx is done, then shuts down
// gracefully: in-flight requests finish (up to SHUTDOWN_TIMEOUT), then the
// tenant clients and pools close.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr(), err)
	}
	return Serve(ctx, ln, cfg, log)
}

// Serve is Run on a given listener.
func Serve(ctx context.Context, ln net.Listener, cfg config.Config, log *slog.Logger) (err error) {
	defer ln.Close()
	a, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.Close()) }()
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPRequestTimeout,
		WriteTimeout:      cfg.HTTPRequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.Any("config", cfg))
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", slog.Duration("timeout", cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
