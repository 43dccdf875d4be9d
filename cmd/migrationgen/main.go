// Command migrationgen writes the next versioned migration of every graph and
// dialect whose ent schema changed. Run it through `make migration name=...`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"

	"github.com/tenantkit/tenantkit/internal/migrationgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "migrationgen:", err)
		os.Exit(1)
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9 _-]{1,64}$`)

func run() error {
	name := flag.String("name", "", "what the migration does, e.g. \"add new feature\"")
	root := flag.String("dir", "migrations", "the migrations directory")
	check := flag.Bool("check", false, "only check that the migrations match the ent schemas")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	gen := migrationgen.Generator{MigrationsRoot: *root, DevServer: os.Getenv("DEV_DATABASE_URL")}
	if *check {
		if err := gen.CheckDrift(ctx); err != nil {
			return err
		}
		fmt.Println("migrations match the ent schemas")
		return nil
	}
	if !nameRE.MatchString(*name) {
		return errors.New(`-name is required: letters, digits, spaces, "-" and "_", at most 64 characters`)
	}
	written, err := gen.Generate(ctx, *name)
	if err != nil {
		return err
	}
	if len(written) == 0 {
		fmt.Println("no schema changes: nothing written")
		return nil
	}
	for _, t := range written {
		p, _ := gen.Path(t)
		fmt.Printf("wrote a migration to %s\n", p)
	}
	return nil
}
