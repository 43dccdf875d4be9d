package tenancy

import "context"

// requestKey is unexported so no other package can read or forge the value.
type requestKey struct{}

type clientCarrier[C any] interface{ getClient() C }

type tenantCarrier interface{ getTenant() Tenant }

// NewContext returns ctx carrying the tenant and its client. The middleware
// does this for each request; jobs outside HTTP and single-tenant mode use it
// directly.
func NewContext[C any](ctx context.Context, t Tenant, client C) context.Context {
	e := &entry[C]{slug: t.Slug, tenant: t, client: client}
	e.ok.Store(true)
	return context.WithValue(ctx, requestKey{}, e)
}

// leaseContext stores the cached entry itself: no allocation beyond the
// context node.
func leaseContext[C Client](ctx context.Context, l Lease[C]) context.Context {
	return context.WithValue(ctx, requestKey{}, l.e)
}

// ClientFromContext returns the client the middleware put in ctx: the
// tenant's client, or the main database's in single-tenant mode. This is the
// Go form of the seed's get_tenant_session.
func ClientFromContext[C any](ctx context.Context) (C, error) {
	if c, ok := ctx.Value(requestKey{}).(clientCarrier[C]); ok {
		return c.getClient(), nil
	}
	var zero C
	return zero, ErrNoTenantInContext
}

// TenantFromContext returns the tenant of the request. In single-tenant mode
// it is the zero Tenant, with ok true.
func TenantFromContext(ctx context.Context) (t Tenant, ok bool) {
	if c, ok := ctx.Value(requestKey{}).(tenantCarrier); ok {
		return c.getTenant(), true
	}
	return Tenant{}, false
}
