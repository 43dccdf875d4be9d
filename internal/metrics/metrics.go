// Package metrics exposes the service's Prometheus metrics from a registry
// of its own (no global state): HTTP requests by route and status, database
// pool figures, and the tenant client cache.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenantkit/tenantkit/tenancy"
)

// Metrics owns a Prometheus registry.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns Metrics with the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Middleware records each request. The route label is the pattern, never
// the raw path, so ids and junk paths cannot blow up the label space.
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		method := c.Request.Method
		switch method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch, http.MethodOptions:
		default:
			method = "other"
		}
		m.requests.WithLabelValues(method, route, strconv.Itoa(c.Writer.Status())).Inc()
		m.latency.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
	}
}

// WatchDB exports the pool statistics of db under db_name.
func (m *Metrics) WatchDB(db *sql.DB, name string) {
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// WatchTenants exports the tenant client cache's figures.
func (m *Metrics) WatchTenants(stats func() tenancy.Stats) {
	gauge := func(name, help string, f func(tenancy.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	counter := func(name, help string, f func(tenancy.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	m.reg.MustRegister(
		gauge("tenant_clients_open", "Tenant clients open now.", func(s tenancy.Stats) float64 { return float64(s.Open) }),
		gauge("tenant_clients_in_use", "Tenant clients with a running request.", func(s tenancy.Stats) float64 { return float64(s.InUse) }),
		counter("tenant_client_opens_total", "Tenant clients opened.", func(s tenancy.Stats) float64 { return float64(s.Opens) }),
		counter("tenant_client_evictions_total", "Tenant clients closed (idle, capacity, deactivation).", func(s tenancy.Stats) float64 { return float64(s.Evictions) }),
		counter("tenant_client_waits_total", "Requests that waited for a slot under the connection budget.", func(s tenancy.Stats) float64 { return float64(s.Waits) }),
		counter("tenant_acquire_failures_total", "Tenant resolutions that failed (unknown, inactive, unavailable).", func(s tenancy.Stats) float64 { return float64(s.Failures) }),
	)
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
