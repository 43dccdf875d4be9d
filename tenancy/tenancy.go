// Package tenancy is the database-per-tenant core of tenantkit, usable by any
// ent + gin project: slug rules and database naming, tenant resolution from a
// request, a bounded cache of per-tenant clients under a global connection
// budget, provisioning from a template database, and the context helpers a
// handler uses to reach its tenant's client.
//
// It never imports a generated ent graph: the client type is a type
// parameter, and the application supplies an Opener that builds one.
package tenancy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Status is the provisioning state of a tenant.
type Status string

const (
	// StatusProvisioning: the database is being created; not served.
	StatusProvisioning Status = "provisioning"
	// StatusReady: the database exists and is migrated; served.
	StatusReady Status = "ready"
	// StatusFailed: provisioning failed; not served until retried.
	StatusFailed Status = "failed"
)

// Tenant is what tenancy needs to know of a registry entry.
type Tenant struct {
	ID            string
	Slug          string
	Database      string
	Active        bool
	Status        Status
	SchemaVersion string
}

// Errors a Registry, a Manager or the middleware return. Each is meant to be
// matched with errors.Is and mapped to an HTTP status in one place.
var (
	ErrInvalidSlug       = errors.New("invalid tenant slug")
	ErrTenantRequired    = errors.New("tenant required")
	ErrTenantNotFound    = errors.New("tenant not found")
	ErrTenantInactive    = errors.New("tenant deactivated")
	ErrTenantNotReady    = errors.New("tenant database not ready")
	ErrDatabaseMissing   = errors.New("tenant database does not exist")
	ErrSchemaOutdated    = errors.New("tenant database schema is not at the required version")
	ErrCapacity          = errors.New("no tenant connection available within the acquire timeout")
	ErrManagerClosed     = errors.New("tenant manager closed")
	ErrNoTenantInContext = errors.New("no tenant client in context")
)

// MaxSlugLen bounds every slug; DatabaseName further bounds it by prefix.
const MaxSlugLen = 63

var slugRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// ValidateSlug checks a slug against the SPEC's pattern and length. It is
// the only gate between request input and database names.
func ValidateSlug(slug string) error {
	if !isSlug(slug) {
		return errSlugRule
	}
	return nil
}

// errSlugRule is built once: ValidateSlug runs on every request.
var errSlugRule = fmt.Errorf("%w: must match %s and be at most %d characters", ErrInvalidSlug, slugRE, MaxSlugLen)

// isSlug is slugRE written out by hand: it runs on the hot path of every
// request, where the regexp costs about a microsecond. TestIsSlugMatchesRE
// keeps the two in agreement.
func isSlug(s string) bool {
	if len(s) == 0 || len(s) > MaxSlugLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && s[i-1] != '-':
		default:
			return false
		}
	}
	return true
}

// MaxDatabaseNameLen is PostgreSQL's identifier limit (NAMEDATALEN-1).
const MaxDatabaseNameLen = 63

// Naming derives database names from the main database name.
type Naming struct {
	// MainDB is the main database name, the prefix of tenant databases.
	MainDB string
}

// TenantPrefix is the prefix every tenant database name starts with.
func (n Naming) TenantPrefix() string { return n.MainDB + "_tenant_" }

// DatabaseName returns {MainDB}_tenant_{slug} with "-" written as "_". It
// rejects an invalid slug, and one too long for the name to fit 63 bytes.
func (n Naming) DatabaseName(slug string) (string, error) {
	if err := ValidateSlug(slug); err != nil {
		return "", err
	}
	name := n.TenantPrefix() + strings.ReplaceAll(slug, "-", "_")
	if len(name) > MaxDatabaseNameLen {
		return "", fmt.Errorf("%w: at most %d characters with database prefix %q", ErrInvalidSlug, n.MaxSlugLen(), n.TenantPrefix())
	}
	return name, nil
}

// MaxSlugLen is the longest slug whose database name fits.
func (n Naming) MaxSlugLen() int {
	return min(MaxSlugLen, MaxDatabaseNameLen-len(n.TenantPrefix()))
}

// TemplateName is the database new tenants are cloned from. The double
// underscore makes it impossible to reach from a slug: slugs never hold
// "--", so tenant names never hold "__".
func (n Naming) TemplateName() string { return n.MainDB + "_tenant__template" }
