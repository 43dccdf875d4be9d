package atlascli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/config"
	"github.com/tenantkit/tenantkit/internal/app"
	"github.com/tenantkit/tenantkit/internal/atlascli"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// The real CLI against tenant databases created through the HTTP API: the
// service provisions them, `atlas migrate apply --env tenants` (atlas.hcl
// reading the registry) rolls a new file out to every ready tenant,
// deactivated ones included, and the service keeps serving them (a database
// ahead of the binary is fine).
func TestCLIOnTenantsCreatedThroughAPI(t *testing.T) {
	requireCLI(t)
	ctx := testContext(t)
	env := testdb.Postgres(t)
	cfg, err := config.Load([]string{"DATABASE_URL=" + env.URL, "MULTI_TENANT_ENABLED=true", "TENANT_CONN_BUDGET=4"}, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	do := func(method, path, tenant string, body any) *httptest.ResponseRecorder {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req := httptest.NewRequestWithContext(ctx, method, path, r)
		req.Header.Set("Content-Type", "application/json")
		if tenant != "" {
			req.Header.Set("X-Tenant-ID", tenant)
		}
		rec := httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, req)
		return rec
	}
	slugs := []string{"acme", "globex", "initech"}
	ids := map[string]string{}
	for _, s := range slugs {
		rec := do(http.MethodPost, "/api/v1/tenants", "", map[string]string{"name": s, "slug": s})
		if rec.Code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", s, rec.Code, rec.Body)
		}
		var tj struct{ ID string }
		_ = json.Unmarshal(rec.Body.Bytes(), &tj)
		ids[s] = tj.ID
		if rec := do(http.MethodPost, "/api/v1/users", s, map[string]string{"email": "u@" + s + ".test", "name": "U"}); rec.Code != http.StatusCreated {
			t.Fatalf("user in %s: %d %s", s, rec.Code, rec.Body)
		}
	}
	// A deactivated tenant keeps its data, so its schema must stay current.
	if rec := do(http.MethodDelete, "/api/v1/tenants/"+ids["initech"], "", nil); rec.Code != http.StatusOK {
		t.Fatalf("deactivate: %d %s", rec.Code, rec.Body)
	}

	const version = "20991231000009"
	path, _ := writeTenantDir(t, map[string]string{version + "_api_notes.sql": "CREATE TABLE api_notes (id integer PRIMARY KEY);\n"})
	out, err := atlascli.RunEnv(ctx, []string{"DATABASE_URL=" + env.URL}, "migrate", "apply", "--env", "tenants", "--dir", "file://"+path)
	if err != nil {
		t.Fatalf("atlas migrate apply --env tenants: %v\n%s", err, out)
	}
	if n := strings.Count(out, "-- migrating version "+version); n != len(slugs) {
		t.Fatalf("the CLI migrated %d tenants, want %d:\n%s", n, len(slugs), out)
	}
	pg := env.Server.(*sqldb.Postgres)
	for _, s := range slugs {
		name, err := a.Provisioner.Naming.DatabaseName(s)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := atlascli.Run(ctx, "migrate", "status", "--url", pg.URL(name), "--dir", "file://"+path, "--format", "{{ json . }}")
		if err != nil {
			t.Fatal(err)
		}
		var got cliStatus
		if err := json.Unmarshal([]byte(strings.TrimSpace(cli)), &got); err != nil {
			t.Fatalf("decode: %v\n%s", err, cli)
		}
		if got.Status != "OK" || got.Current != version || len(got.Pending) != 0 {
			t.Errorf("%s after the CLI: %+v, want OK at %s", s, got, version)
		}
	}
	// The service still serves the migrated (now ahead) tenants; the
	// deactivated one stays refused.
	a.Tenants.EvictAll()
	for _, s := range slugs[:2] {
		if rec := do(http.MethodGet, "/api/v1/users", s, nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "u@"+s+".test") {
			t.Errorf("users of %s after the CLI migration: %d %s", s, rec.Code, rec.Body)
		}
	}
	if rec := do(http.MethodGet, "/api/v1/users", "initech", nil); rec.Code != http.StatusForbidden {
		t.Errorf("deactivated tenant: %d %s", rec.Code, rec.Body)
	}
}
