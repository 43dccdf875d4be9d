// Package handlers is the HTTP layer: routes, request and response types,
// and the one mapping from errors to the JSON error shape.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/internal/apperr"
)

// Deps is what the router needs.
type Deps struct {
	Logger *slog.Logger
	// Registry serves the tenant management endpoints; nil when
	// multi-tenancy is off (they answer 404 then).
	Registry TenantRegistry
	// Tenant puts the request's tenant graph client into the request
	// context: tenancy.Middleware, or tenancy.Static in single-tenant mode.
	Tenant gin.HandlerFunc
	// AdminAPIKey protects tenant management when not empty.
	AdminAPIKey string
	// Ready reports whether the main database answers.
	Ready func(context.Context) error
	// Metrics middleware and handler (optional).
	MetricsMiddleware gin.HandlerFunc
	MetricsHandler    http.Handler
	MaxBodyBytes      int64
	RequestTimeout    time.Duration
	// ProvisionTimeout bounds provisioning a tenant database: the requests
	// that provision may write their response this much later.
	ProvisionTimeout time.Duration
	// TrustProxyHeaders makes X-Forwarded-For count for client IPs.
	TrustProxyHeaders bool
}

// NewRouter builds every route of the service, in this one place.
func NewRouter(d Deps) *gin.Engine {
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.RequestTimeout <= 0 {
		d.RequestTimeout = 30 * time.Second
	}
	if d.ProvisionTimeout <= 0 {
		d.ProvisionTimeout = 2 * time.Minute
	}
	r := gin.New()
	// A trailing slash is served directly, never redirected: every route is
	// registered with and without one (see handle).
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if !d.TrustProxyHeaders {
		_ = r.SetTrustedProxies(nil)
	}
	// Recovery runs inside the access log and the metrics, so that a
	// panicking request is logged and counted with its 500.
	r.Use(withRequestID(d.Logger), withAccessLog(d.Logger))
	if d.MetricsMiddleware != nil {
		r.Use(d.MetricsMiddleware)
	}
	r.Use(withRecovery(d.Logger))
	r.NoRoute(func(c *gin.Context) {
		writeError(c, apperr.New(apperr.NotFound, "no route for %s", safePath(c.Request.URL.Path)))
	})
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, errorBody{Error: errorDetail{Code: "method_not_allowed", Message: "method not allowed on this route", RequestID: requestID(c)}})
	})

	handle(r, http.MethodGet, "/healthz", healthz)
	handle(r, http.MethodGet, "/readyz", readyz(d.Ready))
	if d.MetricsHandler != nil {
		handle(r, http.MethodGet, "/metrics", gin.WrapH(d.MetricsHandler))
	}

	api := r.Group("/api/v1", withBodyLimit(d.MaxBodyBytes), withTimeout(d.RequestTimeout))

	admin := api.Group("/tenants", requireAdmin(d.AdminAPIKey))
	// The seed's own example posts to /api/tenants/: the whole registry API
	// is served there too, as an alias.
	alias := r.Group("/api/tenants", withBodyLimit(d.MaxBodyBytes), withTimeout(d.RequestTimeout), requireAdmin(d.AdminAPIKey))
	if d.Registry != nil {
		h := tenantHandlers{reg: d.Registry}
		// Provisioning answers once the database is ready, which may take
		// longer than the server's write timeout allows other requests.
		provisioning := withWriteDeadline(d.RequestTimeout+d.ProvisionTimeout+5*time.Second, d.Logger)
		for _, g := range []*gin.RouterGroup{admin, alias} {
			handle(g, http.MethodPost, "", provisioning, withErrors(h.create))
			handle(g, http.MethodGet, "", withErrors(h.list))
			handle(g, http.MethodGet, "/:tenant_id", withErrors(h.get))
			handle(g, http.MethodGet, "/slug/:tenant_slug", withErrors(h.getBySlug))
			handle(g, http.MethodPut, "/:tenant_id", withErrors(h.update))
			handle(g, http.MethodDelete, "/:tenant_id", withErrors(h.deactivate))
			handle(g, http.MethodPost, "/:tenant_id/provision", provisioning, withErrors(h.retryProvision))
		}
	} else {
		disabled := func(c *gin.Context) {
			writeError(c, apperr.New(apperr.MultiTenancyDisabled, "tenant management is off: set MULTI_TENANT_ENABLED=true"))
		}
		r.Any("/api/v1/tenants", disabled)
		r.Any("/api/v1/tenants/*rest", disabled)
		r.Any("/api/tenants", disabled)
		r.Any("/api/tenants/*rest", disabled)
	}

	users := api.Group("/users", d.Tenant)
	handle(users, http.MethodPost, "", withTenantClient(createUser))
	handle(users, http.MethodGet, "", withTenantClient(listUsers))
	handle(users, http.MethodGet, "/:user_id", withTenantClient(getUser))
	handle(users, http.MethodPut, "/:user_id", withTenantClient(updateUser))
	handle(users, http.MethodDelete, "/:user_id", withTenantClient(deleteUser))
	return r
}

// withErrors adapts a handler that returns its error: every error of the
// API reaches writeError through here.
func withErrors(h func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			writeError(c, err)
		}
	}
}

// handle registers path with and without a trailing slash.
func handle(r gin.IRoutes, method, path string, h ...gin.HandlerFunc) {
	if path == "" {
		r.Handle(method, "", h...)
		r.Handle(method, "/", h...)
		return
	}
	r.Handle(method, path, h...)
	r.Handle(method, path+"/", h...)
}

// safePath bounds a path before it is echoed in an error message.
func safePath(p string) string {
	if len(p) > 100 {
		p = p[:100] + "..."
	}
	return strings.ToValidUTF8(p, "?")
}
