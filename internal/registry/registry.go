// Package registry is the tenant registry service: it keeps the tenants
// table of the main database, provisions each tenant's database before the
// tenant is reported ready, and tells the tenancy manager (of this and every
// other instance) when a tenant changes.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/ent/maindb"
	enttenant "github.com/tenantkit/tenantkit/ent/maindb/tenant"
	"github.com/tenantkit/tenantkit/internal/apperr"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// Invalidator drops what every instance caches about a tenant when it
// changes: tenancy.PostgresInvalidator or tenancy.LocalInvalidator.
type Invalidator interface {
	// Publish announces slug's change to the other instances as part of
	// tx, the transaction that makes the change.
	Publish(ctx context.Context, tx tenancy.Execer, slug string) error
	// Evict drops this instance's cached state of slug, after the commit.
	Evict(slug string)
}

// reservedSlugs would read as something other than a tenant in a subdomain
// or in logs.
var reservedSlugs = map[string]bool{
	"admin": true, "api": true, "www": true, "main": true, "master": true,
	"template": true, "public": true, "postgres": true, "default": true,
}

// Service is the tenant registry.
type Service struct {
	client      *maindb.Client
	provisioner *tenancy.Provisioner
	naming      tenancy.Naming
	invalidator Invalidator
	log         *slog.Logger
	// StaleAfter: a tenant left "provisioning" longer than this (its
	// process died, say) may be provisioned again.
	staleAfter       time.Duration
	provisionTimeout time.Duration
}

// Options configure a Service.
type Options struct {
	Client           *maindb.Client
	Provisioner      *tenancy.Provisioner
	Naming           tenancy.Naming
	Invalidator      Invalidator
	Logger           *slog.Logger
	StaleAfter       time.Duration // default 10m, at least twice ProvisionTimeout
	ProvisionTimeout time.Duration // default 2m
}

// New returns a Service.
func New(o Options) *Service {
	if o.ProvisionTimeout <= 0 {
		o.ProvisionTimeout = 2 * time.Minute
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 10 * time.Minute
	}
	// A provisioning still within its own time bound is alive: retrying it
	// would run a second one on the same database.
	o.StaleAfter = max(o.StaleAfter, 2*o.ProvisionTimeout)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{client: o.Client, provisioner: o.Provisioner, naming: o.Naming,
		invalidator: o.Invalidator, log: o.Logger, staleAfter: o.StaleAfter, provisionTimeout: o.ProvisionTimeout}
}

// CreateInput is a new tenant.
type CreateInput struct {
	Name        string
	Slug        string
	Description string
}

// UpdateInput changes a tenant; nil fields stay.
type UpdateInput struct {
	Name        *string
	Description *string
	IsActive    *bool
}

// ListInput pages the registry.
type ListInput struct {
	Limit    int
	Offset   int
	IsActive *bool
}

// ValidateSlug checks a slug for a new tenant: the SPEC pattern, a length
// that fits the database name, and not reserved.
func (s *Service) ValidateSlug(slug string) error {
	if _, err := s.naming.DatabaseName(slug); err != nil {
		return apperr.Validationf("slug", "must be lower-case letters and digits in groups joined by single hyphens, at most %d characters", s.naming.MaxSlugLen())
	}
	if reservedSlugs[slug] {
		return apperr.Validationf("slug", "%q is reserved", slug)
	}
	return nil
}

// Create registers a tenant and provisions its database. The tenant is
// answered only once its database exists at the latest migration; if
// provisioning fails the tenant stays registered as failed, with the
// error, and can be retried with Retry.
func (s *Service) Create(ctx context.Context, in CreateInput) (*maindb.Tenant, error) {
	if err := s.ValidateSlug(in.Slug); err != nil {
		return nil, err
	}
	dbName, _ := s.naming.DatabaseName(in.Slug)
	now := time.Now().UTC().Truncate(time.Microsecond)
	t, err := s.client.Tenant.Create().
		SetCreatedAt(now).
		SetUpdatedAt(now).
		SetName(in.Name).
		SetSlug(in.Slug).
		SetDescription(in.Description).
		SetDatabase(dbName).
		SetStatus(enttenant.StatusProvisioning).
		Save(ctx)
	if maindb.IsConstraintError(err) {
		return nil, apperr.Wrap(err, apperr.Conflict, "a tenant with slug %q already exists", in.Slug)
	}
	if err != nil {
		return nil, fmt.Errorf("insert tenant: %w", err)
	}
	return s.provision(ctx, t, false)
}

// Retry provisions again a tenant whose provisioning failed, or stalled for
// longer than the stale period. A database left by the earlier attempt is
// kept and migrated onward; one holding foreign tables makes the retry fail
// again, so nothing is ever dropped.
func (s *Service) Retry(ctx context.Context, id uuid.UUID) (*maindb.Tenant, error) {
	t, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case t.Status == enttenant.StatusReady:
		// Unless its database is gone (dropped by mistake, lost with a
		// volume): then it is created again, empty, at the latest version.
		exists, err := s.provisioner.Server.Exists(ctx, t.Database)
		if err != nil {
			return nil, fmt.Errorf("check the database of tenant %s: %w", t.Slug, err)
		}
		if exists {
			return nil, apperr.New(apperr.Conflict, "tenant %q is already provisioned", t.Slug)
		}
		s.log.WarnContext(ctx, "re-creating the missing database of a ready tenant", slog.String("tenant", t.Slug), slog.String("database", t.Database))
	case t.Status == enttenant.StatusProvisioning && time.Since(t.UpdatedAt) < s.staleAfter:
		return nil, apperr.New(apperr.Conflict, "tenant %q is being provisioned; retry after %s without progress", t.Slug, s.staleAfter)
	}
	// Claim the retry: only one caller moves the row back to provisioning.
	n, err := s.client.Tenant.Update().
		Where(enttenant.ID(t.ID), enttenant.StatusEQ(t.Status), enttenant.UpdatedAt(t.UpdatedAt)).
		SetStatus(enttenant.StatusProvisioning).
		SetStatusError("").
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim tenant for retry: %w", err)
	}
	if n == 0 {
		return nil, apperr.New(apperr.Conflict, "tenant %q is being provisioned by another request", t.Slug)
	}
	t, err = s.client.Tenant.Get(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("reload tenant: %w", err)
	}
	return s.provision(ctx, t, true)
}

func (s *Service) provision(ctx context.Context, t *maindb.Tenant, replace bool) (*maindb.Tenant, error) {
	// Finish even if the client goes away: a half-provisioned tenant helps
	// nobody.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.provisionTimeout)
	defer cancel()
	start := time.Now()
	version, perr := s.provisioner.Provision(pctx, t.Database, replace)
	if perr != nil {
		s.log.ErrorContext(ctx, "tenant provisioning failed", slog.String("tenant", t.Slug), slog.Any("error", perr))
	}
	// Instances that answered "unknown tenant" for this slug (or cached it
	// in another state) must read the registry again: announced.
	saved, err := s.saveAndAnnounce(pctx, func(tx *maindb.Tx) (*maindb.Tenant, error) {
		upd := tx.Tenant.UpdateOneID(t.ID)
		if perr != nil {
			upd.SetStatus(enttenant.StatusFailed).SetStatusError(truncate(perr.Error(), 2000))
		} else {
			upd.SetStatus(enttenant.StatusReady).SetStatusError("").SetSchemaVersion(version).SetMigratedAt(time.Now().UTC())
		}
		return upd.Save(pctx)
	})
	if err != nil {
		return nil, errors.Join(perr, fmt.Errorf("record provisioning outcome: %w", err))
	}
	if errors.Is(perr, sqldb.ErrDatabaseExists) {
		return nil, apperr.Wrap(perr, apperr.Conflict, "a database named %q already exists that no tenant claims; the tenant is registered with status \"failed\": inspect that database, move it away or drop it (one without rows is adopted), then retry with POST /api/v1/tenants/%s/provision", t.Database, t.ID)
	}
	if errors.Is(perr, tenancy.ErrDatabaseNotEmpty) {
		return nil, apperr.Wrap(perr, apperr.Conflict, "the existing database %q holds data, perhaps an earlier tenant's, and is never handed to another; the tenant stays \"failed\": move that database away or drop it, then retry with POST /api/v1/tenants/%s/provision", t.Database, t.ID)
	}
	if perr != nil {
		code := apperr.Internal
		if sqldb.IsUnavailable(perr) {
			code = apperr.Unavailable
		}
		return nil, apperr.Wrap(perr, code, "provisioning the database of tenant %q failed; it is registered with status \"failed\" and can be retried with POST /api/v1/tenants/%s/provision", t.Slug, t.ID)
	}
	s.log.InfoContext(ctx, "tenant provisioned", slog.String("tenant", t.Slug), slog.String("database", t.Database),
		slog.String("schema_version", version), slog.Duration("took", time.Since(start)))
	return saved, nil
}

// truncate bounds s to n bytes without splitting a UTF-8 sequence (the
// database would refuse invalid UTF-8, losing the failure record itself).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// SetInvalidator sets where tenant changes are announced; the manager that
// needs them is built after the registry it reads from.
func (s *Service) SetInvalidator(inv Invalidator) { s.invalidator = inv }

// Get returns the tenant with id.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*maindb.Tenant, error) {
	t, err := s.client.Tenant.Get(ctx, id)
	if maindb.IsNotFound(err) {
		return nil, apperr.Wrap(err, apperr.TenantNotFound, "no tenant with id %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get tenant: %w", err)
	}
	return t, nil
}

// GetBySlug returns the tenant with slug.
func (s *Service) GetBySlug(ctx context.Context, slug string) (*maindb.Tenant, error) {
	if tenancy.ValidateSlug(slug) != nil {
		// Nothing invalid was ever stored.
		return nil, apperr.New(apperr.TenantNotFound, "no tenant with that slug")
	}
	t, err := s.client.Tenant.Query().Where(enttenant.Slug(slug)).Only(ctx)
	if maindb.IsNotFound(err) {
		return nil, apperr.Wrap(err, apperr.TenantNotFound, "no tenant with slug %q", slug)
	}
	if err != nil {
		return nil, fmt.Errorf("get tenant by slug: %w", err)
	}
	return t, nil
}

// List returns a page of tenants, oldest first.
func (s *Service) List(ctx context.Context, in ListInput) ([]*maindb.Tenant, error) {
	q := s.client.Tenant.Query()
	if in.IsActive != nil {
		q = q.Where(enttenant.IsActive(*in.IsActive))
	}
	ts, err := q.Order(enttenant.ByCreatedAt(), enttenant.ByID()).Limit(in.Limit).Offset(in.Offset).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ts, nil
}

// Update changes a tenant's name, description or activation, and evicts
// its cached client everywhere.
func (s *Service) Update(ctx context.Context, id uuid.UUID, in UpdateInput) (*maindb.Tenant, error) {
	t, err := s.saveAndAnnounce(ctx, func(tx *maindb.Tx) (*maindb.Tenant, error) {
		upd := tx.Tenant.UpdateOneID(id)
		if in.Name != nil {
			upd.SetName(*in.Name)
		}
		if in.Description != nil {
			upd.SetDescription(*in.Description)
		}
		if in.IsActive != nil {
			upd.SetIsActive(*in.IsActive)
		}
		return upd.Save(ctx)
	})
	if maindb.IsNotFound(err) {
		return nil, apperr.Wrap(err, apperr.TenantNotFound, "no tenant with id %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("update tenant: %w", err)
	}
	return t, nil
}

// saveAndAnnounce runs save in a transaction that also announces the
// saved tenant's change to every other instance, so that the change and its
// announcement commit or roll back together, then evicts the tenant here.
func (s *Service) saveAndAnnounce(ctx context.Context, save func(tx *maindb.Tx) (*maindb.Tenant, error)) (*maindb.Tenant, error) {
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	t, err := save(tx)
	if err == nil && s.invalidator != nil {
		if perr := s.invalidator.Publish(ctx, tx, t.Slug); perr != nil {
			err = fmt.Errorf("announce the change of tenant %s: %w", t.Slug, perr)
		}
	}
	if err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return nil, errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if s.invalidator != nil {
		s.invalidator.Evict(t.Slug)
	}
	return t.Unwrap(), nil
}

// Deactivate marks a tenant inactive: its data stays, its requests are
// refused from now on, on every instance.
func (s *Service) Deactivate(ctx context.Context, id uuid.UUID) (*maindb.Tenant, error) {
	inactive := false
	return s.Update(ctx, id, UpdateInput{IsActive: &inactive})
}

// LookupTenant implements tenancy.Registry.
func (s *Service) LookupTenant(ctx context.Context, slug string) (tenancy.Tenant, error) {
	t, err := s.client.Tenant.Query().Where(enttenant.Slug(slug)).Only(ctx)
	if maindb.IsNotFound(err) {
		return tenancy.Tenant{}, tenancy.ErrTenantNotFound
	}
	if err != nil {
		return tenancy.Tenant{}, fmt.Errorf("look up tenant: %w", err)
	}
	return ToTenancy(t), nil
}

// ToTenancy converts a registry row to what the tenancy library needs.
func ToTenancy(t *maindb.Tenant) tenancy.Tenant {
	return tenancy.Tenant{
		ID:            t.ID.String(),
		Slug:          t.Slug,
		Database:      t.Database,
		Active:        t.IsActive,
		Status:        tenancy.Status(t.Status),
		SchemaVersion: t.SchemaVersion,
	}
}

// RecordMigration stores the outcome of a fleet migration run of a tenant:
// the version its database is at (when known) and the run's error, or the
// time of a successful run.
func RecordMigration(ctx context.Context, client *maindb.Client, id uuid.UUID, version string, runErr error) error {
	upd := client.Tenant.UpdateOneID(id)
	if version != "" {
		upd.SetSchemaVersion(version)
	}
	if runErr != nil {
		upd.SetStatusError(truncate("migration failed: "+runErr.Error(), 2000))
	} else {
		upd.SetStatusError("").SetMigratedAt(time.Now().UTC())
	}
	if err := upd.Exec(ctx); err != nil {
		return fmt.Errorf("record migration outcome: %w", err)
	}
	return nil
}

// Unfinished returns the tenants whose provisioning failed, or has been
// running longer than the stale period (its process died): both need a
// retry (POST /api/v1/tenants/{id}/provision).
func (s *Service) Unfinished(ctx context.Context) ([]*maindb.Tenant, error) {
	ts, err := s.client.Tenant.Query().
		Where(enttenant.Or(
			enttenant.StatusEQ(enttenant.StatusFailed),
			enttenant.And(enttenant.StatusEQ(enttenant.StatusProvisioning), enttenant.UpdatedAtLT(time.Now().Add(-s.staleAfter))),
		)).
		Order(enttenant.BySlug()).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list unfinished tenants: %w", err)
	}
	return ts, nil
}

// Orphans returns databases named like tenant databases that no registry
// entry claims: left by a registry row deleted by hand, or a crash between
// a drop and a create. They are reported, never dropped automatically.
func (s *Service) Orphans(ctx context.Context, server sqldb.Server) ([]string, error) {
	names, err := server.List(ctx, s.naming.TenantPrefix())
	if err != nil {
		return nil, err
	}
	known, err := s.client.Tenant.Query().Select(enttenant.FieldDatabase).Strings(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenant databases: %w", err)
	}
	claimed := make(map[string]bool, len(known))
	for _, k := range known {
		claimed[k] = true
	}
	var orphans []string
	for _, n := range names {
		if !claimed[n] && n != s.naming.TemplateName() && !strings.HasPrefix(n, s.naming.TemplateName()) {
			orphans = append(orphans, n)
		}
	}
	return orphans, nil
}
