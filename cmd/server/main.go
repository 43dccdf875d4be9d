// Command server runs the tenantkit HTTP service. Configuration comes from
// the environment and an optional .env file (see .env.example).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantkit/tenantkit/config"
	"github.com/tenantkit/tenantkit/internal/app"
	"github.com/tenantkit/tenantkit/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tenantkit:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args, environ []string, logOut io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	envFile := fs.String("env-file", ".env", "optional dotenv file read before the environment")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(environ, *envFile)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := logging.New(logOut, cfg)
	slog.SetDefault(log)
	return app.Run(ctx, cfg, log)
}
