// Command loadgen load-tests a running tenantkit server from a second
// process. Example: 1,000 tenants round-robin, 32 connections, 30 seconds:
//
//	loadgen -url http://127.0.0.1:8000 -tenants 1000 -create -c 32 -d 30s \
//	        -pg 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/tenantkit/tenantkit/internal/loadgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	var o loadgen.Options
	var tenants int
	var create bool
	var prefix string
	flag.StringVar(&o.BaseURL, "url", "http://127.0.0.1:8000", "server base URL")
	flag.IntVar(&tenants, "tenants", 0, "number of tenants to spread requests over (0: single-tenant)")
	flag.StringVar(&prefix, "prefix", "load", "tenant slugs are <prefix>-<n>")
	flag.BoolVar(&create, "create", false, "register the tenants first (409s are fine)")
	flag.StringVar(&o.Header, "header", "X-Tenant-ID", "tenant header")
	flag.StringVar(&o.Path, "path", "/api/v1/users?limit=10", "GET path")
	flag.IntVar(&o.Concurrency, "c", 16, "concurrent connections")
	flag.DurationVar(&o.Duration, "d", 10*time.Second, "duration")
	flag.Int64Var(&o.MaxRequests, "n", 0, "stop after n requests (0: duration only)")
	flag.StringVar(&o.AdminKey, "admin-key", os.Getenv("ADMIN_API_KEY"), "admin API key for -create")
	flag.StringVar(&o.PostgresURL, "pg", "", "PostgreSQL URL to sample pg_stat_activity from")
	flag.StringVar(&o.DatabasePrefix, "pg-db-prefix", "", "count only connections to databases starting with this (the server's DB_NAME)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for i := range tenants {
		o.Tenants = append(o.Tenants, fmt.Sprintf("%s-%d", prefix, i))
	}
	if create && tenants > 0 {
		start := time.Now()
		if err := loadgen.CreateTenants(ctx, o.BaseURL, o.AdminKey, o.Tenants, 4); err != nil {
			return err
		}
		fmt.Printf("registered %d tenants in %s\n", tenants, time.Since(start).Round(time.Millisecond))
	}
	res, err := loadgen.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Println(res)
	return nil
}
