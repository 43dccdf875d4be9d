package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"entgo.io/ent/dialect"
	"modernc.org/sqlite"

	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
)

// Both ent and Atlas open SQLite as "sqlite3" (the name mattn/go-sqlite3
// takes); registering the pure-Go driver under it keeps cgo out.
func init() {
	for _, d := range sql.Drivers() {
		if d == "sqlite3" {
			return
		}
	}
	sql.Register("sqlite3", &sqlite.Driver{})
}

// SQLite is a directory of SQLite files, one per database: name.db.
type SQLite struct {
	dir string
}

// NewSQLite creates dir if needed.
func NewSQLite(dir string) (*SQLite, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return &SQLite{dir: dir}, nil
}

// Dialect implements Server.
func (s *SQLite) Dialect() string { return dialect.SQLite }

// Path returns the file of database name; the name must be valid.
func (s *SQLite) Path(name string) string { return filepath.Join(s.dir, name+".db") }

// Describe implements Server.
func (s *SQLite) Describe(name string) string { return s.Path(name) }

// DSN returns the modernc DSN of a file: foreign keys on (ent requires it),
// WAL so readers do not block the writer, a busy timeout so concurrent
// writers wait instead of failing with SQLITE_BUSY, and immediate
// transactions so a read-then-write transaction cannot deadlock. The
// driver runs the pragmas in order on every new connection: the busy
// timeout comes first, or journal_mode fails at once with SQLITE_BUSY when
// a pool opens a connection while another one writes.
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open implements Server. The file is created by the driver if missing:
// callers that must not create check Exists first.
func (s *SQLite) Open(ctx context.Context, name string, pool Pool) (*sql.DB, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite3", DSN(s.Path(name)))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", name, err)
	}
	pool.apply(db)
	return db, nil
}

// initFile switches a new, empty database file to WAL on one connection.
// The mode is stored in the file; left to the first requests, the switch
// needs an exclusive lock that concurrent first connections fight over,
// and the losers fail with SQLITE_BUSY (the busy timeout does not cover it).
func initFile(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", DSN(path))
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	return errors.Join(db.PingContext(ctx), db.Close())
}

// Exists implements Server.
func (s *SQLite) Exists(_ context.Context, name string) (bool, error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	_, err := os.Stat(s.Path(name))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// Create implements Server. A template is copied to a temporary file that is
// renamed into place, so a crash never leaves a half-copied database. The
// template must be closed (its WAL checkpointed) while it is copied.
func (s *SQLite) Create(ctx context.Context, name, template string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	target := s.Path(name)
	if template == "" {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create database %s: %w", name, ErrDatabaseExists)
		}
		if err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
		if err := initFile(ctx, target); err != nil {
			// The file is ours and empty: nothing is lost.
			return errors.Join(fmt.Errorf("initialize database %s: %w", name, err), os.Remove(target))
		}
		return nil
	}
	if err := ValidateName(template); err != nil {
		return err
	}
	src, err := os.Open(s.Path(template))
	if err != nil {
		return fmt.Errorf("open template %s: %w", template, err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(s.dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return fmt.Errorf("copy template into %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// os.Link fails if target exists, which gives create-exclusive semantics
	// that a rename would not.
	if err := os.Link(tmp.Name(), target); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create database %s: %w", name, ErrDatabaseExists)
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Drop implements Server.
func (s *SQLite) Drop(_ context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	var errs []error
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(s.Path(name) + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// List implements Server.
func (s *SQLite) List(_ context.Context, prefix string) ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".db")
		if ok && strings.HasPrefix(n, prefix) && ValidateName(n) == nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// MigrationLockName implements Server: Atlas locks SQLite through a file in
// the temp dir named after the lock, so the name must be per file.
func (s *SQLite) MigrationLockName(name string) string {
	return dbmigrate.SQLiteLockName(s.Path(name))
}

// Close implements Server.
func (s *SQLite) Close() error { return nil }
