package tenancy

import (
	"net/textproto"

	"github.com/gin-gonic/gin"
)

// ErrorHandler writes the response for a resolution or acquire error; the
// application owns its error format. It must not call c.Next.
type ErrorHandler func(c *gin.Context, err error)

// Middleware resolves the tenant of each request, leases its cached client
// for the length of the request and puts it into the request context, where
// ClientFromContext finds it. The lease is released when the handler
// returns, so an eviction never closes a client under a running request.
func Middleware[C Client](m *Manager[C], resolver Resolver, onError ErrorHandler) gin.HandlerFunc {
	// Header.Get canonicalises its key on every call, allocating unless it is
	// canonical already ("X-Tenant-ID" is not): do it once here.
	resolver.headerKey = textproto.CanonicalMIMEHeaderKey(resolver.Header)
	return func(c *gin.Context) {
		slug, err := resolver.Resolve(c.Request)
		if err != nil {
			onError(c, err)
			c.Abort()
			return
		}
		lease, err := m.Acquire(c.Request.Context(), slug)
		if err != nil {
			onError(c, err)
			c.Abort()
			return
		}
		defer lease.Release()
		c.Request = c.Request.WithContext(leaseContext(c.Request.Context(), lease))
		c.Next()
	}
}

// Static puts one fixed client into every request's context: single-tenant
// mode, where every request uses the main database.
func Static[C any](client C) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request = c.Request.WithContext(NewContext(c.Request.Context(), Tenant{}, client))
		c.Next()
	}
}
