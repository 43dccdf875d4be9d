package tenancy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Resolver finds the tenant slug of a request: from a header, else (when
// enabled) from the first label of a host below BaseDomain.
type Resolver struct {
	// Header carries the slug (for example "X-Tenant-ID").
	Header string
	// Subdomains enables acme.<BaseDomain> resolution.
	Subdomains bool
	// BaseDomain is the domain below which subdomains name tenants.
	BaseDomain string

	// headerKey is Header in canonical form, set by Middleware so that the
	// lookup does not allocate; messages keep the configured spelling.
	headerKey string
}

// Resolve returns the slug of r, validated. Errors: ErrTenantRequired (none
// given) and ErrInvalidSlug (malformed), both safe to show: they never echo
// the input.
func (rs Resolver) Resolve(r *http.Request) (string, error) {
	key := rs.headerKey
	if key == "" {
		key = rs.Header
	}
	if v := r.Header.Get(key); v != "" {
		if err := ValidateSlug(v); err != nil {
			return "", fmt.Errorf("header %s: %w", rs.Header, err)
		}
		return v, nil
	}
	if rs.Subdomains {
		if slug, ok := rs.subdomain(r.Host); ok {
			if err := ValidateSlug(slug); err != nil {
				return "", fmt.Errorf("subdomain: %w", err)
			}
			return slug, nil
		}
	}
	if rs.Subdomains {
		return "", fmt.Errorf("%w: send the %s header or use a <tenant>.%s host", ErrTenantRequired, rs.Header, rs.BaseDomain)
	}
	return "", fmt.Errorf("%w: send the %s header", ErrTenantRequired, rs.Header)
}

// subdomain returns the single label in front of BaseDomain, if host is one
// (the port ignored, case folded as DNS does).
func (rs Resolver) subdomain(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	label, ok := strings.CutSuffix(host, "."+strings.ToLower(rs.BaseDomain))
	if !ok || label == "" || strings.Contains(label, ".") {
		return "", false
	}
	return label, true
}

// IsRequestError reports whether err is the client's fault (400): a missing
// or malformed tenant.
func IsRequestError(err error) bool {
	return errors.Is(err, ErrTenantRequired) || errors.Is(err, ErrInvalidSlug)
}
