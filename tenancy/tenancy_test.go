package tenancy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/ent/tenantdb"
	"github.com/tenantkit/tenantkit/tenancy"
)

func TestValidateSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		slug string
		ok   bool
	}{
		{"simple", "acme", true},
		{"digits", "42", true},
		{"single char", "a", true},
		{"hyphenated", "virgin-voyages", true},
		{"several hyphens", "a-b-c-1-2", true},
		{"63 chars", strings.Repeat("a", 63), true},
		{"64 chars", strings.Repeat("a", 64), false},
		{"empty", "", false},
		{"uppercase", "Acme", false},
		{"all uppercase", "ACME", false},
		{"leading hyphen", "-acme", false},
		{"trailing hyphen", "acme-", false},
		{"double hyphen", "ac--me", false},
		{"only hyphen", "-", false},
		{"underscore", "ac_me", false},
		{"dot", "ac.me", false},
		{"leading dot", ".acme", false},
		{"space inside", "ac me", false},
		{"leading space", " acme", false},
		{"trailing space", "acme ", false},
		{"trailing newline", "acme\n", false},
		{"tab", "ac\tme", false},
		{"unicode letter", "acmé", false},
		{"unicode digit", "acme١", false},
		{"fullwidth letters", "ａｃｍｅ", false},
		{"path traversal", "../acme", false},
		{"slash", "acme/x", false},
		{"backslash", `acme\x`, false},
		{"single quote", "acme'", false},
		{"sql injection", "x'; DROP DATABASE app; --", false},
		{"double quote", `acme"`, false},
		{"nul byte", "acme\x00", false},
		{"percent encoding", "acme%2f", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tenancy.ValidateSlug(tt.slug)
			if tt.ok && err != nil {
				t.Fatalf("ValidateSlug(%q) = %v, want nil", tt.slug, err)
			}
			if !tt.ok {
				if !errors.Is(err, tenancy.ErrInvalidSlug) {
					t.Fatalf("ValidateSlug(%q) = %v, want ErrInvalidSlug", tt.slug, err)
				}
				// The message is the same whatever the input: nothing echoed.
				if ref := tenancy.ValidateSlug("X"); err.Error() != ref.Error() {
					t.Fatalf("error %q differs from %q: it depends on the input", err, ref)
				}
			}
		})
	}
}

func TestNamingDatabaseName(t *testing.T) {
	t.Parallel()
	n := tenancy.Naming{MainDB: "app"}
	if got, want := n.TenantPrefix(), "app_tenant_"; got != want {
		t.Fatalf("TenantPrefix = %q, want %q", got, want)
	}

	for slug, want := range map[string]string{
		"virgin-voyages": "app_tenant_virgin_voyages",
		"acme":           "app_tenant_acme",
		"a-1-b":          "app_tenant_a_1_b",
		"42":             "app_tenant_42",
	} {
		got, err := n.DatabaseName(slug)
		if err != nil || got != want {
			t.Errorf("DatabaseName(%q) = %q, %v; want %q", slug, got, err, want)
		}
	}

	// The longest slug that fits 63 bytes with this prefix, and one more.
	if got, want := n.MaxSlugLen(), 63-len("app_tenant_"); got != want {
		t.Fatalf("MaxSlugLen = %d, want %d", got, want)
	}
	longest := strings.Repeat("a", n.MaxSlugLen())
	name, err := n.DatabaseName(longest)
	if err != nil || len(name) != tenancy.MaxDatabaseNameLen {
		t.Fatalf("DatabaseName(longest) = %q (%d bytes), %v; want 63 bytes", name, len(name), err)
	}
	tooLong := longest + "a"
	if tenancy.ValidateSlug(tooLong) != nil {
		t.Fatalf("precondition: %d-char slug should be a valid slug on its own", len(tooLong))
	}
	if _, err := n.DatabaseName(tooLong); !errors.Is(err, tenancy.ErrInvalidSlug) {
		t.Fatalf("DatabaseName(too long) = %v, want ErrInvalidSlug", err)
	} else if strings.Contains(err.Error(), tooLong) {
		t.Fatalf("error %q echoes the input", err)
	}
	// A long main database name leaves less room for the slug.
	long := tenancy.Naming{MainDB: strings.Repeat("m", 53)}
	if _, err := long.DatabaseName("abc"); !errors.Is(err, tenancy.ErrInvalidSlug) {
		t.Fatalf("DatabaseName under a 53-char MainDB = %v, want ErrInvalidSlug (53+8+3 = 64 bytes)", err)
	}
	if name, err := long.DatabaseName("ab"); err != nil || len(name) != 63 {
		t.Fatalf("DatabaseName(ab) under a 53-char MainDB = %q, %v (53+8+2 = 63 bytes fits)", name, err)
	}

	// Invalid slugs are rejected before any name is built.
	for _, slug := range []string{"", "../etc", "Acme", "a_b", "a'b"} {
		if got, err := n.DatabaseName(slug); !errors.Is(err, tenancy.ErrInvalidSlug) || got != "" {
			t.Errorf("DatabaseName(%q) = %q, %v; want ErrInvalidSlug", slug, got, err)
		}
	}
}

func TestTemplateNameUnreachable(t *testing.T) {
	t.Parallel()
	n := tenancy.Naming{MainDB: "app"}
	tmpl := n.TemplateName()
	if !strings.HasPrefix(tmpl, n.TenantPrefix()) {
		// It shares the prefix so that listing and dropping by prefix sees it.
		t.Fatalf("TemplateName %q does not start with the tenant prefix", tmpl)
	}
	suffix := strings.TrimPrefix(tmpl, n.TenantPrefix())
	// The only slug that could map to it is the suffix with "_" read as "-".
	candidate := strings.ReplaceAll(suffix, "_", "-")
	if tenancy.ValidateSlug(candidate) == nil {
		t.Fatalf("slug %q is valid and would name the template", candidate)
	}
	for _, slug := range []string{"template", "-template", "tenant-template", "template-", "_template"} {
		if name, err := n.DatabaseName(slug); err == nil && name == tmpl {
			t.Fatalf("slug %q reaches the template database %q", slug, tmpl)
		}
	}
	// Exhaustively over short slugs: no valid slug's name holds "__".
	alphabet := "a-_"
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		if name, err := n.DatabaseName(prefix); err == nil {
			if name == tmpl || strings.Contains(strings.TrimPrefix(name, n.TenantPrefix()), "__") {
				t.Fatalf("slug %q gives %q", prefix, name)
			}
		}
		if depth == 0 {
			return
		}
		for _, c := range alphabet {
			walk(prefix+string(c), depth-1)
		}
	}
	walk("", 6)
}

func TestResolver(t *testing.T) {
	t.Parallel()
	header := tenancy.Resolver{Header: "X-Tenant-ID"}
	sub := tenancy.Resolver{Header: "X-Tenant-ID", Subdomains: true, BaseDomain: "localhost"}

	tests := []struct {
		name     string
		resolver tenancy.Resolver
		host     string
		header   string
		want     string
		err      error
		secret   string // must not appear in the error message
	}{
		{name: "header", resolver: header, host: "localhost:8000", header: "acme", want: "acme"},
		{name: "header hyphenated", resolver: header, host: "api.example.com", header: "virgin-voyages", want: "virgin-voyages"},
		{name: "header only: subdomain ignored when disabled", resolver: header, host: "acme.localhost:8000", err: tenancy.ErrTenantRequired},
		{name: "header missing", resolver: header, host: "localhost", err: tenancy.ErrTenantRequired},
		{name: "header wins over subdomain", resolver: sub, host: "other.localhost:8000", header: "acme", want: "acme"},
		{name: "subdomain with port", resolver: sub, host: "acme.localhost:8000", want: "acme"},
		{name: "subdomain without port", resolver: sub, host: "acme.localhost", want: "acme"},
		{name: "subdomain case folded", resolver: sub, host: "ACME.LOCALHOST", want: "acme"},
		{name: "subdomain case folded with port", resolver: sub, host: "Acme.LocalHost:8000", want: "acme"},
		{name: "subdomain trailing dot", resolver: sub, host: "acme.localhost.", want: "acme"},
		{name: "two labels not a tenant", resolver: sub, host: "a.b.localhost", err: tenancy.ErrTenantRequired},
		{name: "base domain alone", resolver: sub, host: "localhost", err: tenancy.ErrTenantRequired},
		{name: "base domain alone with port", resolver: sub, host: "localhost:8000", err: tenancy.ErrTenantRequired},
		{name: "other domain", resolver: sub, host: "evil.com", err: tenancy.ErrTenantRequired},
		{name: "suffix lookalike", resolver: sub, host: "acme.evillocalhost", err: tenancy.ErrTenantRequired},
		{name: "base as subdomain of other", resolver: sub, host: "localhost.evil.com", err: tenancy.ErrTenantRequired},
		{name: "malformed header", resolver: header, host: "localhost", header: "../etc/passwd", err: tenancy.ErrInvalidSlug, secret: "passwd"},
		{name: "malformed header sql", resolver: sub, host: "acme.localhost", header: "x';DROP", err: tenancy.ErrInvalidSlug, secret: "DROP"},
		{name: "uppercase header", resolver: header, host: "localhost", header: "ACME", err: tenancy.ErrInvalidSlug, secret: "ACME"},
		{name: "malformed subdomain", resolver: sub, host: "under_score.localhost", err: tenancy.ErrInvalidSlug, secret: "under_score"},
		{name: "malformed subdomain hyphen", resolver: sub, host: "-bad-.localhost", err: tenancy.ErrInvalidSlug, secret: "-bad-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/users", nil)
			r.Host = tt.host
			if tt.header != "" {
				r.Header.Set("X-Tenant-ID", tt.header)
			}
			got, err := tt.resolver.Resolve(r)
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) || got != "" {
				t.Fatalf("Resolve = %q, %v; want error %v", got, err, tt.err)
			}
			if !tenancy.IsRequestError(err) {
				t.Fatalf("IsRequestError(%v) = false", err)
			}
			msg := err.Error()
			for _, s := range []string{tt.secret, tt.header, tt.host} {
				if s != "" && s != "localhost" && s != "localhost:8000" && strings.Contains(msg, s) {
					t.Fatalf("error %q contains the offending input %q", msg, s)
				}
			}
			if errors.Is(err, tenancy.ErrTenantRequired) && !strings.Contains(msg, "X-Tenant-ID") {
				t.Fatalf("error %q does not name the header", msg)
			}
		})
	}
	if tenancy.IsRequestError(tenancy.ErrTenantNotFound) || tenancy.IsRequestError(nil) {
		t.Fatal("IsRequestError is true for a non-request error")
	}
}

func TestContextHelpers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	if _, err := tenancy.ClientFromContext[*tenantdb.Client](ctx); !errors.Is(err, tenancy.ErrNoTenantInContext) {
		t.Fatalf("ClientFromContext(empty) = %v, want ErrNoTenantInContext", err)
	}
	if _, ok := tenancy.TenantFromContext(ctx); ok {
		t.Fatal("TenantFromContext(empty) ok")
	}
	// A foreign value under a look-alike key is not found either.
	type requestKey struct{}
	if _, err := tenancy.ClientFromContext[*tenantdb.Client](context.WithValue(ctx, requestKey{}, tenantdb.NewClient())); !errors.Is(err, tenancy.ErrNoTenantInContext) {
		t.Fatalf("ClientFromContext(forged key) = %v, want ErrNoTenantInContext", err)
	}

	client := tenantdb.NewClient()
	tn := tenancy.Tenant{ID: "1", Slug: "acme", Database: "app_tenant_acme", Active: true, Status: tenancy.StatusReady}
	ctx = tenancy.NewContext(ctx, tn, client)

	got, err := tenancy.ClientFromContext[*tenantdb.Client](ctx)
	if err != nil || got != client {
		t.Fatalf("ClientFromContext = %p, %v; want %p", got, err, client)
	}
	gotT, ok := tenancy.TenantFromContext(ctx)
	if !ok || gotT != tn {
		t.Fatalf("TenantFromContext = %+v, %v; want %+v", gotT, ok, tn)
	}
	// Asking for another client type is an error, not a zero client.
	if c, err := tenancy.ClientFromContext[*http.Client](ctx); !errors.Is(err, tenancy.ErrNoTenantInContext) || c != nil {
		t.Fatalf("ClientFromContext[wrong type] = %v, %v; want ErrNoTenantInContext", c, err)
	}
	if _, err := tenancy.ClientFromContext[tenancy.Client](ctx); !errors.Is(err, tenancy.ErrNoTenantInContext) {
		t.Fatalf("ClientFromContext[interface] = %v; want ErrNoTenantInContext", err)
	}
	// A nested context sees the innermost tenant.
	other := tenantdb.NewClient()
	inner := tenancy.NewContext(ctx, tenancy.Tenant{Slug: "globex"}, other)
	if got, _ := tenancy.ClientFromContext[*tenantdb.Client](inner); got != other {
		t.Fatal("nested NewContext did not shadow the outer client")
	}
	if got, _ := tenancy.ClientFromContext[*tenantdb.Client](ctx); got != client {
		t.Fatal("outer context changed")
	}
	// Single-tenant mode: the zero Tenant, with ok true.
	single := tenancy.NewContext(context.Background(), tenancy.Tenant{}, client)
	if tn, ok := tenancy.TenantFromContext(single); !ok || tn != (tenancy.Tenant{}) {
		t.Fatalf("TenantFromContext(single) = %+v, %v", tn, ok)
	}
}

func TestServable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		t   tenancy.Tenant
		err error
	}{
		{tenancy.Tenant{Active: true, Status: tenancy.StatusReady}, nil},
		{tenancy.Tenant{Active: false, Status: tenancy.StatusReady}, tenancy.ErrTenantInactive},
		{tenancy.Tenant{Active: true, Status: tenancy.StatusProvisioning}, tenancy.ErrTenantNotReady},
		{tenancy.Tenant{Active: true, Status: tenancy.StatusFailed}, tenancy.ErrTenantNotReady},
		{tenancy.Tenant{Active: true, Status: ""}, tenancy.ErrTenantNotReady},
		{tenancy.Tenant{Active: false, Status: tenancy.StatusFailed}, tenancy.ErrTenantInactive},
	} {
		if err := tenancy.Servable(tt.t); !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("Servable(%+v) = %v, want %v", tt.t, err, tt.err)
		}
	}
}
