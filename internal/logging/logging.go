// Package logging builds the service's slog logger from the configuration.
package logging

import (
	"io"
	"log/slog"

	"github.com/tenantkit/tenantkit/config"
)

// New returns a JSON or text logger at the configured level.
func New(w io.Writer, cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
