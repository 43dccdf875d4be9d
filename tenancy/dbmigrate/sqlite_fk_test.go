package dbmigrate_test

import (
	"errors"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/tenancy/dbmigrate"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

const fkSchema = `CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE posts (id integer PRIMARY KEY, title text, author_id integer NULL REFERENCES users (id) ON DELETE SET NULL);
CREATE TABLE comments (id integer PRIMARY KEY, post_id integer NOT NULL REFERENCES posts (id) ON DELETE CASCADE);
`

// What `make migration` writes for SQLite when a column of a referenced
// table changes: Atlas rebuilds the table between PRAGMA foreign_keys
// off/on.
const fkRebuild = `PRAGMA foreign_keys = off;
CREATE TABLE new_users (id integer PRIMARY KEY, name text NULL);
INSERT INTO new_users (id, name) SELECT id, name FROM users;
DROP TABLE users;
ALTER TABLE new_users RENAME TO users;
PRAGMA foreign_keys = on;
`

// SQLite ignores PRAGMA foreign_keys inside a transaction, and every file
// runs in one: without turning foreign keys off around it, the rebuild's
// DROP TABLE fires ON DELETE SET NULL / CASCADE and the data referencing the
// table is silently lost. A file that leaves a dangling reference is
// refused and rolled back, and the connection has foreign keys on again
// afterwards, either way.
func TestApplySQLiteTableRebuildKeepsReferencingRows(t *testing.T) {
	t.Parallel()
	env := testdb.SQLite(t)
	ctx := testContext(t)
	name := env.DBName
	if err := env.Server.Create(ctx, name, ""); err != nil {
		t.Fatal(err)
	}
	// One connection: the pragma state checked below is the migration's.
	db, err := env.Server.Open(ctx, name, sqldb.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	foreignKeysOn := func(what string) {
		t.Helper()
		var on bool
		if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on); err != nil || !on {
			t.Fatalf("%s: foreign_keys = %v, %v; want on", what, on, err)
		}
	}

	base := withFiles(t, &migrate.MemDir{}, map[string]string{"1_schema.sql": fkSchema})
	if _, err := dbmigrate.Apply(ctx, db, dialect.SQLite, base, opts(env, name)); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO users (id, name) VALUES (1, 'ann')`,
		`INSERT INTO posts (id, title, author_id) VALUES (10, 'hello', 1)`,
		`INSERT INTO comments (id, post_id) VALUES (100, 10)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}

	rebuilt := withFiles(t, base, map[string]string{"2_rebuild_users.sql": fkRebuild})
	if _, err := dbmigrate.Apply(ctx, db, dialect.SQLite, rebuilt, opts(env, name)); err != nil {
		t.Fatalf("apply the rebuild: %v", err)
	}
	var author *int
	if err := db.QueryRowContext(ctx, `SELECT author_id FROM posts WHERE id = 10`).Scan(&author); err != nil {
		t.Fatalf("the post is gone after the rebuild: %v", err)
	}
	if author == nil || *author != 1 {
		t.Fatalf("the post lost its author in the rebuild: author_id %v", author)
	}
	foreignKeysOn("after the rebuild")

	// A file that leaves a reference dangling is refused, and rolled back.
	dangling := withFiles(t, rebuilt, map[string]string{"3_dangling.sql": `PRAGMA foreign_keys = off;
DELETE FROM users WHERE id = 1;
PRAGMA foreign_keys = on;
`})
	if _, err := dbmigrate.Apply(ctx, db, dialect.SQLite, dangling, opts(env, name)); !errors.Is(err, dbmigrate.ErrForeignKeyViolation) {
		t.Fatalf("a file leaving posts.author_id dangling = %v, want ErrForeignKeyViolation", err)
	}
	var users int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil || users != 1 {
		t.Fatalf("after the refused file: %d users, %v; want it rolled back", users, err)
	}
	st, err := dbmigrate.Status(ctx, db, dialect.SQLite, dangling)
	if err != nil || st.Current != "2" {
		t.Fatalf("status after the refused file: %+v, %v; want at 2", st, err)
	}
	foreignKeysOn("after the refused file")
	// Foreign keys are enforced again.
	if _, err := db.ExecContext(ctx, `INSERT INTO posts (id, author_id) VALUES (11, 99)`); err == nil {
		t.Fatal("a post with a missing author was accepted: foreign keys are off")
	}
}
