package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// Provisioning may take longer than an ordinary request (a busy template,
// a long history under TENANT_PROVISION_STRATEGY=migrate). Its 201 must
// still reach the client, not be cut off by the server's write timeout
// (HTTP_REQUEST_TIMEOUT + 5s) while the tenant ends up ready, which made a
// client's retry answer 409 for a tenant it never heard was created.
func TestRunSlowProvisioningStillAnswers(t *testing.T) {
	t.Parallel()
	env := testdb.Postgres(t)
	s := start(t, append(dbEnviron(env), "MULTI_TENANT_ENABLED=true", "HTTP_REQUEST_TIMEOUT=1s")...)
	if status, body := request(t, http.MethodPost, s.base+"/api/v1/tenants", map[string]string{"name": "First", "slug": "first"}); status != http.StatusCreated {
		t.Fatalf("first tenant: %d %s", status, body)
	}

	// A session on the template makes every clone wait for it (PostgreSQL
	// refuses CREATE DATABASE ... TEMPLATE while one is open): hold it past
	// the write timeout of 6s.
	ctx := testdb.Context(t, time.Minute)
	template := tenancy.Naming{MainDB: env.DBName}.TemplateName()
	db, err := env.Server.Open(ctx, template, sqldb.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const hold = 7 * time.Second
	go func() {
		time.Sleep(hold)
		_ = conn.Close()
		_ = db.Close()
	}()

	start := time.Now()
	status, body := request(t, http.MethodPost, s.base+"/api/v1/tenants", map[string]string{"name": "Slow", "slug": "slow"})
	if status != http.StatusCreated {
		t.Fatalf("POST a tenant whose provisioning takes %v: %d %s", time.Since(start), status, body)
	}
	var tn struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &tn); err != nil || tn.Status != "ready" {
		t.Fatalf("created tenant: %s (%v)", body, err)
	}
	if took := time.Since(start); took < hold-time.Second {
		t.Fatalf("provisioning took %v: the template was not held, the test proves nothing", took)
	}
}
