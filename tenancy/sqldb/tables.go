package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"
)

// Table is a table of a database, as the database names it.
type Table struct {
	Schema string // "public" (or another schema) on PostgreSQL, "main" on SQLite
	Name   string
}

// String is the schema-qualified name, for messages.
func (t Table) String() string { return t.Schema + "." + t.Name }

// Quoted is the schema-qualified name as a quoted SQL identifier: names read
// from a database are data and are never spliced in unquoted.
func (t Table) Quoted(dialectName string) string {
	if dialectName == dialect.Postgres {
		return pq.QuoteIdentifier(t.Schema) + "." + pq.QuoteIdentifier(t.Name)
	}
	return quoteSQLite(t.Schema) + "." + quoteSQLite(t.Name)
}

func quoteSQLite(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// DefaultSchema is where unqualified tables live: "public" or "main".
func DefaultSchema(dialectName string) string {
	if dialectName == dialect.Postgres {
		return "public"
	}
	return "main"
}

// Tables lists the ordinary tables of the database db is connected to,
// outside the system catalogs.
func Tables(ctx context.Context, db *sql.DB, dialectName string) ([]Table, error) {
	var q string
	switch dialectName {
	case dialect.Postgres:
		q = `SELECT schemaname, tablename FROM pg_catalog.pg_tables
		     WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`
	case dialect.SQLite:
		q = `SELECT 'main', name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY 2`
	default:
		return nil, fmt.Errorf("unsupported dialect %q", dialectName)
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tables []Table
	for rows.Next() {
		var t Table
		if err := rows.Scan(&t.Schema, &t.Name); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, rows.Err()
}
