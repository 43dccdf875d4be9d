package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/ent/maindb"
	"github.com/tenantkit/tenantkit/internal/apperr"
	"github.com/tenantkit/tenantkit/internal/registry"
)

// TenantRegistry is what the tenant endpoints need of the registry.
type TenantRegistry interface {
	ValidateSlug(slug string) error
	Create(ctx context.Context, in registry.CreateInput) (*maindb.Tenant, error)
	Retry(ctx context.Context, id uuid.UUID) (*maindb.Tenant, error)
	Get(ctx context.Context, id uuid.UUID) (*maindb.Tenant, error)
	GetBySlug(ctx context.Context, slug string) (*maindb.Tenant, error)
	List(ctx context.Context, in registry.ListInput) ([]*maindb.Tenant, error)
	Update(ctx context.Context, id uuid.UUID, in registry.UpdateInput) (*maindb.Tenant, error)
	Deactivate(ctx context.Context, id uuid.UUID) (*maindb.Tenant, error)
}

type tenantResponse struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Slug          string     `json:"slug"`
	Description   string     `json:"description"`
	IsActive      bool       `json:"is_active"`
	Database      string     `json:"database"`
	Status        string     `json:"status"`
	StatusError   string     `json:"status_error,omitempty"`
	SchemaVersion string     `json:"schema_version"`
	MigratedAt    *time.Time `json:"migrated_at"`
	// LastMigrationError is the error of the last fleet migration run of a
	// ready tenant (tenantctl migrate), empty when it succeeded. The admin
	// API is its only reader; it holds migration SQL, never credentials.
	LastMigrationError string    `json:"last_migration_error,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

func toTenantResponse(t *maindb.Tenant) tenantResponse {
	r := tenantResponse{
		ID: t.ID.String(), Name: t.Name, Slug: t.Slug, Description: t.Description,
		IsActive: t.IsActive, Database: t.Database, Status: string(t.Status),
		SchemaVersion: t.SchemaVersion, CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(),
	}
	if t.Status == "failed" {
		// The detail of a failure is in the server log; the client learns
		// that it failed and that it can retry.
		r.StatusError = "provisioning failed; retry with POST /api/v1/tenants/" + r.ID + "/provision"
	}
	if t.Status == "ready" {
		r.LastMigrationError = t.StatusError
	}
	if t.MigratedAt != nil {
		at := t.MigratedAt.UTC()
		r.MigratedAt = &at
	}
	return r
}

type createTenantRequest struct {
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Description string `json:"description"`
}

type updateTenantRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	IsActive    *bool   `json:"is_active"`
	// Slug is accepted only to refuse a change with a clear 422.
	Slug *string `json:"slug"`
}

type tenantHandlers struct{ reg TenantRegistry }

func (h tenantHandlers) create(c *gin.Context) error {
	var req createTenantRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	errs := apperr.FieldErrors{}
	checkText(errs, "name", req.Name, true, 200)
	checkText(errs, "description", req.Description, false, 2000)
	if req.Slug == "" {
		errs.Add("slug", "is required")
	} else if err := h.reg.ValidateSlug(req.Slug); err != nil {
		if e, ok := apperr.As(err); ok && e.Fields != nil {
			errs.Add("slug", "%s", e.Fields["slug"])
		} else {
			errs.Add("slug", "is invalid")
		}
	}
	if err := errs.Err(); err != nil {
		return err
	}
	t, err := h.reg.Create(c.Request.Context(), registry.CreateInput{Name: req.Name, Slug: req.Slug, Description: req.Description})
	if err != nil {
		return err
	}
	c.Header("Location", "/api/v1/tenants/"+t.ID.String())
	c.JSON(http.StatusCreated, toTenantResponse(t))
	return nil
}

func (h tenantHandlers) list(c *gin.Context) error {
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	active, err := parseOptionalBool(c, "is_active")
	if err != nil {
		return err
	}
	ts, err := h.reg.List(c.Request.Context(), registry.ListInput{Limit: p.Limit, Offset: p.Offset, IsActive: active})
	if err != nil {
		return err
	}
	out := make([]tenantResponse, len(ts))
	for i, t := range ts {
		out[i] = toTenantResponse(t)
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func (h tenantHandlers) get(c *gin.Context) error {
	id, err := pathUUID(c, "tenant_id", apperr.TenantNotFound)
	if err != nil {
		return err
	}
	t, err := h.reg.Get(c.Request.Context(), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toTenantResponse(t))
	return nil
}

func (h tenantHandlers) getBySlug(c *gin.Context) error {
	t, err := h.reg.GetBySlug(c.Request.Context(), c.Param("tenant_slug"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toTenantResponse(t))
	return nil
}

func (h tenantHandlers) update(c *gin.Context) error {
	id, err := pathUUID(c, "tenant_id", apperr.TenantNotFound)
	if err != nil {
		return err
	}
	var req updateTenantRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	errs := apperr.FieldErrors{}
	if req.Name != nil {
		checkText(errs, "name", *req.Name, true, 200)
	}
	if req.Description != nil {
		checkText(errs, "description", *req.Description, false, 2000)
	}
	if err := errs.Err(); err != nil {
		return err
	}
	if req.Slug != nil {
		current, err := h.reg.Get(c.Request.Context(), id)
		if err != nil {
			return err
		}
		if *req.Slug != current.Slug {
			return apperr.Validationf("slug", "cannot change: the tenant's database is named after it")
		}
	}
	t, err := h.reg.Update(c.Request.Context(), id, registry.UpdateInput{Name: req.Name, Description: req.Description, IsActive: req.IsActive})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toTenantResponse(t))
	return nil
}

func (h tenantHandlers) deactivate(c *gin.Context) error {
	id, err := pathUUID(c, "tenant_id", apperr.TenantNotFound)
	if err != nil {
		return err
	}
	t, err := h.reg.Deactivate(c.Request.Context(), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toTenantResponse(t))
	return nil
}

func (h tenantHandlers) retryProvision(c *gin.Context) error {
	id, err := pathUUID(c, "tenant_id", apperr.TenantNotFound)
	if err != nil {
		return err
	}
	t, err := h.reg.Retry(c.Request.Context(), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toTenantResponse(t))
	return nil
}
