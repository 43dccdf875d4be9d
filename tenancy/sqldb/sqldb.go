// Package sqldb is the database-server layer of tenancy: it opens, creates,
// clones, lists and drops the databases of one server (PostgreSQL through
// lib/pq, or a directory of SQLite files through the pure-Go modernc driver),
// so the rest of the library never builds SQL or paths from names itself.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ErrInvalidName is returned for a database name that could not be used
// safely as an identifier or a file name.
var ErrInvalidName = errors.New("invalid database name")

// ErrDatabaseExists is returned by CreateDatabase when the target exists.
var ErrDatabaseExists = errors.New("database already exists")

// ErrUnavailable wraps failures to reach the database server, so callers can
// answer 503 rather than 500.
var ErrUnavailable = errors.New("database unavailable")

// nameRE is deliberately narrower than what either engine accepts: lower-case
// ASCII letters, digits and underscores, starting with a letter, at most 63
// bytes (PostgreSQL's identifier limit). Such a name is safe as a quoted
// identifier and as a file name on every OS.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidateName reports whether name is a database name this package accepts.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: must match %s", ErrInvalidName, nameRE)
	}
	return nil
}

// Pool bounds one database's connection pool.
type Pool struct {
	MaxOpen     int
	MaxIdle     int
	MaxLifetime time.Duration
	MaxIdleTime time.Duration
}

func (p Pool) apply(db *sql.DB) {
	if p.MaxOpen > 0 {
		db.SetMaxOpenConns(p.MaxOpen)
	}
	if p.MaxIdle > 0 {
		db.SetMaxIdleConns(p.MaxIdle)
	}
	if p.MaxLifetime > 0 {
		db.SetConnMaxLifetime(p.MaxLifetime)
	}
	if p.MaxIdleTime > 0 {
		db.SetConnMaxIdleTime(p.MaxIdleTime)
	}
}

// Server is one database server: a PostgreSQL cluster or a SQLite directory.
type Server interface {
	// Dialect is the ent dialect name ("postgres" or "sqlite3").
	Dialect() string
	// Open returns a pool on database name; it does not create it.
	Open(ctx context.Context, name string, pool Pool) (*sql.DB, error)
	// Exists reports whether database name exists.
	Exists(ctx context.Context, name string) (bool, error)
	// Create creates database name, empty, or as a copy of template when
	// template is not empty. ErrDatabaseExists if it exists.
	Create(ctx context.Context, name, template string) error
	// Drop removes database name if it exists.
	Drop(ctx context.Context, name string) error
	// List returns the names of the databases starting with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// MigrationLockName is the lock dbmigrate should take for name.
	MigrationLockName(name string) string
	// Describe is a location for people and logs, without credentials.
	Describe(name string) string
	// Close releases the administrative connections.
	Close() error
}

// EnsureDatabase creates database name if it does not exist yet; a
// concurrent creator winning the race is not an error.
func EnsureDatabase(ctx context.Context, s Server, name string) error {
	ok, err := s.Exists(ctx, name)
	if err != nil {
		return fmt.Errorf("check database %s: %w", s.Describe(name), err)
	}
	if ok {
		return nil
	}
	if err := s.Create(ctx, name, ""); err != nil && !errors.Is(err, ErrDatabaseExists) {
		return fmt.Errorf("create database %s: %w", s.Describe(name), err)
	}
	return nil
}

// Ping checks that db's database answers. A pooled connection the server
// has closed (a failover, a restart, pg_terminate_backend) fails its ping
// with driver.ErrBadConn and is discarded; database/sql does not retry a
// ping, so Ping does, once per idle connection at most: one dead
// connection says nothing about the database.
func Ping(ctx context.Context, db *sql.DB) error {
	for attempts := db.Stats().Idle + 1; ; attempts-- {
		err := db.PingContext(ctx)
		if err == nil || !errors.Is(err, driver.ErrBadConn) || attempts <= 1 || ctx.Err() != nil {
			return err
		}
	}
}
