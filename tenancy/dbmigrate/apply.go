// Package dbmigrate applies Atlas versioned migration directories to a
// database from Go, with the same lock and revisions table as the Atlas CLI,
// one transaction per migration file.
package dbmigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/adler32"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
)

// DefaultLockName is the advisory lock the Atlas CLI takes while it applies
// migrations; taking the same one keeps the CLI and the service from
// migrating one database at the same time.
const DefaultLockName = "atlas_migrate_execute"

// Options configure Apply.
type Options struct {
	// LockName overrides DefaultLockName. On SQLite, Atlas implements the lock
	// as a file in the temp directory named after the lock, so each database
	// file needs its own name: see SQLiteLockName.
	LockName string
	// LockTimeout bounds the wait for the lock (default 30s).
	LockTimeout time.Duration
	// Operator is recorded in the revisions table (operator_version column).
	Operator string
	// DryRun reports the pending files without applying them.
	DryRun bool
}

// Result is the outcome of Apply.
type Result struct {
	From    string   // version before (empty for a fresh database)
	To      string   // version after (in a dry run, the version it would reach)
	Applied []string // versions applied, in order (in a dry run, those that would be)
}

// State is a database's migration state against a directory.
type State struct {
	Current string   // latest applied version, empty if none
	Latest  string   // latest version of the directory
	Pending []string // versions not yet applied
}

// SQLiteLockName returns a lock name private to one SQLite file.
func SQLiteLockName(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return fmt.Sprintf("%s_%x", DefaultLockName, adler32.Checksum([]byte(abs)))
}

func openDriver(db schema.ExecQuerier, dialectName string) (migrate.Driver, error) {
	switch dialectName {
	case dialect.Postgres:
		return postgres.Open(db)
	case dialect.SQLite:
		return sqlite.Open(db)
	default:
		return nil, fmt.Errorf("dbmigrate: unsupported dialect %q", dialectName)
	}
}

// LatestVersion returns the version of the newest file of dir.
func LatestVersion(dir migrate.Dir) (string, error) {
	files, err := dir.Files()
	if err != nil {
		return "", fmt.Errorf("read migration directory: %w", err)
	}
	if len(files) == 0 {
		return "", nil
	}
	return files[len(files)-1].Version(), nil
}

// Status reports which versions of dir db has applied, without writing.
func Status(ctx context.Context, db *sql.DB, dialectName string, dir migrate.Dir) (State, error) {
	store, err := newRevisionStore(db, dialectName)
	if err != nil {
		return State{}, err
	}
	latest, err := LatestVersion(dir)
	if err != nil {
		return State{}, err
	}
	st := State{Latest: latest}
	// One round trip in the common case (the service checks every tenant
	// database it opens): read first, and only on failure ask whether the
	// table exists at all.
	revs, err := store.ReadRevisions(ctx)
	if err != nil {
		ok, xerr := store.exists(ctx)
		if xerr != nil || ok {
			return State{}, err
		}
		revs = nil
	}
	applied := map[string]bool{}
	st.Current = currentVersion(revs)
	for _, r := range revs {
		applied[r.Version] = r.Applied == r.Total || r.Type&migrate.RevisionTypeBaseline != 0
	}
	files, err := dir.Files()
	if err != nil {
		return State{}, fmt.Errorf("read migration directory: %w", err)
	}
	for _, f := range files {
		if !applied[f.Version()] {
			st.Pending = append(st.Pending, f.Version())
		}
	}
	return st, nil
}

// currentVersion is the newest fully applied revision.
func currentVersion(revs []*migrate.Revision) string {
	for i := len(revs) - 1; i >= 0; i-- {
		if revs[i].Applied == revs[i].Total || revs[i].Type&migrate.RevisionTypeBaseline != 0 {
			return revs[i].Version
		}
	}
	return ""
}

// Apply brings db to the newest version of dir. It holds the migration lock
// for the whole run and applies each file in its own transaction, so a
// failing statement leaves the database at the previous file's version.
func Apply(ctx context.Context, db *sql.DB, dialectName string, dir migrate.Dir, opts Options) (res Result, err error) {
	if opts.LockName == "" {
		opts.LockName = DefaultLockName
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 30 * time.Second
	}
	if opts.Operator == "" {
		opts.Operator = "tenantkit"
	}
	if dialectName != dialect.Postgres && dialectName != dialect.SQLite {
		return res, fmt.Errorf("dbmigrate: unsupported dialect %q", dialectName)
	}
	// One connection holds the lock and applies the files: with the lock on
	// one connection and the work on others, a small pool (or several runs
	// sharing one) deadlocks.
	conn, err := db.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("get connection: %w", err)
	}
	defer conn.Close()
	drv, err := openDriver(conn, dialectName)
	if err != nil {
		return res, fmt.Errorf("open migration driver: %w", err)
	}
	locker, ok := drv.(schema.Locker)
	if !ok {
		return res, fmt.Errorf("dbmigrate: %s driver cannot lock", dialectName)
	}
	// A dry run only reads: a migration in progress does not hold it up
	// (it may list a file that run is applying right now).
	if !opts.DryRun {
		unlock, lerr := acquireLock(ctx, dialectName, locker, opts.LockName, opts.LockTimeout)
		if lerr != nil {
			return res, fmt.Errorf("acquire migration lock %q: %w", opts.LockName, lerr)
		}
		defer func() {
			if uerr := unlock(); uerr != nil {
				err = errors.Join(err, fmt.Errorf("release migration lock: %w", uerr))
			}
		}()
	}

	store, err := newRevisionStore(conn, dialectName)
	if err != nil {
		return res, err
	}
	if !opts.DryRun {
		if err := store.ensureTable(ctx); err != nil {
			return res, err
		}
	}
	revs, err := readRevisionsIfAny(ctx, store)
	if err != nil {
		return res, err
	}
	res.From = currentVersion(revs)
	res.To = res.From
	if err := checkApplied(dir, revs); err != nil {
		return res, err
	}

	pending, err := pendingFiles(ctx, drv, dir, store, opts)
	if err != nil {
		return res, err
	}
	for _, f := range pending {
		if opts.DryRun {
			res.Applied = append(res.Applied, f.Version())
			res.To = f.Version()
			continue
		}
		if err := applyFile(ctx, conn, dialectName, dir, f, opts.Operator); err != nil {
			return res, fmt.Errorf("apply %s: %w", f.Name(), err)
		}
		res.Applied = append(res.Applied, f.Version())
		res.To = f.Version()
	}
	return res, nil
}

// sqliteLocks serializes this process's runs per SQLite lock name: Atlas's
// SQLite lock reads the lock file, then creates it, so two goroutines can
// both take it.
var sqliteLocks sync.Map // lock name -> chan struct{} (capacity 1)

// acquireLock takes the migration lock, waiting up to timeout or until ctx
// ends. The waiting is done here, one attempt at a time: Atlas's PostgreSQL
// lock sleeps between its own attempts without watching the context (a
// Ctrl-C would wait out the whole timeout), and its SQLite lock file fails
// at once with "lock ... already taken".
func acquireLock(ctx context.Context, dialectName string, locker schema.Locker, name string, timeout time.Duration) (schema.UnlockFunc, error) {
	// The unlock runs on the context given to Lock: it must outlive ctx, or a
	// cancelled run would return the locked connection to the pool.
	lockCtx := context.WithoutCancel(ctx)
	deadline := time.Now().Add(timeout)
	attemptTimeout := time.Duration(0) // PostgreSQL: try once
	releaseLocal := func() {}
	if dialectName == dialect.SQLite {
		// The SQLite lock file records its expiry: now + the timeout given.
		attemptTimeout = timeout
		v, _ := sqliteLocks.LoadOrStore(name, make(chan struct{}, 1))
		local := v.(chan struct{})
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case local <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, schema.ErrLocked
		}
		releaseLocal = func() { <-local }
	}
	for delay := 25 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		unlock, err := locker.Lock(lockCtx, name, attemptTimeout)
		if err == nil {
			return func() error {
				defer releaseLocal()
				return unlock()
			}, nil
		}
		if !lockTaken(err) || time.Now().Add(delay).After(deadline) {
			releaseLocal()
			return nil, err
		}
		select {
		case <-ctx.Done():
			releaseLocal()
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// lockTaken reports whether err says another session holds the lock.
func lockTaken(err error) bool {
	return errors.Is(err, schema.ErrLocked) || strings.Contains(err.Error(), "already taken")
}

// checkApplied refuses a directory whose already applied files differ from
// what the database recorded: a file edited after it was applied and then
// re-hashed into atlas.sum. Atlas's executor only checks atlas.sum against
// the files, and would skip such a file silently. Fully applied revisions
// are compared; baselines and partially applied ones carry no usable hash.
func checkApplied(dir migrate.Dir, revs []*migrate.Revision) error {
	if len(revs) == 0 {
		return nil
	}
	if err := migrate.Validate(dir); err != nil {
		return fmt.Errorf("validate migration directory: %w", err)
	}
	sum, err := dir.Checksum()
	if err != nil {
		return fmt.Errorf("compute migration directory checksum: %w", err)
	}
	files, err := dir.Files()
	if err != nil {
		return fmt.Errorf("read migration directory: %w", err)
	}
	names := make(map[string]string, len(files))
	for _, f := range files {
		names[f.Version()] = f.Name()
	}
	for _, r := range revs {
		name, ok := names[r.Version]
		if !ok || r.Hash == "" || r.Type&migrate.RevisionTypeExecute == 0 || r.Applied != r.Total {
			continue
		}
		h, err := sum.SumByName(name)
		if err != nil {
			return fmt.Errorf("checksum of %s: %w", name, err)
		}
		if h != r.Hash {
			return fmt.Errorf("migration file %s was edited after it was applied (recorded hash %s, file hash %s): %w",
				name, r.Hash, h, migrate.ErrChecksumMismatch)
		}
	}
	return nil
}

func readRevisionsIfAny(ctx context.Context, store *revisionStore) ([]*migrate.Revision, error) {
	ok, err := store.exists(ctx)
	if err != nil || !ok {
		return nil, err
	}
	return store.ReadRevisions(ctx)
}

func pendingFiles(ctx context.Context, drv migrate.Driver, dir migrate.Dir, store *revisionStore, opts Options) ([]migrate.File, error) {
	if opts.DryRun {
		// A dry run must not create the revisions table; without it every
		// file is pending.
		ok, err := store.exists(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := migrate.Validate(dir); err != nil {
				return nil, fmt.Errorf("validate migration directory: %w", err)
			}
			files, err := dir.Files()
			return files, err
		}
	}
	ex, err := migrate.NewExecutor(drv, dir, store, migrate.WithOperatorVersion(opts.Operator))
	if err != nil {
		return nil, fmt.Errorf("create migration executor: %w", err)
	}
	files, err := ex.Pending(ctx)
	if errors.Is(err, migrate.ErrNoPendingFiles) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("compute pending migrations: %w", err)
	}
	return files, nil
}

func applyFile(ctx context.Context, db *sql.Conn, dialectName string, dir migrate.Dir, f migrate.File, operator string) (err error) {
	if dialectName == dialect.SQLite {
		restore, ferr := sqliteForeignKeysOff(ctx, db)
		if ferr != nil {
			return ferr
		}
		defer func() { err = errors.Join(err, restore()) }()
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	var violationsBefore []fkViolation
	if dialectName == dialect.SQLite {
		if violationsBefore, err = foreignKeyViolations(ctx, tx); err != nil {
			return err
		}
	}
	drv, err := openDriver(tx, dialectName)
	if err != nil {
		return err
	}
	store, err := newRevisionStore(tx, dialectName)
	if err != nil {
		return err
	}
	ex, err := migrate.NewExecutor(drv, dir, store, migrate.WithOperatorVersion(operator))
	if err != nil {
		return err
	}
	if err := ex.Execute(ctx, f); err != nil {
		return err
	}
	if dialectName == dialect.SQLite {
		// With foreign keys off nothing stopped the file from leaving a
		// reference dangling: SQLite's own check must find nothing new.
		after, err := foreignKeyViolations(ctx, tx)
		if err != nil {
			return err
		}
		if err := newViolations(violationsBefore, after); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// Lock takes the named advisory lock on db (PostgreSQL: pg_advisory_lock on
// a dedicated connection; SQLite: Atlas's lock file), waiting up to timeout.
func Lock(ctx context.Context, db *sql.DB, dialectName, name string, timeout time.Duration) (unlock func() error, err error) {
	drv, err := openDriver(db, dialectName)
	if err != nil {
		return nil, err
	}
	locker, ok := drv.(schema.Locker)
	if !ok {
		return nil, fmt.Errorf("dbmigrate: %s driver cannot lock", dialectName)
	}
	u, err := acquireLock(ctx, dialectName, locker, name, timeout)
	if err != nil {
		return nil, fmt.Errorf("acquire lock %q: %w", name, err)
	}
	return u, nil
}
