package fleet_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"

	"github.com/tenantkit/tenantkit/internal/atlascli"
	"github.com/tenantkit/tenantkit/internal/fleet"
	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/migrations"
)

// TestFleetScale measures rolling migrations out to a large fleet on
// PostgreSQL: fleet.Migrate at concurrency 1, 4 and 8, and the Atlas CLI's
// `migrate apply --env tenants`. It is a measurement, not part of
// `make test`:
//
//	TENANTKIT_SCALE_TENANTS=1000 [TENANTKIT_SCALE_REPORT=scale.txt] \
//	  go test ./internal/fleet/ -run TestFleetScale -v -timeout 60m
//
// Each tenant database takes about 7.5 MB of disk.
func TestFleetScale(t *testing.T) {
	nEnv := os.Getenv("TENANTKIT_SCALE_TENANTS")
	if nEnv == "" {
		t.Skip("set TENANTKIT_SCALE_TENANTS (e.g. 1000) to run this measurement")
	}
	n, err := strconv.Atoi(nEnv)
	if err != nil || n < 1 {
		t.Fatalf("TENANTKIT_SCALE_TENANTS=%q: want a positive number", nEnv)
	}
	ctx := testContext(t, 55*time.Minute)
	loadBefore := loadAvg()
	env := testdb.Postgres(t)
	f := openFleet(ctx, t, env)
	migrateMain(ctx, t, f)

	var dataDir string
	if err := f.MainDB.QueryRowContext(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		dataDir = "/"
	}
	need := uint64(n) * 10 << 20
	if free := freeBytes(dataDir); free > 0 && free < need {
		t.Fatalf("%d tenants need about %d MB of disk; %s has %d MB free", n, need>>20, dataDir, free>>20)
	} else {
		t.Logf("disk free at %s: %d MB (about %d MB needed)", dataDir, free>>20, need>>20)
	}
	// Registered after testdb's cleanup, so it runs first: drop the fleet
	// with a few connections at a time and a generous deadline (testdb's
	// own cleanup gives all drops one minute).
	t.Cleanup(func() {
		start := time.Now()
		dropAll(t, env, f.Naming.TenantPrefix())
		t.Logf("dropped the tenant databases in %s", time.Since(start).Round(time.Millisecond))
	})

	type row struct {
		method      string
		concurrency string
		took        time.Duration
	}
	var rows []row

	all := slugs(n)
	start := time.Now()
	addTenants(ctx, t, f, all...)
	rows = append(rows, row{"create: registry row + template clone + check", "4", time.Since(start)})
	t.Logf("%d tenants created in %s", n, time.Since(start).Round(time.Millisecond))

	base := f.TenantDir
	extra := map[string]string{}
	version := func(i int) string { return fmt.Sprintf("209912310000%02d", 11+i) }
	dirWith := func(i int) migrate.Dir {
		letter := string(rune('a' + i))
		extra[version(i)+"_scale_"+letter+".sql"] = "CREATE TABLE scale_" + letter + " (id integer PRIMARY KEY, note text);\n"
		return extend(t, base, extra)
	}
	for i, conc := range []int{1, 4, 8} {
		f.TenantDir = dirWith(i)
		want := version(i)
		var mu sync.Mutex
		applied := 0
		sum, err := f.Migrate(ctx, fleet.Options{Concurrency: conc}, func(o fleet.Outcome) {
			if o.Kind == fleet.KindTenant && o.Err == nil && slices.Equal(o.Applied, []string{want}) {
				mu.Lock()
				applied++
				mu.Unlock()
			}
		})
		if err != nil {
			t.Fatalf("Migrate (concurrency %d): %v", conc, err)
		}
		if applied != n || sum.Failed != 0 {
			t.Fatalf("Migrate (concurrency %d): %d tenants took exactly %s, want %d; summary %+v", conc, applied, want, n, sum)
		}
		rows = append(rows, row{fmt.Sprintf("fleet.Migrate (file %c)", 'A'+i), strconv.Itoa(conc), sum.Took})
		t.Logf("fleet.Migrate concurrency %d: %s", conc, sum.Took.Round(time.Millisecond))
	}

	// The Atlas CLI, from a project directory holding atlas.hcl and the
	// migrations with a fourth file.
	bin, err := atlascli.Binary()
	if err != nil {
		t.Fatalf("atlas CLI: %v", err)
	}
	root, err := atlascli.Root()
	if err != nil {
		t.Fatal(err)
	}
	dirD := dirWith(3)
	project := t.TempDir()
	hcl, err := os.ReadFile(filepath.Join(root, "atlas.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "atlas.hcl"), hcl, 0o644); err != nil {
		t.Fatal(err)
	}
	mainDir, err := migrations.Dir(migrations.Main, env.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	writeDir(t, filepath.Join(project, "migrations", "main", "postgres"), mainDir)
	writeDir(t, filepath.Join(project, "migrations", "tenant", "postgres"), dirD)
	cmd := exec.CommandContext(ctx, bin, "migrate", "apply", "--env", "tenants")
	cmd.Dir = project
	cmd.Env = append(os.Environ(), "ATLAS_NO_UPDATE_NOTIFIER=1", "DATABASE_URL="+env.URL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start = time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("atlas migrate apply --env tenants: %v\n%s", err, tail(out.String(), 2000))
	}
	if got := strings.Count(out.String(), "-- migrating version "+version(3)); got != n {
		t.Fatalf("atlas migrated %d tenants to %s, want %d\n%s", got, version(3), n, tail(out.String(), 2000))
	}
	rows = append(rows, row{"atlas migrate apply --env tenants (file D)", "1 (sequential)", took})
	t.Logf("atlas CLI: %s", took.Round(time.Millisecond))

	f.TenantDir = dirD
	lines, _, err := f.Status(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if l.Kind == fleet.KindTenant && (l.Err != nil || l.Current != version(3) || l.Pending != 0) {
			t.Errorf("after the CLI: %s = %+v, want %s", l.Slug, l, version(3))
		}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "Fleet of %d PostgreSQL tenant databases; each step applies one new file to every tenant.\n", n)
	fmt.Fprintf(&report, "Load average before: %s; after: %s.\n\n", loadBefore, loadAvg())
	fmt.Fprintf(&report, "| method | concurrency | total s | per tenant ms |\n| --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&report, "| %s | %s | %.1f | %.1f |\n", r.method, r.concurrency, r.took.Seconds(), float64(r.took.Microseconds())/1000/float64(n))
	}
	t.Logf("\n%s", report.String())
	if p := os.Getenv("TENANTKIT_SCALE_REPORT"); p != "" {
		if err := os.WriteFile(p, []byte(report.String()), 0o644); err != nil {
			t.Errorf("write %s: %v", p, err)
		}
	}
}

// loadAvg is the machine's 1, 5 and 15 minute load averages (Linux), to
// read the figures against.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func freeBytes(path string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0
	}
	return st.Bavail * uint64(st.Bsize)
}

// writeDir writes the files of dir (and its atlas.sum) into path.
func writeDir(t *testing.T, path string, dir migrate.Dir) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	local, err := migrate.NewLocalDir(path)
	if err != nil {
		t.Fatal(err)
	}
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := local.WriteFile(f.Name(), f.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := local.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.WriteSumFile(local, sum); err != nil {
		t.Fatal(err)
	}
}

// dropAll drops every database starting with prefix, 4 at a time.
func dropAll(t *testing.T, env testdb.Env, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	names, err := env.Server.List(ctx, prefix)
	if err != nil {
		t.Errorf("list databases to drop: %v", err)
		return
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if err := env.Server.Drop(ctx, name); err != nil {
					t.Errorf("drop %s: %v", name, err)
				}
			}
		}()
	}
	for _, name := range names {
		work <- name
	}
	close(work)
	wg.Wait()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
