package handlers_test

// Tests of tenant management and tenant resolution through the real router
// (app.New wires it exactly as cmd/server does), on PostgreSQL and SQLite.
// Helpers are prefixed "mt" to stay clear of other test files of this
// package.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/config"
	"github.com/tenantkit/tenantkit/internal/app"
	"github.com/tenantkit/tenantkit/internal/logging"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/internal/testlog"
	"github.com/tenantkit/tenantkit/migrations"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// ---------------------------------------------------------------------------
// helpers

// mtApp is a running service on a test environment.
type mtApp struct {
	t   *testing.T
	env testdb.Env
	app *app.App
	h   http.Handler
}

// mtEnviron is the environment of a multi-tenant app on env. Entries of
// extra come first: for a variable listed twice, the first entry wins.
func mtEnviron(env testdb.Env, extra ...string) []string {
	e := append([]string{}, extra...)
	e = append(e, "MULTI_TENANT_ENABLED=true", "LOG_LEVEL=error",
		// Keep each app's share of the server's max_connections small:
		// other packages' tests use the same server at the same time.
		"DB_MAX_OPEN_CONNS=4", "TENANT_CONN_BUDGET=12", "TENANT_POOL_SIZE=2")
	if env.Dialect == dialect.Postgres {
		e = append(e, "DATABASE_URL="+env.URL)
	} else {
		e = append(e, "DATA_DIR="+env.DataDir, "DB_NAME="+env.DBName)
	}
	return e
}

// mtNewApp starts the service on env; it is closed when the test ends
// (before testdb drops the databases: cleanups run last-registered first).
func mtNewApp(t *testing.T, env testdb.Env, extra ...string) *mtApp {
	t.Helper()
	cfg, err := config.Load(mtEnviron(env, extra...), "")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &testlog.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := app.New(ctx, cfg, logging.New(logs, cfg))
	if err != nil {
		t.Fatalf("app.New: %v\nlog:\n%s", err, logs)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("app.Close: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return &mtApp{t: t, env: env, app: a, h: a.Handler}
}

// mtRequest builds a request. body: nil, string or []byte (sent as is),
// io.Reader (streamed, no Content-Length), or anything else (JSON-encoded).
// hdr holds name/value pairs; "Host" sets the request's host.
func mtRequest(t testing.TB, method, path string, body any, hdr ...string) *http.Request {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal body: %v", err)
		}
		r = bytes.NewReader(js)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(hdr)%2 != 0 {
		t.Fatalf("mtRequest: odd header list %q", hdr)
	}
	for i := 0; i < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// do serves one request through the app's router.
func (m *mtApp) do(method, path string, body any, hdr ...string) *httptest.ResponseRecorder {
	m.t.Helper()
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, mtRequest(m.t, method, path, body, hdr...))
	return rec
}

// mtStatus fails the test unless rec has status want.
func mtStatus(t testing.TB, rec *httptest.ResponseRecorder, want int, what string) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("%s: status %d, want %d; body: %s", what, rec.Code, want, rec.Body.String())
	}
}

// mtDecode decodes rec's JSON body into a T.
func mtDecode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, rec.Body.String(), err)
	}
	return v
}

type mtErrorBody struct {
	Error struct {
		Code      string            `json:"code"`
		Message   string            `json:"message"`
		Fields    map[string]string `json:"fields"`
		RequestID string            `json:"request_id"`
	} `json:"error"`
}

// mtError checks that rec is an error of status and code in the API's shape,
// and returns its body.
func mtError(t testing.TB, rec *httptest.ResponseRecorder, status int, code, what string) mtErrorBody {
	t.Helper()
	mtStatus(t, rec, status, what)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	e := mtDecode[mtErrorBody](t, rec)
	if e.Error.Code != code {
		t.Fatalf("%s: error code %q, want %q; body: %s", what, e.Error.Code, code, rec.Body.String())
	}
	if e.Error.Message == "" {
		t.Errorf("%s: error without a message: %s", what, rec.Body.String())
	}
	return e
}

// mtTenant is the tenant JSON.
type mtTenant struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Slug          string `json:"slug"`
	Description   string `json:"description"`
	IsActive      bool   `json:"is_active"`
	Database      string `json:"database"`
	Status        string `json:"status"`
	StatusError   string `json:"status_error"`
	SchemaVersion string `json:"schema_version"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

type mtUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// createTenant registers a tenant and expects 201.
func (m *mtApp) createTenant(name, slug string, hdr ...string) mtTenant {
	m.t.Helper()
	rec := m.do(http.MethodPost, "/api/v1/tenants", map[string]string{"name": name, "slug": slug, "description": "tenant " + slug}, hdr...)
	mtStatus(m.t, rec, http.StatusCreated, "create tenant "+slug)
	return mtDecode[mtTenant](m.t, rec)
}

// createUser creates a user in the tenant named by the header and expects 201.
func (m *mtApp) createUser(slug, email string) mtUser {
	m.t.Helper()
	rec := m.do(http.MethodPost, "/api/v1/users", map[string]string{"email": email, "name": "User " + email}, "X-Tenant-ID", slug)
	mtStatus(m.t, rec, http.StatusCreated, "create user "+email+" in "+slug)
	return mtDecode[mtUser](m.t, rec)
}

// listUsers lists the users of a tenant and expects 200.
func (m *mtApp) listUsers(slug string) []mtUser {
	m.t.Helper()
	rec := m.do(http.MethodGet, "/api/v1/users?limit=500", nil, "X-Tenant-ID", slug)
	mtStatus(m.t, rec, http.StatusOK, "list users of "+slug)
	return mtDecode[[]mtUser](m.t, rec)
}

func mtCtx(t testing.TB) context.Context {
	t.Helper()
	return testdb.Context(t, time.Minute)
}

// mtTenantDBs lists the databases named like this test's tenant databases
// (the template included).
func mtTenantDBs(t testing.TB, env testdb.Env) []string {
	t.Helper()
	names, err := env.Server.List(mtCtx(t), env.DBName+"_tenant_")
	if err != nil {
		t.Fatalf("list databases: %v", err)
	}
	return names
}

func mtExists(t testing.TB, env testdb.Env, name string) bool {
	t.Helper()
	ok, err := env.Server.Exists(mtCtx(t), name)
	if err != nil {
		t.Fatalf("exists %s: %v", name, err)
	}
	return ok
}

// mtWithDB runs fn on a short-lived pool of database name, which must exist.
func mtWithDB(t testing.TB, env testdb.Env, name string, fn func(ctx context.Context, db *sql.DB)) {
	t.Helper()
	if !mtExists(t, env, name) {
		t.Fatalf("database %s does not exist", name)
	}
	ctx := mtCtx(t)
	db, err := env.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 1, MaxIdle: 1})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer db.Close()
	fn(ctx, db)
}

// mtCountUsers counts the rows of the users table of database name.
func mtCountUsers(t testing.TB, env testdb.Env, name string) int {
	t.Helper()
	var n int
	mtWithDB(t, env, name, func(ctx context.Context, db *sql.DB) {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Fatalf("count users in %s: %v", name, err)
		}
	})
	return n
}

// mtLatestTenantVersion is the newest tenant migration of env's dialect.
func mtLatestTenantVersion(t testing.TB, env testdb.Env) string {
	t.Helper()
	dir, err := migrations.Dir(migrations.Tenant, env.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dbmigrate.LatestVersion(dir)
	if err != nil || v == "" {
		t.Fatalf("latest tenant version %q: %v", v, err)
	}
	return v
}

// mtMigrationState is the migration state of tenant database name.
func mtMigrationState(t testing.TB, env testdb.Env, name string) dbmigrate.State {
	t.Helper()
	dir, err := migrations.Dir(migrations.Tenant, env.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	if !mtExists(t, env, name) {
		t.Fatalf("database %s does not exist", name)
	}
	ctx := mtCtx(t)
	db, err := env.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 1, MaxIdle: 1})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer db.Close()
	st, err := dbmigrate.Status(ctx, db, env.Dialect, dir)
	if err != nil {
		t.Fatalf("migration status of %s: %v", name, err)
	}
	return st
}

// mtDBName is the database name the SPEC gives the tenant of slug.
func mtDBName(env testdb.Env, slug string) string {
	return env.DBName + "_tenant_" + strings.ReplaceAll(slug, "-", "_")
}

// mtCheckTenant checks every field of a tenant's JSON.
func mtCheckTenant(t testing.TB, env testdb.Env, raw []byte, name, slug, description string, active bool) mtTenant {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("tenant JSON %s: %v", raw, err)
	}
	for _, k := range []string{"id", "name", "slug", "description", "is_active", "database", "status", "schema_version", "created_at", "updated_at"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("tenant JSON lacks %q: %s", k, raw)
		}
	}
	var tn mtTenant
	if err := json.Unmarshal(raw, &tn); err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(tn.ID); err != nil {
		t.Errorf("id %q is not a UUID", tn.ID)
	}
	if tn.Name != name || tn.Slug != slug || tn.Description != description || tn.IsActive != active {
		t.Errorf("tenant = %+v, want name %q slug %q description %q is_active %v", tn, name, slug, description, active)
	}
	if want := mtDBName(env, slug); tn.Database != want {
		t.Errorf("database = %q, want %q", tn.Database, want)
	}
	if tn.Status != "ready" {
		t.Errorf("status = %q, want ready", tn.Status)
	}
	if want := mtLatestTenantVersion(t, env); tn.SchemaVersion != want {
		t.Errorf("schema_version = %q, want %q", tn.SchemaVersion, want)
	}
	created, err1 := time.Parse(time.RFC3339, tn.CreatedAt)
	updated, err2 := time.Parse(time.RFC3339, tn.UpdatedAt)
	if err1 != nil || err2 != nil {
		t.Errorf("created_at %q / updated_at %q are not RFC 3339: %v %v", tn.CreatedAt, tn.UpdatedAt, err1, err2)
	} else if updated.Before(created) {
		t.Errorf("updated_at %s before created_at %s", updated, created)
	}
	return tn
}

// mtLeaks fails if a response body shows something of the server's insides.
func mtLeaks(t testing.TB, env testdb.Env, body string, extra ...string) {
	t.Helper()
	needles := append([]string{"pq:", "postgres://", "postgresql://", "sqlite", "SQL", "CREATE", "already exists",
		"goroutine", "panic", ".go:", "password"}, extra...)
	if env.DataDir != "" {
		needles = append(needles, env.DataDir)
	}
	for _, n := range needles {
		if n != "" && strings.Contains(body, n) {
			t.Errorf("response shows %q: %s", n, body)
		}
	}
}

// ---------------------------------------------------------------------------
// 1. registry lifecycle

func TestTenantRegistryLifecycle(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)

		// Create through /api/v1/tenants.
		rec := m.do(http.MethodPost, "/api/v1/tenants", map[string]string{"name": "Acme Corp", "slug": "acme-corp", "description": "The first tenant"})
		mtStatus(t, rec, http.StatusCreated, "create acme-corp")
		acme := mtCheckTenant(t, env, rec.Body.Bytes(), "Acme Corp", "acme-corp", "The first tenant", true)
		if got, want := acme.Database, env.DBName+"_tenant_acme_corp"; got != want {
			t.Fatalf("database %q, want %q", got, want)
		}
		if loc := rec.Header().Get("Location"); loc != "/api/v1/tenants/"+acme.ID {
			t.Errorf("Location = %q", loc)
		}
		if !mtExists(t, env, acme.Database) {
			t.Fatalf("database %s was not created", acme.Database)
		}
		if st := mtMigrationState(t, env, acme.Database); st.Current != st.Latest || len(st.Pending) != 0 {
			t.Fatalf("tenant database not at the latest migration: %+v", st)
		}

		// The seed's alias, with its trailing slash, served directly.
		rec = m.do(http.MethodPost, "/api/tenants/", `{"name": "Virgin Voyages", "slug": "virgin-voyages", "description": "A VV tenant"}`)
		mtStatus(t, rec, http.StatusCreated, "create through /api/tenants/")
		vv := mtCheckTenant(t, env, rec.Body.Bytes(), "Virgin Voyages", "virgin-voyages", "A VV tenant", true)
		if vv.Database != env.DBName+"_tenant_virgin_voyages" || !mtExists(t, env, vv.Database) {
			t.Fatalf("virgin-voyages database %q missing", vv.Database)
		}
		// The alias without the slash is served too (a duplicate: 409).
		mtError(t, m.do(http.MethodPost, "/api/tenants", map[string]string{"name": "VV", "slug": "virgin-voyages"}), http.StatusConflict, "conflict", "duplicate through /api/tenants")
		// And /api/v1/tenants/ with its slash.
		rec = m.do(http.MethodPost, "/api/v1/tenants/", map[string]string{"name": "Third", "slug": "third"})
		mtStatus(t, rec, http.StatusCreated, "create through /api/v1/tenants/")
		third := mtCheckTenant(t, env, rec.Body.Bytes(), "Third", "third", "", true)

		// List: all, paged, filtered, bounds.
		ids := func(path string) []string {
			t.Helper()
			rec := m.do(http.MethodGet, path, nil)
			mtStatus(t, rec, http.StatusOK, "GET "+path)
			var out []string
			for _, tn := range mtDecode[[]mtTenant](t, rec) {
				out = append(out, tn.Slug)
			}
			return out
		}
		for _, p := range []string{"/api/v1/tenants", "/api/v1/tenants/"} {
			if got := ids(p); !slices.Equal(got, []string{"acme-corp", "virgin-voyages", "third"}) {
				t.Errorf("GET %s = %v, want all three oldest first", p, got)
			}
		}
		if got := ids("/api/v1/tenants?limit=1"); !slices.Equal(got, []string{"acme-corp"}) {
			t.Errorf("limit=1: %v", got)
		}
		if got := ids("/api/v1/tenants?limit=1&offset=1"); !slices.Equal(got, []string{"virgin-voyages"}) {
			t.Errorf("limit=1&offset=1: %v", got)
		}
		if got := ids("/api/v1/tenants?offset=3"); len(got) != 0 {
			t.Errorf("offset=3: %v", got)
		}
		if got := ids("/api/v1/tenants?limit=500"); len(got) != 3 {
			t.Errorf("limit=500: %v", got)
		}
		for _, q := range []string{"limit=0", "limit=501", "limit=-1", "limit=abc", "offset=-1", "offset=x", "is_active=maybe"} {
			mtError(t, m.do(http.MethodGet, "/api/v1/tenants?"+q, nil), http.StatusUnprocessableEntity, "validation_failed", q)
		}

		// Get by id and by slug; unknown and malformed ones are 404.
		rec = m.do(http.MethodGet, "/api/v1/tenants/"+acme.ID, nil)
		mtStatus(t, rec, http.StatusOK, "get by id")
		mtCheckTenant(t, env, rec.Body.Bytes(), "Acme Corp", "acme-corp", "The first tenant", true)
		rec = m.do(http.MethodGet, "/api/v1/tenants/"+acme.ID+"/", nil)
		mtStatus(t, rec, http.StatusOK, "get by id with slash")
		rec = m.do(http.MethodGet, "/api/v1/tenants/slug/virgin-voyages", nil)
		mtStatus(t, rec, http.StatusOK, "get by slug")
		if got := mtDecode[mtTenant](t, rec); got.ID != vv.ID {
			t.Errorf("by slug: id %s, want %s", got.ID, vv.ID)
		}
		mtStatus(t, m.do(http.MethodGet, "/api/v1/tenants/slug/virgin-voyages/", nil), http.StatusOK, "get by slug with slash")
		for _, p := range []string{
			"/api/v1/tenants/" + uuid.NewString(),
			"/api/v1/tenants/not-a-uuid",
			"/api/v1/tenants/" + strings.ToUpper(acme.ID) + "x",
			"/api/v1/tenants/slug/nobody",
			"/api/v1/tenants/slug/Acme-Corp",
			"/api/v1/tenants/slug/acme_corp",
			"/api/v1/tenants/slug/%27%3B%20DROP%20TABLE%20tenants%3B--",
		} {
			mtError(t, m.do(http.MethodGet, p, nil), http.StatusNotFound, "tenant_not_found", "GET "+p)
		}

		// A user, to see that deactivation keeps the data.
		alice := m.createUser("acme-corp", "alice@example.com")

		// Update.
		rec = m.do(http.MethodPut, "/api/v1/tenants/"+acme.ID, map[string]any{"name": "Acme Corporation", "description": "renamed"})
		mtStatus(t, rec, http.StatusOK, "PUT name/description")
		upd := mtCheckTenant(t, env, rec.Body.Bytes(), "Acme Corporation", "acme-corp", "renamed", true)
		if upd.CreatedAt != acme.CreatedAt {
			t.Errorf("created_at changed: %s -> %s", acme.CreatedAt, upd.CreatedAt)
		}
		if u0, _ := time.Parse(time.RFC3339, acme.UpdatedAt); !mustTime(t, upd.UpdatedAt).After(u0) {
			t.Errorf("updated_at did not move: %s -> %s", acme.UpdatedAt, upd.UpdatedAt)
		}
		rec = m.do(http.MethodPut, "/api/v1/tenants/"+acme.ID, map[string]any{"slug": "acme-corp", "description": ""})
		mtStatus(t, rec, http.StatusOK, "PUT with the same slug")
		mtCheckTenant(t, env, rec.Body.Bytes(), "Acme Corporation", "acme-corp", "", true)
		e := mtError(t, m.do(http.MethodPut, "/api/v1/tenants/"+acme.ID, map[string]any{"slug": "acme-two"}), http.StatusUnprocessableEntity, "validation_failed", "PUT with another slug")
		if _, ok := e.Error.Fields["slug"]; !ok {
			t.Errorf("slug change refused without naming the field: %+v", e)
		}
		mtError(t, m.do(http.MethodPut, "/api/v1/tenants/"+acme.ID, map[string]any{"name": ""}), http.StatusUnprocessableEntity, "validation_failed", "PUT empty name")
		mtError(t, m.do(http.MethodPut, "/api/v1/tenants/"+acme.ID, `{"name":`), http.StatusBadRequest, "invalid_request", "PUT malformed JSON")
		mtError(t, m.do(http.MethodPut, "/api/v1/tenants/"+uuid.NewString(), map[string]any{"name": "x"}), http.StatusNotFound, "tenant_not_found", "PUT unknown id")
		mtError(t, m.do(http.MethodPut, "/api/v1/tenants/nope", map[string]any{"name": "x"}), http.StatusNotFound, "tenant_not_found", "PUT malformed id")
		rec = m.do(http.MethodGet, "/api/v1/tenants/"+acme.ID, nil)
		if got := mtDecode[mtTenant](t, rec); got.Slug != "acme-corp" || got.Name != "Acme Corporation" || got.Database != acme.Database {
			t.Errorf("after the refused slug change: %+v", got)
		}

		// PUT is_active, both ways.
		rec = m.do(http.MethodPut, "/api/v1/tenants/"+third.ID, map[string]any{"is_active": false})
		mtStatus(t, rec, http.StatusOK, "PUT is_active false")
		if got := mtDecode[mtTenant](t, rec); got.IsActive {
			t.Errorf("PUT is_active false: %+v", got)
		}
		rec = m.do(http.MethodPut, "/api/v1/tenants/"+third.ID, map[string]any{"is_active": true})
		mtStatus(t, rec, http.StatusOK, "PUT is_active true")
		if got := mtDecode[mtTenant](t, rec); !got.IsActive {
			t.Errorf("PUT is_active true: %+v", got)
		}

		// DELETE deactivates and keeps the data.
		rec = m.do(http.MethodDelete, "/api/v1/tenants/"+acme.ID, nil)
		mtStatus(t, rec, http.StatusOK, "DELETE")
		del := mtCheckTenant(t, env, rec.Body.Bytes(), "Acme Corporation", "acme-corp", "", false)
		if del.ID != acme.ID {
			t.Errorf("DELETE answered another tenant: %+v", del)
		}
		if !mtExists(t, env, acme.Database) {
			t.Fatalf("DELETE dropped the database")
		}
		if n := mtCountUsers(t, env, acme.Database); n != 1 {
			t.Errorf("users in the deactivated tenant's database: %d, want 1", n)
		}
		mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "acme-corp"), http.StatusForbidden, "tenant_inactive", "users of a deactivated tenant")
		rec = m.do(http.MethodGet, "/api/v1/tenants/"+acme.ID, nil)
		mtStatus(t, rec, http.StatusOK, "GET deactivated tenant")
		if mtDecode[mtTenant](t, rec).IsActive {
			t.Errorf("GET after DELETE still active")
		}
		if got := ids("/api/v1/tenants?is_active=false"); !slices.Equal(got, []string{"acme-corp"}) {
			t.Errorf("is_active=false: %v", got)
		}
		if got := ids("/api/v1/tenants?is_active=true"); !slices.Equal(got, []string{"virgin-voyages", "third"}) {
			t.Errorf("is_active=true: %v", got)
		}
		if got := ids("/api/v1/tenants"); len(got) != 3 {
			t.Errorf("unfiltered list after DELETE: %v", got)
		}
		mtError(t, m.do(http.MethodDelete, "/api/v1/tenants/"+uuid.NewString(), nil), http.StatusNotFound, "tenant_not_found", "DELETE unknown")
		mtError(t, m.do(http.MethodDelete, "/api/v1/tenants/12345", nil), http.StatusNotFound, "tenant_not_found", "DELETE malformed")
		// Deleting again is harmless.
		mtStatus(t, m.do(http.MethodDelete, "/api/v1/tenants/"+acme.ID+"/", nil), http.StatusOK, "DELETE again")

		// Reactivation: the same data is served again.
		rec = m.do(http.MethodPut, "/api/v1/tenants/"+acme.ID, map[string]any{"is_active": true})
		mtStatus(t, rec, http.StatusOK, "reactivate")
		if !mtDecode[mtTenant](t, rec).IsActive {
			t.Fatalf("reactivation did not stick")
		}
		us := m.listUsers("acme-corp")
		if len(us) != 1 || us[0].ID != alice.ID || us[0].Email != "alice@example.com" {
			t.Errorf("users after reactivation: %+v, want alice", us)
		}
	})
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

// ---------------------------------------------------------------------------
// 2. validation

func TestTenantValidation(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		before := mtTenantDBs(t, env)
		maxSlug := 63 - len(env.DBName+"_tenant_")

		slugs := map[string]string{
			"uppercase":             "Acme",
			"all uppercase":         "ACME",
			"underscore":            "acme_corp",
			"leading hyphen":        "-acme",
			"trailing hyphen":       "acme-",
			"double hyphen":         "ac--me",
			"space":                 "acme corp",
			"leading space":         " acme",
			"newline":               "acme\n",
			"dot":                   "acme.corp",
			"non-ASCII":             "acmé",
			"too long for the name": strings.Repeat("a", maxSlug+1),
			"too long by far":       strings.Repeat("a", 64),
			"reserved admin":        "admin",
			"reserved www":          "www",
			"reserved template":     "template",
			"sql injection 1":       `'; DROP DATABASE postgres; --`,
			"sql injection 2":       `acme"; DROP TABLE tenants; --`,
			"sql injection 3":       `x' OR '1'='1`,
			"path traversal":        "../x",
			"path traversal 2":      "..",
			"slash":                 "a/b",
			"NUL":                   "acme\x00",
			"empty":                 "",
		}
		for what, slug := range slugs {
			rec := m.do(http.MethodPost, "/api/v1/tenants", map[string]string{"name": "Some Name", "slug": slug})
			e := mtError(t, rec, http.StatusUnprocessableEntity, "validation_failed", "slug "+what)
			if _, ok := e.Error.Fields["slug"]; !ok {
				t.Errorf("slug %s: fields %v do not name slug", what, e.Error.Fields)
			}
		}
		// The alias validates the same way.
		mtError(t, m.do(http.MethodPost, "/api/tenants/", map[string]string{"name": "x", "slug": "../x"}), http.StatusUnprocessableEntity, "validation_failed", "alias bad slug")

		bodies := []struct {
			what   string
			body   any
			status int
			code   string
		}{
			{"name missing", map[string]string{"slug": "ok-slug"}, 422, "validation_failed"},
			{"name empty", map[string]string{"name": "", "slug": "ok-slug"}, 422, "validation_failed"},
			{"name blank", map[string]string{"name": "   ", "slug": "ok-slug"}, 422, "validation_failed"},
			{"name too long", map[string]string{"name": strings.Repeat("n", 201), "slug": "ok-slug"}, 422, "validation_failed"},
			{"description too long", map[string]string{"name": "x", "slug": "ok-slug", "description": strings.Repeat("d", 2001)}, 422, "validation_failed"},
			{"name of wrong type", `{"name": 5, "slug": "ok-slug"}`, 422, "validation_failed"},
			{"unknown field", `{"name": "x", "slug": "ok-slug", "database": "postgres"}`, 422, "validation_failed"},
			{"malformed JSON", `{"name": "x", "slug": `, 400, "invalid_request"},
			{"not JSON", `name=x&slug=ok-slug`, 400, "invalid_request"},
			{"array", `[{"name": "x", "slug": "ok-slug"}]`, 400, "invalid_request"},
			{"two objects", `{"name": "x", "slug": "ok-slug"} {}`, 400, "invalid_request"},
			{"empty body", ``, 400, "invalid_request"},
		}
		for _, b := range bodies {
			rec := m.do(http.MethodPost, "/api/v1/tenants", b.body)
			mtError(t, rec, b.status, b.code, b.what)
		}

		// Bodies over 1 MiB: announced by Content-Length, and streamed.
		big := []byte(`{"name": "` + strings.Repeat("a", 1<<20) + `", "slug": "big"}`)
		mtError(t, m.do(http.MethodPost, "/api/v1/tenants", big), http.StatusRequestEntityTooLarge, "body_too_large", "1 MiB body")
		mtError(t, m.do(http.MethodPost, "/api/v1/tenants", io.MultiReader(bytes.NewReader(big))), http.StatusRequestEntityTooLarge, "body_too_large", "streamed 1 MiB body")
		mtError(t, m.do(http.MethodPost, "/api/tenants/", big), http.StatusRequestEntityTooLarge, "body_too_large", "1 MiB body on the alias")

		// Nothing was created by any of it.
		if after := mtTenantDBs(t, env); !slices.Equal(before, after) {
			t.Fatalf("databases changed by refused requests: %v -> %v", before, after)
		}
		rec := m.do(http.MethodGet, "/api/v1/tenants", nil)
		if got := mtDecode[[]mtTenant](t, rec); len(got) != 0 {
			t.Fatalf("refused requests registered tenants: %+v", got)
		}

		// The boundaries are accepted: the longest slug whose database name
		// fits 63 bytes, and a name of 200 characters.
		longest := strings.Repeat("a", maxSlug-2) + "-b"
		name200 := strings.Repeat("n", 200)
		tn := m.createTenant(name200, longest)
		if len(tn.Database) != 63 || tn.Database != mtDBName(env, longest) || !mtExists(t, env, tn.Database) {
			t.Fatalf("longest slug: database %q (%d bytes)", tn.Database, len(tn.Database))
		}
		m.createUser(longest, "edge@example.com")
	})
}

// Names and descriptions are bounded in characters: 200 non-ASCII
// characters are a valid name.
func TestTenantNonASCIIText(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		name := strings.Repeat("é", 200)
		desc := strings.Repeat("日", 2000)
		rec := m.do(http.MethodPost, "/api/v1/tenants", map[string]string{"name": name, "slug": "accents", "description": desc})
		mtStatus(t, rec, http.StatusCreated, "200-character non-ASCII name")
		tn := mtCheckTenant(t, env, rec.Body.Bytes(), name, "accents", desc, true)
		rec = m.do(http.MethodPut, "/api/v1/tenants/"+tn.ID, map[string]string{"name": strings.Repeat("ü", 200)})
		mtStatus(t, rec, http.StatusOK, "PUT 200-character non-ASCII name")
		mtError(t, m.do(http.MethodPut, "/api/v1/tenants/"+tn.ID, map[string]string{"name": strings.Repeat("ü", 201)}), http.StatusUnprocessableEntity, "validation_failed", "201 characters")
	})
}

// ---------------------------------------------------------------------------
// 3. duplicates

func TestTenantDuplicateSlug(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		first := m.createTenant("Dup", "dup")
		rec := m.do(http.MethodPost, "/api/v1/tenants", map[string]string{"name": "Dup again", "slug": "dup"})
		mtError(t, rec, http.StatusConflict, "conflict", "duplicate slug")
		mtError(t, m.do(http.MethodPost, "/api/tenants/", map[string]string{"name": "Dup again", "slug": "dup"}), http.StatusConflict, "conflict", "duplicate slug on the alias")
		rec = m.do(http.MethodGet, "/api/v1/tenants/slug/dup", nil)
		if got := mtDecode[mtTenant](t, rec); got.ID != first.ID || got.Name != "Dup" || got.Status != "ready" {
			t.Fatalf("the duplicate changed the first tenant: %+v", got)
		}

		// Ten concurrent creates of one slug.
		const n = 10
		codes := make([]int, n)
		bodies := make([]string, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				rec := httptest.NewRecorder()
				body := fmt.Sprintf(`{"name": "Racer %d", "slug": "race"}`, i)
				req := httptest.NewRequest(http.MethodPost, "/api/v1/tenants", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				m.h.ServeHTTP(rec, req)
				codes[i], bodies[i] = rec.Code, rec.Body.String()
			}()
		}
		close(start)
		wg.Wait()
		created, conflicts := 0, 0
		for i, c := range codes {
			switch c {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				conflicts++
			default:
				t.Errorf("concurrent create %d: %d %s", i, c, bodies[i])
			}
		}
		if created != 1 || conflicts != n-1 {
			t.Fatalf("concurrent creates: %d created, %d conflicts; want 1 and %d (codes %v)", created, conflicts, n-1, codes)
		}
		var dbs []string
		for _, d := range mtTenantDBs(t, env) {
			if d == mtDBName(env, "race") {
				dbs = append(dbs, d)
			}
		}
		if len(dbs) != 1 {
			t.Fatalf("databases of slug race: %v", dbs)
		}
		rec = m.do(http.MethodGet, "/api/v1/tenants?limit=500", nil)
		races := 0
		for _, tn := range mtDecode[[]mtTenant](t, rec) {
			if tn.Slug == "race" {
				races++
				if tn.Status != "ready" {
					t.Errorf("race tenant status %q", tn.Status)
				}
			}
		}
		if races != 1 {
			t.Fatalf("%d registry rows for slug race", races)
		}
		m.createUser("race", "winner@example.com")
	})
}

// Tenants of different slugs created at the same time are all provisioned
// (on PostgreSQL they are cloned from one template at once).
func TestTenantConcurrentCreatesDistinct(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		slugs := []string{"one", "two", "three", "four", "five"}
		recs := make([]*httptest.ResponseRecorder, len(slugs))
		var wg sync.WaitGroup
		for i, slug := range slugs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				recs[i] = httptest.NewRecorder()
				m.h.ServeHTTP(recs[i], mtRequest(t, http.MethodPost, "/api/v1/tenants", fmt.Sprintf(`{"name": "T %s", "slug": %q}`, slug, slug)))
			}()
		}
		wg.Wait()
		for i, slug := range slugs {
			mtStatus(t, recs[i], http.StatusCreated, "concurrent create "+slug)
			mtCheckTenant(t, env, recs[i].Body.Bytes(), "T "+slug, slug, "", true)
			m.createUser(slug, slug+"@example.com")
			if n := mtCountUsers(t, env, mtDBName(env, slug)); n != 1 {
				t.Errorf("%s: %d users", slug, n)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// 4. isolation

func TestTenantIsolation(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		a := m.createTenant("Alpha", "alpha")
		b := m.createTenant("Beta", "beta")

		alice := m.createUser("alpha", "alice@example.com")
		m.createUser("alpha", "amy@example.com")
		bob := m.createUser("beta", "bob@example.com")
		// Emails are unique within a tenant, not across tenants.
		aliceB := m.createUser("beta", "alice@example.com")
		m.createUser("beta", "bea@example.com")
		mtError(t, m.do(http.MethodPost, "/api/v1/users", map[string]string{"email": "alice@example.com", "name": "again"}, "X-Tenant-ID", "alpha"), http.StatusConflict, "conflict", "duplicate email within a tenant")

		emails := func(us []mtUser) []string {
			var out []string
			for _, u := range us {
				out = append(out, u.Email)
			}
			slices.Sort(out)
			return out
		}
		if got := emails(m.listUsers("alpha")); !slices.Equal(got, []string{"alice@example.com", "amy@example.com"}) {
			t.Errorf("alpha lists %v", got)
		}
		if got := emails(m.listUsers("beta")); !slices.Equal(got, []string{"alice@example.com", "bea@example.com", "bob@example.com"}) {
			t.Errorf("beta lists %v", got)
		}

		// One tenant's ids mean nothing in another.
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			var body any
			if method == http.MethodPut {
				body = map[string]string{"name": "hijacked"}
			}
			mtError(t, m.do(method, "/api/v1/users/"+alice.ID, body, "X-Tenant-ID", "beta"), http.StatusNotFound, "not_found", method+" alpha's user as beta")
			mtError(t, m.do(method, "/api/v1/users/"+bob.ID, body, "X-Tenant-ID", "alpha"), http.StatusNotFound, "not_found", method+" beta's user as alpha")
		}
		rec := m.do(http.MethodGet, "/api/v1/users/"+alice.ID, nil, "X-Tenant-ID", "alpha")
		mtStatus(t, rec, http.StatusOK, "alpha's user as alpha")
		if got := mtDecode[mtUser](t, rec); got.Name != "User alice@example.com" {
			t.Errorf("alpha's alice was changed through beta: %+v", got)
		}
		if aliceB.ID == alice.ID {
			t.Errorf("two tenants' users share an id")
		}

		// In the databases themselves.
		if n := mtCountUsers(t, env, a.Database); n != 2 {
			t.Errorf("alpha's database holds %d users, want 2", n)
		}
		if n := mtCountUsers(t, env, b.Database); n != 3 {
			t.Errorf("beta's database holds %d users, want 3", n)
		}
		if n := mtCountUsers(t, env, env.DBName); n != 0 {
			t.Errorf("the main database holds %d users, want 0", n)
		}
		mtWithDB(t, env, a.Database, func(ctx context.Context, db *sql.DB) {
			var n int
			q := `SELECT count(*) FROM users WHERE email = $1`
			if env.Dialect == dialect.SQLite {
				q = `SELECT count(*) FROM users WHERE email = ?`
			}
			if err := db.QueryRowContext(ctx, q, "bob@example.com").Scan(&n); err != nil || n != 0 {
				t.Errorf("beta's bob in alpha's database: %d %v", n, err)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// 5. tenant resolution

func TestTenantResolutionErrors(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		acme := m.createTenant("Acme", "acme")
		m.createUser("acme", "a@example.com")
		before := mtTenantDBs(t, env)

		e := mtError(t, m.do(http.MethodGet, "/api/v1/users", nil), http.StatusBadRequest, "tenant_required", "no header")
		if !strings.Contains(e.Error.Message, "X-Tenant-ID") {
			t.Errorf("missing-header message does not name the header: %q", e.Error.Message)
		}
		mtError(t, m.do(http.MethodPost, "/api/v1/users", map[string]string{"email": "x@example.com", "name": "x"}), http.StatusBadRequest, "tenant_required", "POST without header")

		for _, v := range []string{"Acme", "acme_corp", "../acme", "acme;drop", "-acme", "ac--me", `'; DROP DATABASE postgres; --`, strings.Repeat("a", 64), "ümlaut"} {
			e := mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", v), http.StatusBadRequest, "invalid_tenant", "malformed "+v)
			if strings.Contains(e.Error.Message, v) {
				t.Errorf("the error echoes the malformed tenant %q: %q", v, e.Error.Message)
			}
		}
		mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "nobody"), http.StatusNotFound, "tenant_not_found", "unknown tenant")
		mtError(t, m.do(http.MethodPost, "/api/v1/users", map[string]string{"email": "x@example.com", "name": "x"}, "X-Tenant-ID", "nobody"), http.StatusNotFound, "tenant_not_found", "POST to unknown tenant")

		// The main and template databases are never a tenant.
		main := env.DBName
		template := env.DBName + "_tenant__template"
		if !slices.Contains(before, template) {
			t.Logf("note: no template database (%v)", before)
		}
		for _, v := range []string{main, template, "_template", "-template", "tenant--template", "tenant-template", "template", "main", "postgres", "app", "master", "public", "default"} {
			rec := m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", v)
			if rec.Code != http.StatusBadRequest && rec.Code != http.StatusNotFound {
				t.Errorf("X-Tenant-ID %q: %d %s, want 400 or 404", v, rec.Code, rec.Body.String())
			}
		}
		if n := mtCountUsers(t, env, main); n != 0 {
			t.Errorf("main database has %d users", n)
		}
		// None of the lookups created a database (a SQLite open would).
		if after := mtTenantDBs(t, env); !slices.Equal(before, after) {
			t.Errorf("tenant lookups changed the databases: %v -> %v", before, after)
		}

		// Deactivated: 403 at once; reactivated: 200 at once.
		mtStatus(t, m.do(http.MethodDelete, "/api/v1/tenants/"+acme.ID, nil), http.StatusOK, "deactivate")
		mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "acme"), http.StatusForbidden, "tenant_inactive", "deactivated")
		mtError(t, m.do(http.MethodPost, "/api/v1/users", map[string]string{"email": "y@example.com", "name": "y"}, "X-Tenant-ID", "acme"), http.StatusForbidden, "tenant_inactive", "write to deactivated")
		mtStatus(t, m.do(http.MethodPut, "/api/v1/tenants/"+acme.ID, map[string]any{"is_active": true}), http.StatusOK, "reactivate")
		if us := m.listUsers("acme"); len(us) != 1 {
			t.Errorf("after reactivation: %+v", us)
		}
		if n := mtCountUsers(t, env, acme.Database); n != 1 {
			t.Errorf("the write to the deactivated tenant went through: %d users", n)
		}
	})
}

func TestTenantResolutionSubdomain(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env, "TENANT_SUBDOMAIN_ENABLED=true", "TENANT_BASE_DOMAIN=example.test")
		acme := m.createTenant("Acme", "acme")
		beta := m.createTenant("Beta", "beta")
		m.createUser("beta", "b@example.com")

		rec := m.do(http.MethodPost, "/api/v1/users", map[string]string{"email": "sub@example.com", "name": "Sub"}, "Host", "acme.example.test:8000")
		mtStatus(t, rec, http.StatusCreated, "create through the subdomain")
		for _, host := range []string{"acme.example.test:8000", "acme.example.test", "ACME.Example.Test:8000", "acme.example.test."} {
			rec := m.do(http.MethodGet, "/api/v1/users", nil, "Host", host)
			mtStatus(t, rec, http.StatusOK, "Host "+host)
			if us := mtDecode[[]mtUser](t, rec); len(us) != 1 || us[0].Email != "sub@example.com" {
				t.Errorf("Host %s lists %+v, want acme's user", host, us)
			}
		}
		if n := mtCountUsers(t, env, acme.Database); n != 1 {
			t.Errorf("acme's database holds %d users", n)
		}
		if n := mtCountUsers(t, env, beta.Database); n != 1 {
			t.Errorf("beta's database holds %d users", n)
		}

		// The header wins over the subdomain, also when it is malformed.
		rec = m.do(http.MethodGet, "/api/v1/users", nil, "Host", "acme.example.test:8000", "X-Tenant-ID", "beta")
		mtStatus(t, rec, http.StatusOK, "header and subdomain")
		if us := mtDecode[[]mtUser](t, rec); len(us) != 1 || us[0].Email != "b@example.com" {
			t.Errorf("header+subdomain lists %+v, want beta's user", us)
		}
		mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "Host", "acme.example.test", "X-Tenant-ID", "Bad_Slug"), http.StatusBadRequest, "invalid_tenant", "malformed header over a valid subdomain")
		mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "Host", "acme.example.test", "X-Tenant-ID", "nobody"), http.StatusNotFound, "tenant_not_found", "unknown header over a valid subdomain")

		// No tenant in the host.
		for _, host := range []string{"example.test", "example.test:8000", "localhost:8000", "acme.other.test", "a.acme.example.test", "example.test.evil.com", "127.0.0.1:8000"} {
			e := mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "Host", host), http.StatusBadRequest, "tenant_required", "Host "+host)
			if !strings.Contains(e.Error.Message, "X-Tenant-ID") {
				t.Errorf("Host %s: message does not name the header: %q", host, e.Error.Message)
			}
		}
		mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "Host", "nobody.example.test"), http.StatusNotFound, "tenant_not_found", "unknown subdomain")
		mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "Host", "bad_slug.example.test"), http.StatusBadRequest, "invalid_tenant", "malformed subdomain")
		for _, host := range []string{"template.example.test", "www.example.test", "admin.example.test", env.DBName + ".example.test"} {
			rec := m.do(http.MethodGet, "/api/v1/users", nil, "Host", host)
			if rec.Code != http.StatusBadRequest && rec.Code != http.StatusNotFound {
				t.Errorf("Host %s: %d %s, want 400 or 404", host, rec.Code, rec.Body.String())
			}
		}

		// Deactivation applies to the subdomain too.
		mtStatus(t, m.do(http.MethodDelete, "/api/v1/tenants/"+acme.ID, nil), http.StatusOK, "deactivate acme")
		mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "Host", "acme.example.test:8000"), http.StatusForbidden, "tenant_inactive", "deactivated subdomain")
	})
}

// A custom TENANT_HEADER_NAME is the one read and the one named.
func TestTenantResolutionCustomHeader(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env, "TENANT_HEADER_NAME=X-Org")
		m.createTenant("Org", "org")
		e := mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "org"), http.StatusBadRequest, "tenant_required", "default header when renamed")
		if !strings.Contains(e.Error.Message, "X-Org") {
			t.Errorf("message does not name X-Org: %q", e.Error.Message)
		}
		mtStatus(t, m.do(http.MethodGet, "/api/v1/users", nil, "X-Org", "org"), http.StatusOK, "custom header")
		mtStatus(t, m.do(http.MethodGet, "/api/v1/users", nil, "x-org", "org"), http.StatusOK, "custom header, other case")
	})
}

// ---------------------------------------------------------------------------
// 6. multi-tenancy off

func TestMultiTenantDisabled(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env, "MULTI_TENANT_ENABLED=false")
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/api/v1/tenants"},
			{http.MethodGet, "/api/v1/tenants/"},
			{http.MethodPost, "/api/v1/tenants"},
			{http.MethodPost, "/api/tenants/"},
			{http.MethodPost, "/api/tenants"},
			{http.MethodGet, "/api/v1/tenants/" + uuid.NewString()},
			{http.MethodGet, "/api/v1/tenants/slug/acme"},
			{http.MethodPut, "/api/v1/tenants/" + uuid.NewString()},
			{http.MethodDelete, "/api/v1/tenants/" + uuid.NewString()},
			{http.MethodPost, "/api/v1/tenants/" + uuid.NewString() + "/provision"},
		} {
			var body any
			if r.method == http.MethodPost || r.method == http.MethodPut {
				body = map[string]string{"name": "Acme", "slug": "acme"}
			}
			mtError(t, m.do(r.method, r.path, body), http.StatusNotFound, "multi_tenancy_disabled", r.method+" "+r.path)
		}

		// Users live in the main database; a tenant header changes nothing.
		m.createUserNoTenant(t, "one@example.com")
		rec := m.do(http.MethodPost, "/api/v1/users", map[string]string{"email": "two@example.com", "name": "Two"}, "X-Tenant-ID", "acme")
		mtStatus(t, rec, http.StatusCreated, "create with an ignored header")
		rec = m.do(http.MethodGet, "/api/v1/users", nil)
		mtStatus(t, rec, http.StatusOK, "list without header")
		if us := mtDecode[[]mtUser](t, rec); len(us) != 2 {
			t.Errorf("list: %+v", us)
		}
		rec = m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "Bad_Slug")
		mtStatus(t, rec, http.StatusOK, "list with an ignored malformed header")
		if n := mtCountUsers(t, env, env.DBName); n != 2 {
			t.Errorf("main database holds %d users, want 2", n)
		}
		if dbs := mtTenantDBs(t, env); len(dbs) != 0 {
			t.Errorf("single-tenant mode created tenant databases: %v", dbs)
		}
	})
}

func (m *mtApp) createUserNoTenant(t *testing.T, email string) {
	t.Helper()
	rec := m.do(http.MethodPost, "/api/v1/users", map[string]string{"email": email, "name": "User"})
	mtStatus(t, rec, http.StatusCreated, "create "+email)
}

// ---------------------------------------------------------------------------
// 7. admin key

func TestAdminAPIKey(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env, "ADMIN_API_KEY=secret")
		body := map[string]string{"name": "Acme", "slug": "acme"}
		for _, auth := range []string{"", "Bearer wrong", "Bearer secretx", "Bearer  secret", "secret", "Basic secret", "Bearer", "Bearer "} {
			hdr := []string{}
			if auth != "" {
				hdr = []string{"Authorization", auth}
			}
			for _, r := range []struct{ method, path string }{
				{http.MethodGet, "/api/v1/tenants"},
				{http.MethodPost, "/api/v1/tenants"},
				{http.MethodPost, "/api/tenants/"},
				{http.MethodGet, "/api/v1/tenants/slug/acme"},
				{http.MethodDelete, "/api/v1/tenants/" + uuid.NewString()},
			} {
				var b any
				if r.method == http.MethodPost {
					b = body
				}
				rec := m.do(r.method, r.path, b, hdr...)
				mtError(t, rec, http.StatusUnauthorized, "unauthorized", fmt.Sprintf("%s %s with Authorization %q", r.method, r.path, auth))
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				if strings.Contains(rec.Body.String(), "secret") {
					t.Errorf("401 shows the key: %s", rec.Body.String())
				}
			}
		}
		if dbs := mtTenantDBs(t, env); slices.Contains(dbs, mtDBName(env, "acme")) {
			t.Fatalf("an unauthorized POST created a database")
		}

		ok := []string{"Authorization", "Bearer secret"}
		rec := m.do(http.MethodGet, "/api/v1/tenants", nil, ok...)
		mtStatus(t, rec, http.StatusOK, "list with the key")
		// The auth scheme is case-insensitive (RFC 9110 section 11.1).
		for _, scheme := range []string{"bearer", "BEARER"} {
			mtStatus(t, m.do(http.MethodGet, "/api/v1/tenants", nil, "Authorization", scheme+" secret"), http.StatusOK, "scheme "+scheme)
		}
		acme := m.createTenant("Acme", "acme", ok...)
		mtStatus(t, m.do(http.MethodGet, "/api/v1/tenants/"+acme.ID, nil, ok...), http.StatusOK, "get with the key")
		mtStatus(t, m.do(http.MethodPost, "/api/tenants/", map[string]string{"name": "B", "slug": "b"}, ok...), http.StatusCreated, "alias with the key")

		// The tenant-scoped API needs no admin key.
		m.createUser("acme", "u@example.com")
		if us := m.listUsers("acme"); len(us) != 1 {
			t.Errorf("users: %+v", us)
		}
		// Health endpoints neither.
		mtStatus(t, m.do(http.MethodGet, "/healthz", nil), http.StatusOK, "healthz")
		mtStatus(t, m.do(http.MethodGet, "/readyz", nil), http.StatusOK, "readyz")
	})
}

// ---------------------------------------------------------------------------
// 8. provisioning failure and retry

func TestProvisionFailureAndRetry(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		ctx := mtCtx(t)
		dbName := mtDBName(env, "orphan")

		// Something unrelated already holds the tenant's database name.
		orphanContent := []byte("an unrelated file, not a database")
		if env.Dialect == dialect.Postgres {
			if err := env.Server.Create(ctx, dbName, ""); err != nil {
				t.Fatalf("create orphan: %v", err)
			}
		} else {
			if err := os.WriteFile(filepath.Join(env.DataDir, dbName+".db"), orphanContent, 0o640); err != nil {
				t.Fatal(err)
			}
		}

		// The name is taken by a database no tenant claims: 409, and the
		// tenant is registered as failed so an operator can act and retry.
		rec := m.do(http.MethodPost, "/api/v1/tenants", map[string]string{"name": "Orphan", "slug": "orphan"})
		mtError(t, rec, http.StatusConflict, "conflict", "provisioning onto an existing database")
		if rid := rec.Header().Get("X-Request-ID"); rid == "" || rid != mtDecode[mtErrorBody](t, rec).Error.RequestID {
			t.Errorf("error without a matching request id: header %q", rid)
		}

		// Registered, with status failed.
		rec = m.do(http.MethodGet, "/api/v1/tenants/slug/orphan", nil)
		mtStatus(t, rec, http.StatusOK, "GET failed tenant")
		failed := mtDecode[mtTenant](t, rec)
		if failed.Status != "failed" || !failed.IsActive || failed.Database != dbName {
			t.Fatalf("failed tenant: %+v", failed)
		}
		mtLeaks(t, env, rec.Body.String())
		rec = m.do(http.MethodGet, "/api/v1/tenants/"+failed.ID, nil)
		if got := mtDecode[mtTenant](t, rec); got.Status != "failed" {
			t.Fatalf("GET by id: %+v", got)
		}
		// The unrelated database was left alone.
		if env.Dialect == dialect.Postgres {
			mtWithDB(t, env, dbName, func(ctx context.Context, db *sql.DB) {
				var n int
				if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil || n != 0 {
					t.Errorf("the failed provisioning wrote into the existing database: %d tables, %v", n, err)
				}
			})
		} else if got, err := os.ReadFile(filepath.Join(env.DataDir, dbName+".db")); err != nil || !bytes.Equal(got, orphanContent) {
			t.Errorf("the failed provisioning changed the existing file: %v", err)
		}

		// Listed as unfinished (the service warns about these at start).
		if un, err := m.app.Registry.Unfinished(ctx); err != nil || len(un) != 1 || un[0].Slug != "orphan" {
			t.Errorf("Unfinished = %v, %v; want the failed tenant", un, err)
		}

		// Not served.
		for _, r := range []struct {
			method string
			body   any
		}{{http.MethodGet, nil}, {http.MethodPost, map[string]string{"email": "x@example.com", "name": "x"}}} {
			rec := m.do(r.method, "/api/v1/users", r.body, "X-Tenant-ID", "orphan")
			mtError(t, rec, http.StatusServiceUnavailable, "tenant_unavailable", r.method+" users of a failed tenant")
			mtLeaks(t, env, rec.Body.String(), dbName)
		}

		// Retry.
		mtError(t, m.do(http.MethodPost, "/api/v1/tenants/"+uuid.NewString()+"/provision", nil), http.StatusNotFound, "tenant_not_found", "retry unknown")
		mtError(t, m.do(http.MethodPost, "/api/v1/tenants/xyz/provision", nil), http.StatusNotFound, "tenant_not_found", "retry malformed")
		if env.Dialect != dialect.Postgres {
			// A file that is not a database is never dropped or adopted:
			// the retry fails again and leaves it alone, until an operator
			// removes it.
			rec = m.do(http.MethodPost, "/api/v1/tenants/"+failed.ID+"/provision", nil)
			if rec.Code < 500 {
				t.Fatalf("retry onto a foreign file: %d %s, want 5xx", rec.Code, rec.Body.String())
			}
			mtLeaks(t, env, rec.Body.String(), dbName)
			if got, err := os.ReadFile(filepath.Join(env.DataDir, dbName+".db")); err != nil || !bytes.Equal(got, orphanContent) {
				t.Fatalf("the retry changed the foreign file: %v", err)
			}
			if err := os.Remove(filepath.Join(env.DataDir, dbName+".db")); err != nil {
				t.Fatal(err)
			}
		}
		// PostgreSQL: the empty foreign database is adopted and migrated.
		rec = m.do(http.MethodPost, "/api/v1/tenants/"+failed.ID+"/provision", nil)
		mtStatus(t, rec, http.StatusOK, "retry")
		ready := mtCheckTenant(t, env, rec.Body.Bytes(), "Orphan", "orphan", "", true)
		if ready.ID != failed.ID || ready.StatusError != "" {
			t.Errorf("after retry: %+v", ready)
		}
		if st := mtMigrationState(t, env, dbName); st.Current != st.Latest || len(st.Pending) != 0 {
			t.Errorf("after retry the database is not migrated: %+v", st)
		}
		u := m.createUser("orphan", "saved@example.com")
		rec = m.do(http.MethodGet, "/api/v1/users/"+u.ID, nil, "X-Tenant-ID", "orphan")
		mtStatus(t, rec, http.StatusOK, "get user after retry")
		if n := mtCountUsers(t, env, dbName); n != 1 {
			t.Errorf("%d users in the retried database", n)
		}
		if un, err := m.app.Registry.Unfinished(ctx); err != nil || len(un) != 0 {
			t.Errorf("Unfinished after the retry = %v, %v; want none", un, err)
		}
		// Ready tenants are not provisioned again (that would drop data).
		mtError(t, m.do(http.MethodPost, "/api/v1/tenants/"+failed.ID+"/provision", nil), http.StatusConflict, "conflict", "retry of a ready tenant")
		if n := mtCountUsers(t, env, dbName); n != 1 {
			t.Errorf("the refused retry lost data: %d users", n)
		}
	})
}

// A database left behind by an earlier tenant of the same slug (its registry
// row deleted by hand, a restored backup) holds that customer's data: a new
// tenant's retry must refuse it rather than serve those rows to someone else.
func TestRetryNeverAdoptsAnotherCustomersData(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		ctx := mtCtx(t)
		old := m.createTenant("Old Acme", "acme")
		m.createUser("acme", "secret@old.example")
		id, err := uuid.Parse(old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.app.Main.Tenant.DeleteOneID(id).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		m.app.Tenants.Evict("acme")

		rec := m.do(http.MethodPost, "/api/v1/tenants", map[string]string{"name": "New Acme", "slug": "acme"})
		mtError(t, rec, http.StatusConflict, "conflict", "create onto the old customer's database")
		rec = m.do(http.MethodGet, "/api/v1/tenants/slug/acme", nil)
		mtStatus(t, rec, http.StatusOK, "GET the new tenant")
		fresh := mtDecode[mtTenant](t, rec)

		rec = m.do(http.MethodPost, "/api/v1/tenants/"+fresh.ID+"/provision", nil)
		body := mtError(t, rec, http.StatusConflict, "conflict", "retry onto the old customer's database")
		if !strings.Contains(body.Error.Message, "holds data") {
			t.Errorf("retry refusal %q does not say the database holds data", body.Error.Message)
		}
		mtLeaks(t, env, rec.Body.String())
		rec = m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "acme")
		mtError(t, rec, http.StatusServiceUnavailable, "tenant_unavailable", "users of the refused tenant")
		if strings.Contains(rec.Body.String(), "secret@old.example") {
			t.Fatalf("the old customer's data was served: %s", rec.Body.String())
		}
		if n := mtCountUsers(t, env, old.Database); n != 1 {
			t.Fatalf("the old customer's database holds %d users after the refused retry, want 1 (nothing lost)", n)
		}
	})
}

// A ready tenant whose database is gone (dropped by mistake, lost with a
// volume) is answered with an error that says so, not "try again shortly"
// forever, and POST .../provision recreates it at the latest version (the
// data is gone already; a backup restored under the name would make it 409).
func TestReadyTenantWithItsDatabaseGone(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		ctx := mtCtx(t)
		tn := m.createTenant("Gone", "gone")
		m.createUser("gone", "lost@example.com")
		if env.Dialect != dialect.Postgres {
			// A deleted SQLite file stays readable through open handles:
			// only a cold open notices.
			m.app.Tenants.Evict("gone")
		}
		if err := env.Server.Drop(ctx, tn.Database); err != nil {
			t.Fatal(err)
		}
		if env.Dialect == dialect.Postgres {
			// The cached client meets the dropped database: 503.
			rec := m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "gone")
			mtStatus(t, rec, http.StatusServiceUnavailable, "users through the cached client of a dropped database")
			mtLeaks(t, env, rec.Body.String(), tn.Database)
			m.app.Tenants.Evict("gone")
		}
		// Opened again, it says what is wrong.
		rec := m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "gone")
		body := mtError(t, rec, http.StatusServiceUnavailable, "tenant_unavailable", "users of a tenant whose database is gone")
		if !strings.Contains(body.Error.Message, "does not exist") {
			t.Errorf("message %q does not say the database does not exist", body.Error.Message)
		}
		mtLeaks(t, env, rec.Body.String(), tn.Database)
		rec = m.do(http.MethodPost, "/api/v1/tenants/"+tn.ID+"/provision", nil)
		mtStatus(t, rec, http.StatusOK, "provision a ready tenant whose database is gone")
		if got := mtDecode[mtTenant](t, rec); got.Status != "ready" {
			t.Fatalf("after provisioning: %+v", got)
		}
		if us := m.listUsers("gone"); len(us) != 0 {
			t.Fatalf("users after the database was recreated: %+v", us)
		}
		m.createUser("gone", "again@example.com")
		// With its database back, a ready tenant is not provisioned again.
		mtError(t, m.do(http.MethodPost, "/api/v1/tenants/"+tn.ID+"/provision", nil), http.StatusConflict, "conflict", "provision a ready tenant")
		if n := mtCountUsers(t, env, tn.Database); n != 1 {
			t.Fatalf("%d users after the refused provisioning, want 1", n)
		}
	})
}

func TestProvisionSchemaBehind(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		tn := m.createTenant("Behind", "behind")
		m.createUser("behind", "x@example.com") // the client is now cached

		latest := mtLatestTenantVersion(t, env)
		mtWithDB(t, env, tn.Database, func(ctx context.Context, db *sql.DB) {
			q := `DELETE FROM atlas_schema_revisions WHERE version = $1`
			if env.Dialect == dialect.SQLite {
				q = `DELETE FROM atlas_schema_revisions WHERE version = ?`
			}
			res, err := db.ExecContext(ctx, q, latest)
			if err != nil {
				t.Fatalf("delete revision: %v", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("deleted %d revision rows", n)
			}
		})
		// Any update evicts the cached client.
		mtStatus(t, m.do(http.MethodPut, "/api/v1/tenants/"+tn.ID, map[string]string{"description": "evict"}), http.StatusOK, "PUT")
		for i := range 2 { // not cached as a success the second time either
			rec := m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "behind")
			mtError(t, rec, http.StatusServiceUnavailable, "tenant_unavailable", fmt.Sprintf("schema behind, request %d", i))
			mtLeaks(t, env, rec.Body.String(), tn.Database, latest)
		}
		rec := m.do(http.MethodGet, "/api/v1/tenants/"+tn.ID, nil)
		if got := mtDecode[mtTenant](t, rec); got.Status != "ready" {
			t.Errorf("registry status %q", got.Status)
		}

		// A ready tenant whose database went away is unavailable, and
		// serving it does not bring an empty database into being.
		gone := m.createTenant("Gone", "gone")
		m.createUser("gone", "g@example.com")
		if err := env.Server.Drop(mtCtx(t), gone.Database); err != nil {
			t.Fatalf("drop: %v", err)
		}
		mtStatus(t, m.do(http.MethodPut, "/api/v1/tenants/"+gone.ID, map[string]string{"description": "evict"}), http.StatusOK, "PUT")
		for i := range 2 {
			rec := m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "gone")
			mtError(t, rec, http.StatusServiceUnavailable, "tenant_unavailable", fmt.Sprintf("database gone, request %d", i))
			mtLeaks(t, env, rec.Body.String(), gone.Database)
		}
		if mtExists(t, env, gone.Database) {
			t.Errorf("a request re-created the dropped database %s", gone.Database)
		}
	})
}

// ---------------------------------------------------------------------------
// 9. deactivation while requests are in flight

// mtGate is a request body that blocks its first read until released: the
// request then holds its tenant lease inside the handler.
type mtGate struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
	r       io.Reader
}

func (g *mtGate) Read(p []byte) (int, error) {
	g.once.Do(func() { close(g.started) })
	<-g.release
	return g.r.Read(p)
}

type mtSample struct {
	start, end time.Time
	status     int
	body       string
}

func TestDeactivationWhileInFlight(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		tn := m.createTenant("Busy", "busy")
		for i := range 40 {
			m.createUser("busy", fmt.Sprintf("u%02d@example.com", i))
		}

		// A request inside its handler when the tenant is deactivated
		// finishes normally.
		gate := &mtGate{started: make(chan struct{}), release: make(chan struct{}), r: strings.NewReader(`{"email": "late@example.com", "name": "Late"}`)}
		held := make(chan *httptest.ResponseRecorder, 1)
		go func() {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/api/v1/users", gate)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Tenant-ID", "busy")
			m.h.ServeHTTP(rec, req)
			held <- rec
		}()
		select {
		case <-gate.started:
		case rec := <-held:
			t.Fatalf("the held request ended early: %d %s", rec.Code, rec.Body.String())
		case <-time.After(30 * time.Second):
			t.Fatal("the held request never reached its handler")
		}

		// Load: workers list users in a loop across the deactivation.
		const workers = 6
		var (
			warm     atomic.Int64
			deleted  atomic.Bool
			after    atomic.Int64
			delEnd   time.Time // written before deleted is set
			samples  = make([][]mtSample, workers)
			wg       sync.WaitGroup
			deadline = time.Now().Add(60 * time.Second)
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					if deleted.Load() && after.Load() >= workers*5 {
						return
					}
					req := httptest.NewRequest(http.MethodGet, "/api/v1/users?limit=500", nil)
					req.Header.Set("X-Tenant-ID", "busy")
					rec := httptest.NewRecorder()
					s := mtSample{start: time.Now()}
					m.h.ServeHTTP(rec, req)
					s.end, s.status = time.Now(), rec.Code
					if rec.Code != http.StatusOK {
						s.body = rec.Body.String()
					}
					samples[w] = append(samples[w], s)
					warm.Add(1)
					if deleted.Load() && s.start.After(delEnd) {
						after.Add(1)
					}
				}
			}()
		}
		for warm.Load() < workers*5 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}

		delStart := time.Now()
		rec := m.do(http.MethodDelete, "/api/v1/tenants/"+tn.ID, nil)
		delEnd = time.Now()
		deleted.Store(true)
		mtStatus(t, rec, http.StatusOK, "DELETE under load")
		wg.Wait()

		// The held request completes after the DELETE.
		close(gate.release)
		hrec := <-held
		mtStatus(t, hrec, http.StatusCreated, "request in flight during the DELETE")

		var before, during, afterN, ok200, forbidden int
		for w, ss := range samples {
			for i, s := range ss {
				switch s.status {
				case http.StatusOK:
					ok200++
				case http.StatusForbidden:
					forbidden++
					if !strings.Contains(s.body, `"tenant_inactive"`) {
						t.Errorf("worker %d request %d: 403 %s", w, i, s.body)
					}
				default:
					t.Errorf("worker %d request %d: status %d %s", w, i, s.status, s.body)
				}
				switch {
				case s.end.Before(delStart):
					before++
					if s.status != http.StatusOK {
						t.Errorf("worker %d request %d finished before the DELETE with %d", w, i, s.status)
					}
				case s.start.After(delEnd):
					afterN++
					if s.status != http.StatusForbidden {
						t.Errorf("worker %d request %d started after the DELETE answered and got %d", w, i, s.status)
					}
				default:
					during++
				}
			}
		}
		t.Logf("%d requests before, %d during, %d after the DELETE; %d×200, %d×403", before, during, afterN, ok200, forbidden)
		if before == 0 || afterN == 0 {
			t.Fatalf("the load did not span the DELETE: %d before, %d after", before, afterN)
		}

		// The write of the held request is in the database, and the data
		// is served again after reactivation.
		mtStatus(t, m.do(http.MethodPut, "/api/v1/tenants/"+tn.ID, map[string]any{"is_active": true}), http.StatusOK, "reactivate")
		if us := m.listUsers("busy"); len(us) != 41 {
			t.Errorf("after reactivation %d users, want 41", len(us))
		}
	})
}

// Deactivation reaches every instance: two services on one PostgreSQL main
// database; the second refuses the tenant once the first deactivated it.
func TestDeactivationAcrossInstances(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		if env.Dialect != dialect.Postgres {
			t.Skip("SQLite is the single-instance default: invalidation is in-process")
		}
		a := mtNewApp(t, env)
		b := mtNewApp(t, env)
		tn := a.createTenant("Shared", "shared")
		a.createUser("shared", "s@example.com")
		if us := b.listUsers("shared"); len(us) != 1 { // b caches its client now
			t.Fatalf("instance b: %+v", us)
		}
		mtStatus(t, a.do(http.MethodDelete, "/api/v1/tenants/"+tn.ID, nil), http.StatusOK, "deactivate on a")
		mtError(t, a.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "shared"), http.StatusForbidden, "tenant_inactive", "instance a")
		// NOTIFY is asynchronous: allow it a moment, then it must hold.
		deadline := time.Now().Add(5 * time.Second)
		for {
			rec := b.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "shared")
			if rec.Code == http.StatusForbidden {
				break
			}
			if rec.Code != http.StatusOK || time.Now().After(deadline) {
				t.Fatalf("instance b after the deactivation: %d %s", rec.Code, rec.Body.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		for range 5 {
			mtError(t, b.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "shared"), http.StatusForbidden, "tenant_inactive", "instance b")
		}
		// And reactivation reaches it too.
		mtStatus(t, a.do(http.MethodPut, "/api/v1/tenants/"+tn.ID, map[string]any{"is_active": true}), http.StatusOK, "reactivate on a")
		deadline = time.Now().Add(5 * time.Second)
		for {
			rec := b.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "shared")
			if rec.Code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance b after reactivation: %d %s", rec.Code, rec.Body.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestTenantMigrationStateInJSON: the outcome of the last fleet migration run
// of a ready tenant is visible to the admin API.
func TestTenantMigrationStateInJSON(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env)
		acme := m.createTenant("Acme", "acme")
		id := uuid.MustParse(acme.ID)
		if err := m.app.Main.Tenant.UpdateOneID(id).SetStatusError("migration failed: boom").Exec(mtCtx(t)); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Status             string  `json:"status"`
			SchemaVersion      string  `json:"schema_version"`
			MigratedAt         *string `json:"migrated_at"`
			LastMigrationError string  `json:"last_migration_error"`
		}
		rec := m.do(http.MethodGet, "/api/v1/tenants/"+acme.ID, nil)
		mtStatus(t, rec, http.StatusOK, "get tenant")
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Status != "ready" || got.SchemaVersion == "" || got.MigratedAt == nil || got.LastMigrationError != "migration failed: boom" {
			t.Errorf("migration state in tenant JSON: %+v", got)
		}
	})
}

// TestUnknownThenCreated: an unknown slug is remembered briefly
// (TENANT_NOT_FOUND_TTL), but creating the tenant makes it servable at once.
func TestUnknownThenCreated(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		m := mtNewApp(t, env, "TENANT_NOT_FOUND_TTL=1h")
		for range 3 {
			mtError(t, m.do(http.MethodGet, "/api/v1/users", nil, "X-Tenant-ID", "later"), http.StatusNotFound, "tenant_not_found", "before creation")
		}
		m.createTenant("Later", "later")
		m.createUser("later", "first@later.test")
		if us := m.listUsers("later"); len(us) != 1 {
			t.Fatalf("users right after creation: %+v", us)
		}
	})
}
