package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/config"
	"github.com/tenantkit/tenantkit/internal/app"
	"github.com/tenantkit/tenantkit/internal/testdb"
)

// testContext is a context bounded by the test's deadline (or a minute).
func testContext(t testing.TB) context.Context {
	t.Helper()
	return testdb.Context(t, 2*time.Minute)
}

// testConfig loads the configuration of env (PostgreSQL or SQLite) through
// config.Load, as the server does, with extraEnv ("KEY=value") on top.
func testConfig(t testing.TB, env testdb.Env, extraEnv ...string) config.Config {
	t.Helper()
	environ := []string{"LOG_LEVEL=error", "DB_MAX_OPEN_CONNS=4", "DB_MAX_IDLE_CONNS=2"}
	if env.URL != "" {
		environ = append(environ, "DATABASE_URL="+env.URL)
	} else {
		environ = append(environ, "DATA_DIR="+env.DataDir, "DB_NAME="+env.DBName)
	}
	// config.Load lets the first entry of a key win: extraEnv goes first.
	cfg, err := config.Load(append(append([]string{}, extraEnv...), environ...), "")
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	if cfg.DBName != env.DBName {
		t.Fatalf("config names main database %q, want %q", cfg.DBName, env.DBName)
	}
	return cfg
}

// newTestApp builds the whole service on env, closed when the test ends.
// Its log is discarded.
func newTestApp(t testing.TB, env testdb.Env, extraEnv ...string) *app.App {
	t.Helper()
	return newTestAppLogged(t, env, io.Discard, extraEnv...)
}

// newTestAppLogged is newTestApp with the service's log (level error) written to w.
func newTestAppLogged(t testing.TB, env testdb.Env, w io.Writer, extraEnv ...string) *app.App {
	t.Helper()
	cfg := testConfig(t, env, extraEnv...)
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.New(testContext(t), cfg, log)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("app.Close: %v", err)
		}
	})
	return a
}

// serve runs one request through h. body is nil (no body), a string or
// []byte (sent as is) or anything else (sent as its JSON). headers are
// name, value pairs.
func serve(t testing.TB, h http.Handler, method, target string, body any, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal request body: %v", err)
		}
		r = bytes.NewReader(data)
	}
	req := httptest.NewRequestWithContext(testContext(t), method, target, r)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(headers)%2 != 0 {
		t.Fatalf("serve: odd number of header arguments")
	}
	for i := 0; i < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("X-Request-ID") == "" {
		t.Errorf("%s %s: response %d has no X-Request-ID", method, target, rec.Code)
	}
	return rec
}

// decode parses a JSON response body into v, failing the test otherwise.
func decode(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d: Content-Type %q, want application/json; body %s", rec.Code, ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("status %d: body is not the expected JSON (%v): %s", rec.Code, err, rec.Body)
	}
}

// apiError is the API's one error shape.
type apiError struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields"`
	RequestID string            `json:"request_id"`
}

var snakeCase = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// wantError checks that rec is an error of the given status and code in the
// API's shape {"error": {"code", "message", ...}}, with the request id of
// its X-Request-ID header, and returns it.
func wantError(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) apiError {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	var raw map[string]json.RawMessage
	decode(t, rec, &raw)
	if len(raw) != 1 || raw["error"] == nil {
		t.Fatalf("error body must be exactly {\"error\": {...}}, got %s", rec.Body)
	}
	var e apiError
	dec := json.NewDecoder(bytes.NewReader(raw["error"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error object has unexpected fields (%v): %s", err, rec.Body)
	}
	if !snakeCase.MatchString(e.Code) {
		t.Errorf("error code %q is not snake_case", e.Code)
	}
	if code != "" && e.Code != code {
		t.Errorf("error code %q, want %q; body %s", e.Code, code, rec.Body)
	}
	if strings.TrimSpace(e.Message) == "" {
		t.Errorf("error message is empty: %s", rec.Body)
	}
	if rid := rec.Header().Get("X-Request-ID"); e.RequestID != rid {
		t.Errorf("error request_id %q, X-Request-ID header %q", e.RequestID, rid)
	}
	return e
}
