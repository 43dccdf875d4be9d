// Package logging builds the service's slog logger from the configuration.
package logging

import (
	"io"
	"log/slog"
	"time"

	"github.com/tenantkit/tenantkit/config"
)

// New returns a JSON or text logger at the configured level.
func New(w io.Writer, cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel(), ReplaceAttr: readableDurations}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// readableDurations writes durations as "1.5ms" rather than the JSON
// handler's integer nanoseconds.
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().Round(time.Microsecond).String())
	}
	return a
}
