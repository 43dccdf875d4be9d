// Command tenantctl operates a tenantkit deployment's databases:
//
//	tenantctl migrate [-concurrency 4] [-tenant slug] [-dry-run]
//	tenantctl status  [-tenant slug]
//
// It reads the same configuration as the server (environment and .env).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantkit/tenantkit/config"
	"github.com/tenantkit/tenantkit/internal/fleet"
)

// Exit codes: 0 all good, 1 some database failed, 2 usage or setup error.
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, "usage: tenantctl migrate [-concurrency N] [-tenant slug] [-dry-run] [-env-file .env]\n       tenantctl status [-tenant slug] [-env-file .env]")
		return exitUsage
	}
	cmd, args := args[0], args[1:]
	if cmd != "migrate" && cmd != "status" {
		// Before anything connects: Open would create the main database.
		fmt.Fprintf(stderr, "tenantctl: unknown command %q (migrate, status)\n", cmd)
		return exitUsage
	}
	fs := flag.NewFlagSet("tenantctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", ".env", "optional dotenv file read before the environment")
	tenant := fs.String("tenant", "", "only this tenant (slug)")
	concurrency := fs.Int("concurrency", 4, "tenant databases migrated at once")
	dryRun := fs.Bool("dry-run", false, "print the pending files of each database, apply nothing")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		// Parsing stops at the first non-flag, so whatever follows it (a
		// -dry-run, say) was ignored too: refuse rather than run without it.
		fmt.Fprintf(stderr, "tenantctl %s: unexpected argument %q: only flags are accepted (one tenant: -tenant slug)\n", cmd, fs.Arg(0))
		return exitUsage
	}
	if *concurrency < 1 || *concurrency > 256 {
		fmt.Fprintln(stderr, "tenantctl: -concurrency must be from 1 to 256")
		return exitUsage
	}
	cfg, err := config.Load(environ, *envFile)
	if err != nil {
		fmt.Fprintln(stderr, "tenantctl: configuration:", err)
		return exitUsage
	}
	// Only a real migrate creates a missing main database (a first deploy
	// may run it before the service); the read-only commands report it.
	f, closeFleet, err := fleet.Open(ctx, cfg, cmd == "migrate" && !*dryRun)
	if err != nil {
		fmt.Fprintln(stderr, "tenantctl:", err)
		return exitUsage
	}
	defer closeFleet()
	switch cmd {
	case "migrate":
		return migrate(ctx, f, fleet.Options{Concurrency: *concurrency, Tenant: *tenant, DryRun: *dryRun}, stdout, stderr)
	case "status":
		return status(ctx, f, *tenant, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "tenantctl: unknown command %q (migrate, status)\n", cmd)
		return exitUsage
	}
}

func migrate(ctx context.Context, f *fleet.Fleet, opts fleet.Options, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "%-8s %-32s %-16s %-16s %-8s %-10s %s\n", "KIND", "DATABASE", "FROM", "TO", "FILES", "TOOK", "RESULT")
	sum, err := f.Migrate(ctx, opts, func(o fleet.Outcome) { fmt.Fprintln(stdout, FormatOutcome(o, opts.DryRun)) })
	verb := "migrated"
	if opts.DryRun {
		verb = "checked"
	}
	fmt.Fprintf(stdout, "%s %d databases in %s: %d ok, %d failed, %d skipped\n",
		verb, sum.OK+sum.Failed+sum.Skipped, sum.Took.Round(1e6), sum.OK, sum.Failed, sum.Skipped)
	switch {
	case errors.Is(err, fleet.ErrFailed):
		return exitFailed
	case err != nil:
		fmt.Fprintln(stderr, "tenantctl:", err)
		return exitUsage
	}
	return 0
}

// FormatOutcome is one line per database.
func FormatOutcome(o fleet.Outcome, dryRun bool) string {
	result := "ok"
	switch {
	case o.Err != nil:
		result = "FAILED: " + oneLine(o.Err.Error())
	case o.Skipped != "":
		result = "skipped: " + o.Skipped
	case dryRun && len(o.Applied) > 0:
		result = fmt.Sprintf("pending: %v", o.Applied)
	case dryRun:
		result = "up to date"
	}
	name := o.Database
	if o.Slug != "" {
		name = o.Slug
	}
	return fmt.Sprintf("%-8s %-32s %-16s %-16s %-8d %-10s %s", o.Kind, name, orDash(o.From), orDash(o.To), len(o.Applied), o.Took.Round(1e5), result)
}

func status(ctx context.Context, f *fleet.Fleet, tenant string, stdout, stderr io.Writer) int {
	lines, orphans, err := f.Status(ctx, tenant)
	fmt.Fprintf(stdout, "%-8s %-32s %-16s %-16s %-8s %-13s %s\n", "KIND", "DATABASE", "CURRENT", "LATEST", "PENDING", "STATUS", "NOTE")
	code := 0
	for _, l := range lines {
		name := l.Database
		if l.Slug != "" {
			name = l.Slug
		}
		st := l.Status
		if l.Kind == fleet.KindTenant && !l.Active {
			st += ",inactive"
		}
		note := ""
		switch {
		case l.Err != nil:
			note = "error: " + oneLine(l.Err.Error())
			if l.Kind != fleet.KindTemplate {
				code = exitFailed
			}
		case l.LastError != "":
			note = "last run: " + oneLine(l.LastError)
		}
		fmt.Fprintf(stdout, "%-8s %-32s %-16s %-16s %-8d %-13s %s\n", l.Kind, name, orDash(l.Current), orDash(l.Latest), l.Pending, orDash(st), note)
	}
	for _, o := range orphans {
		fmt.Fprintf(stdout, "orphan   %-32s no tenant claims this database; inspect and drop it by hand\n", o)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tenantctl:", err)
		return exitUsage
	}
	return code
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			r = ' '
		}
		out = append(out, r)
	}
	if len(out) > 300 {
		out = append(out[:300], '…')
	}
	return string(out)
}
