package fleet

import (
	"context"
	"errors"
	"fmt"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/tenantkit/tenantkit/config"
	"github.com/tenantkit/tenantkit/ent/maindb"
	"github.com/tenantkit/tenantkit/internal/app"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// ErrNoMainDatabase means the configured main database does not exist.
var ErrNoMainDatabase = errors.New("main database does not exist")

// Open builds the Fleet of a configuration; close releases its connections.
// With createMain the main database is created if missing, so a first
// deploy can run `tenantctl migrate` before the service starts; without,
// a missing one is ErrNoMainDatabase and nothing is created.
func Open(ctx context.Context, cfg config.Config, createMain bool) (f *Fleet, close func() error, err error) {
	server, err := app.OpenServer(cfg)
	if err != nil {
		return nil, nil, err
	}
	closers := []func() error{server.Close}
	closeAll := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, closeAll())
		}
	}()
	if createMain {
		if err := sqldb.EnsureDatabase(ctx, server, cfg.DBName); err != nil {
			return nil, nil, fmt.Errorf("main database: %w", err)
		}
	} else if ok, err := server.Exists(ctx, cfg.DBName); err != nil {
		return nil, nil, fmt.Errorf("main database: %w", err)
	} else if !ok {
		return nil, nil, fmt.Errorf("%w: %s (check DATABASE_URL / DB_NAME; `tenantctl migrate` or the service creates it)", ErrNoMainDatabase, server.Describe(cfg.DBName))
	}
	// Three connections: the fleet lock, Atlas's lock, the migration.
	mainDB, err := server.Open(ctx, cfg.DBName, sqldb.Pool{MaxOpen: 4, MaxIdle: 2})
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, mainDB.Close)
	mainDir, err := migrations.Dir(migrations.Main, cfg.Dialect())
	if err != nil {
		return nil, nil, err
	}
	tenantDir, err := migrations.Dir(migrations.Tenant, cfg.Dialect())
	if err != nil {
		return nil, nil, err
	}
	naming := tenancy.Naming{MainDB: cfg.DBName}
	f = &Fleet{
		Server:    server,
		MainDB:    mainDB,
		Main:      maindb.NewClient(maindb.Driver(entsql.OpenDB(cfg.Dialect(), mainDB))),
		Naming:    naming,
		MainDir:   mainDir,
		TenantDir: tenantDir,
		Provisioner: &tenancy.Provisioner{
			Server: server, Naming: naming, Dir: tenantDir,
			Strategy: tenancy.Strategy(cfg.TenantProvisionStrategy),
		},
	}
	return f, closeAll, nil
}
