package dbmigrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
)

// RevisionTable is the name of the table the Atlas CLI keeps its revisions
// in. The service writes the same table with the same columns, so
// `atlas migrate status` and this package read each other's work.
const RevisionTable = "atlas_schema_revisions"

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// revisionStore implements migrate.RevisionReadWriter on the Atlas CLI's
// revisions table. Neither ent nor Atlas export one (the CLI's is internal).
type revisionStore struct {
	db      queryer
	dialect string
}

var _ migrate.RevisionReadWriter = (*revisionStore)(nil)

// The DDL matches what the Atlas CLI creates when its URL names the public
// schema (search_path=public), column for column.
const (
	createRevisionsPostgres = `CREATE TABLE IF NOT EXISTS "public"."atlas_schema_revisions" (` +
		`"version" character varying NOT NULL, "description" character varying NOT NULL, ` +
		`"type" bigint NOT NULL DEFAULT 2, "applied" bigint NOT NULL DEFAULT 0, "total" bigint NOT NULL DEFAULT 0, ` +
		`"executed_at" timestamptz NOT NULL, "execution_time" bigint NOT NULL, "error" text NULL, "error_stmt" text NULL, ` +
		`"hash" character varying NOT NULL, "partial_hashes" jsonb NULL, "operator_version" character varying NOT NULL, ` +
		`PRIMARY KEY ("version"))`
	createRevisionsSQLite = "CREATE TABLE IF NOT EXISTS `atlas_schema_revisions` (" +
		"`version` text NOT NULL, `description` text NOT NULL, `type` integer NOT NULL DEFAULT 2, " +
		"`applied` integer NOT NULL DEFAULT 0, `total` integer NOT NULL DEFAULT 0, `executed_at` datetime NOT NULL, " +
		"`execution_time` integer NOT NULL, `error` text NULL, `error_stmt` text NULL, `hash` text NOT NULL, " +
		"`partial_hashes` json NULL, `operator_version` text NOT NULL, PRIMARY KEY (`version`))"
	revisionColumns = `version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version`
)

func newRevisionStore(db queryer, dialectName string) (*revisionStore, error) {
	switch dialectName {
	case dialect.Postgres, dialect.SQLite:
		return &revisionStore{db: db, dialect: dialectName}, nil
	default:
		return nil, fmt.Errorf("dbmigrate: unsupported dialect %q", dialectName)
	}
}

func (s *revisionStore) table() string {
	if s.dialect == dialect.Postgres {
		return `"public"."atlas_schema_revisions"`
	}
	return "`atlas_schema_revisions`"
}

// placeholder returns the n-th (1-based) bind parameter of the dialect.
func (s *revisionStore) placeholder(n int) string {
	if s.dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

func (s *revisionStore) ensureTable(ctx context.Context) error {
	ddl := createRevisionsSQLite
	if s.dialect == dialect.Postgres {
		ddl = createRevisionsPostgres
	}
	if _, err := s.db.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("create revisions table: %w", err)
	}
	return nil
}

// exists reports whether the revisions table exists, without creating it:
// status queries must not write.
func (s *revisionStore) exists(ctx context.Context) (bool, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'atlas_schema_revisions'`
	if s.dialect == dialect.Postgres {
		q = `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public' AND tablename = 'atlas_schema_revisions'`
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return false, fmt.Errorf("look up revisions table: %w", err)
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return false, err
		}
	}
	return n > 0, rows.Err()
}

// Ident implements migrate.RevisionReadWriter.
func (s *revisionStore) Ident() *migrate.TableIdent {
	if s.dialect == dialect.Postgres {
		return &migrate.TableIdent{Name: RevisionTable, Schema: "public"}
	}
	return &migrate.TableIdent{Name: RevisionTable}
}

// ReadRevisions implements migrate.RevisionReadWriter.
func (s *revisionStore) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	return s.query(ctx, `SELECT `+revisionColumns+` FROM `+s.table()+` ORDER BY version`)
}

// ReadRevision implements migrate.RevisionReadWriter.
func (s *revisionStore) ReadRevision(ctx context.Context, version string) (*migrate.Revision, error) {
	revs, err := s.query(ctx, `SELECT `+revisionColumns+` FROM `+s.table()+` WHERE version = `+s.placeholder(1), version)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 {
		return nil, migrate.ErrRevisionNotExist
	}
	return revs[0], nil
}

// WriteRevision implements migrate.RevisionReadWriter.
func (s *revisionStore) WriteRevision(ctx context.Context, r *migrate.Revision) error {
	var partial any
	if len(r.PartialHashes) > 0 {
		b, err := json.Marshal(r.PartialHashes)
		if err != nil {
			return err
		}
		partial = string(b)
	}
	ph := make([]any, 12)
	for i := range ph {
		ph[i] = s.placeholder(i + 1)
	}
	q := fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) `+
		`ON CONFLICT (version) DO UPDATE SET description = excluded.description, type = excluded.type, `+
		`applied = excluded.applied, total = excluded.total, executed_at = excluded.executed_at, `+
		`execution_time = excluded.execution_time, error = excluded.error, error_stmt = excluded.error_stmt, `+
		`hash = excluded.hash, partial_hashes = excluded.partial_hashes, operator_version = excluded.operator_version`,
		append([]any{s.table(), revisionColumns}, ph...)...)
	_, err := s.db.ExecContext(ctx, q,
		r.Version, r.Description, int64(r.Type), r.Applied, r.Total, r.ExecutedAt.UTC(),
		int64(r.ExecutionTime), nullString(r.Error), nullString(r.ErrorStmt), r.Hash, partial, r.OperatorVersion)
	if err != nil {
		return fmt.Errorf("write revision %s: %w", r.Version, err)
	}
	return nil
}

// DeleteRevision implements migrate.RevisionReadWriter.
func (s *revisionStore) DeleteRevision(ctx context.Context, version string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM `+s.table()+` WHERE version = `+s.placeholder(1), version)
	return err
}

func (s *revisionStore) query(ctx context.Context, q string, args ...any) ([]*migrate.Revision, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	defer rows.Close()
	var revs []*migrate.Revision
	for rows.Next() {
		var (
			r                migrate.Revision
			typ, execTime    int64
			errText, errStmt sql.NullString
			partial          sql.NullString
			executedAt       time.Time
		)
		if err := rows.Scan(&r.Version, &r.Description, &typ, &r.Applied, &r.Total, &executedAt,
			&execTime, &errText, &errStmt, &r.Hash, &partial, &r.OperatorVersion); err != nil {
			return nil, fmt.Errorf("scan revision: %w", err)
		}
		r.Type = migrate.RevisionType(typ)
		r.ExecutedAt = executedAt
		r.ExecutionTime = time.Duration(execTime)
		r.Error, r.ErrorStmt = errText.String, errStmt.String
		if partial.Valid && partial.String != "" {
			if err := json.Unmarshal([]byte(partial.String), &r.PartialHashes); err != nil {
				return nil, fmt.Errorf("revision %s: partial hashes: %w", r.Version, err)
			}
		}
		revs = append(revs, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, errors.Join(errors.New("read revisions"), err)
	}
	return revs, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
