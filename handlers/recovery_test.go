package handlers_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/handlers"
	"github.com/tenantkit/tenantkit/internal/metrics"
	"github.com/tenantkit/tenantkit/internal/testlog"
)

// A panicking handler answers the JSON 500 without its cause, and the
// request still reaches the access log and the request metrics with that
// 500 (recovery runs inside both).
func TestPanicIsAnswered500AndLoggedAndCounted(t *testing.T) {
	t.Parallel()
	logs := &testlog.Buffer{}
	m := metrics.New()
	r := handlers.NewRouter(handlers.Deps{
		Logger:            slog.New(slog.NewJSONHandler(logs, nil)),
		Tenant:            func(c *gin.Context) { c.Next() },
		Ready:             func(context.Context) error { return nil },
		MetricsMiddleware: m.Middleware(),
		MetricsHandler:    m.Handler(),
	})
	r.GET("/boom", func(*gin.Context) { panic("secret cause") })

	rec := serve(t, r, http.MethodGet, "/boom", nil)
	e := wantError(t, rec, http.StatusInternalServerError, "internal_error")
	if strings.Contains(rec.Body.String(), "secret cause") {
		t.Errorf("the 500 body echoes the panic: %s", rec.Body)
	}
	if e.RequestID == "" || rec.Header().Get("X-Request-ID") != e.RequestID {
		t.Errorf("request id: body %q, header %q", e.RequestID, rec.Header().Get("X-Request-ID"))
	}
	var accessLogged bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"status":500`) && strings.Contains(line, e.RequestID) {
			accessLogged = true
		}
	}
	if !accessLogged {
		t.Errorf("no access log line with status 500 and the request id:\n%s", logs)
	}
	text := serve(t, r, http.MethodGet, "/metrics", nil).Body.String()
	if want := `http_requests_total{method="GET",route="/boom",status="500"} 1`; !strings.Contains(text, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
