package dbmigrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// sqliteForeignKeysOff turns foreign-key enforcement off on conn for one
// migration file, and returns the function that turns it back on.
//
// Atlas writes a SQLite table rebuild (new table, copy, DROP, RENAME)
// between "PRAGMA foreign_keys = off" and "= on", but SQLite ignores that
// pragma inside a transaction, and each file runs in one: the DROP would
// fire the ON DELETE actions of every table referencing the rebuilt one and
// null or delete their rows. So it is turned off here, outside the
// transaction, as the Atlas CLI does (sqlite.OpenTx), and the file is
// checked with PRAGMA foreign_key_check before it commits. Atlas's own
// helpers are not used: OpenTx works on a pool (the pragma and the
// transaction may land on different connections), and its restore runs on
// the caller's context and leaves a connection it could not restore in
// the pool.
func sqliteForeignKeysOff(ctx context.Context, conn *sql.Conn) (restore func() error, err error) {
	var on bool
	if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on); err != nil {
		return nil, fmt.Errorf("read foreign_keys pragma: %w", err)
	}
	if !on {
		return func() error { return nil }, nil
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = off"); err != nil {
		return nil, fmt.Errorf("turn foreign keys off: %w", err)
	}
	return func() error {
		// Even when the run was cancelled: the connection goes back to a
		// pool the application writes through.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = on"); err != nil {
			// Never hand a connection without foreign keys back to the
			// pool: make database/sql discard it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			return fmt.Errorf("turn foreign keys back on: %w", err)
		}
		return nil
	}, nil
}

// fkViolation is a row of PRAGMA foreign_key_check.
type fkViolation struct {
	table, parent string
	rowid         sql.NullInt64
	fkid          int
}

func foreignKeyViolations(ctx context.Context, tx *sql.Tx) ([]fkViolation, error) {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return nil, fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	var vs []fkViolation
	for rows.Next() {
		var v fkViolation
		if err := rows.Scan(&v.table, &v.rowid, &v.parent, &v.fkid); err != nil {
			return nil, fmt.Errorf("foreign key check: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("foreign key check: %w", err)
	}
	return vs, nil
}

// ErrForeignKeyViolation means a migration file left rows referencing rows
// that do not exist.
var ErrForeignKeyViolation = errors.New("migration leaves foreign keys violated")

// newViolations fails with ErrForeignKeyViolation when after holds a
// violation before did not (violations that predate the file are not its
// doing, and SQLite databases may carry them from before enforcement).
func newViolations(before, after []fkViolation) error {
	seen := make(map[fkViolation]bool, len(before))
	for _, v := range before {
		seen[v] = true
	}
	var msgs []string
	for _, v := range after {
		if !seen[v] {
			msgs = append(msgs, fmt.Sprintf("%s row %d references a missing %s row", v.table, v.rowid.Int64, v.parent))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	if len(msgs) > 5 {
		msgs = append(msgs[:5], fmt.Sprintf("and %d more", len(msgs)-5))
	}
	return fmt.Errorf("%w: %s", ErrForeignKeyViolation, strings.Join(msgs, "; "))
}
