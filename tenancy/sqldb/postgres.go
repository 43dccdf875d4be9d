package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"
)

// Postgres is a PostgreSQL server reached through one base URL; the database
// of the URL's path is replaced by the database each call names.
type Postgres struct {
	base        *url.URL
	maintenance string

	mu    sync.Mutex
	admin *sql.DB
}

// NewPostgres parses a postgres:// URL. maintenance is the database the
// administrative connection uses for CREATE/DROP DATABASE ("postgres" when
// empty): it must exist before anything else does.
func NewPostgres(rawURL, maintenance string) (*Postgres, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", redactURLError(err))
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("database URL scheme %q: want postgres://", u.Scheme)
	}
	if maintenance == "" {
		maintenance = "postgres"
	}
	return &Postgres{base: u, maintenance: maintenance}, nil
}

// DatabaseFromURL returns the database named by a postgres URL's path.
func DatabaseFromURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", redactURLError(err))
	}
	return strings.TrimPrefix(u.Path, "/"), nil
}

// redactURLError drops the URL (which may carry a password) from a parse error.
func redactURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// Dialect implements Server.
func (p *Postgres) Dialect() string { return dialect.Postgres }

// URL returns the connection URL of database name. search_path=public is
// set everywhere so that Atlas (service and CLI) keeps its revisions table
// in public.atlas_schema_revisions.
func (p *Postgres) URL(name string) string {
	u := *p.base
	u.Path = "/" + name
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	q.Set("search_path", "public")
	u.RawQuery = q.Encode()
	return u.String()
}

// Describe implements Server: host and database, never credentials.
func (p *Postgres) Describe(name string) string {
	return fmt.Sprintf("postgres://%s/%s", p.base.Host, name)
}

// Open implements Server.
func (p *Postgres) Open(ctx context.Context, name string, pool Pool) (*sql.DB, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	connector, err := pq.NewConnector(p.URL(name))
	if err != nil {
		return nil, fmt.Errorf("postgres connector: %w", err)
	}
	db := sql.OpenDB(connector)
	pool.apply(db)
	return db, nil
}

func (p *Postgres) adminDB() (*sql.DB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.admin != nil {
		return p.admin, nil
	}
	connector, err := pq.NewConnector(p.URL(p.maintenance))
	if err != nil {
		return nil, fmt.Errorf("postgres connector: %w", err)
	}
	p.admin = sql.OpenDB(connector)
	// CREATE DATABASE takes seconds at worst; a few connections are plenty,
	// and they count against the server's max_connections.
	p.admin.SetMaxOpenConns(4)
	p.admin.SetMaxIdleConns(1)
	p.admin.SetConnMaxIdleTime(time.Minute)
	return p.admin, nil
}

// Exists implements Server.
func (p *Postgres) Exists(ctx context.Context, name string) (bool, error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	db, err := p.adminDB()
	if err != nil {
		return false, err
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		return false, classify(fmt.Errorf("look up database %s: %w", name, err))
	}
	return n > 0, nil
}

// Create implements Server. With a template, PostgreSQL copies it (WAL_LOG
// strategy, the default of PostgreSQL 15); that fails while any session is
// connected to the template (PostgreSQL itself waits 5 s before it reports
// that), so Create retries that one error until TemplateBusyTimeout.
func (p *Postgres) Create(ctx context.Context, name, template string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	stmt := "CREATE DATABASE " + pq.QuoteIdentifier(name)
	if template != "" {
		if err := ValidateName(template); err != nil {
			return err
		}
		stmt += " TEMPLATE " + pq.QuoteIdentifier(template)
	}
	db, err := p.adminDB()
	if err != nil {
		return err
	}
	delay := 50 * time.Millisecond
	deadline := time.Now().Add(TemplateBusyTimeout)
	for {
		_, err = db.ExecContext(ctx, stmt)
		if err == nil {
			return nil
		}
		var pqErr *pq.Error
		if errors.As(err, &pqErr) {
			switch pqErr.Code {
			case "42P04": // duplicate_database
				return fmt.Errorf("create database %s: %w", name, ErrDatabaseExists)
			case "23505": // unique_violation: a concurrent CREATE DATABASE of the same name won the race
				if pqErr.Constraint == "pg_database_datname_index" || strings.Contains(pqErr.Message, "pg_database_datname_index") {
					return fmt.Errorf("create database %s: %w", name, ErrDatabaseExists)
				}
			case "55006": // object_in_use: someone is connected to the template
				if time.Now().Add(delay).Before(deadline) {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(delay):
					}
					continue
				}
			}
		}
		return classify(fmt.Errorf("create database %s: %w", name, err))
	}
}

// TemplateBusyTimeout bounds how long Create keeps retrying a clone while
// another session is connected to the template.
const TemplateBusyTimeout = 15 * time.Second

// Drop implements Server. WITH (FORCE) ends the sessions still connected.
func (p *Postgres) Drop(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	db, err := p.adminDB()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		return classify(fmt.Errorf("drop database %s: %w", name, err))
	}
	return nil
}

// List implements Server.
func (p *Postgres) List(ctx context.Context, prefix string) ([]string, error) {
	db, err := p.adminDB()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`, prefix)
	if err != nil {
		return nil, classify(fmt.Errorf("list databases: %w", err))
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// MigrationLockName implements Server: advisory locks are per database, so
// the CLI's own name works.
func (p *Postgres) MigrationLockName(string) string { return "atlas_migrate_execute" }

// Close implements Server.
func (p *Postgres) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.admin == nil {
		return nil
	}
	err := p.admin.Close()
	p.admin = nil
	return err
}

// classify marks connection-level failures with ErrUnavailable.
func classify(err error) error {
	if IsUnavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
