package postgres_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wattfare/wattfare/migrations"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// functionDefs returns pg_get_functiondef of every function in the public
// schema that no extension owns, by name; a name defined more than once (a
// stale overload) has several.
func functionDefs(ctx context.Context, t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) map[string][]string {
	t.Helper()
	rows, err := q.Query(ctx, `
		SELECT p.proname, pg_get_functiondef(p.oid)
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'public' AND p.prokind = 'f'
		  -- river's own functions come with its schema (MigrateRiver)
		  AND p.proname NOT LIKE 'river\_%'
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d
		                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string][]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		defs[name] = append(defs[name], def)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return defs
}

// TestFunctionsMatchFiles checks that a freshly migrated database (the
// template pgtest clones, made by postgres.Migrate) runs exactly the
// functions of migrations/functions: one definition per file, none
// without a file, and each as its file defines it. It fails when an edited
// file was not applied, or when a migration leaves a function or an
// overload behind that no file describes.
func TestFunctionsMatchFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	fns, err := migrations.Functions()
	if err != nil {
		t.Fatal(err)
	}
	inDB := functionDefs(ctx, t, conn)

	var files, db []string
	for _, f := range fns {
		files = append(files, f.Name)
	}
	for name := range inDB {
		db = append(db, name)
	}
	sort.Strings(db)
	if strings.Join(files, " ") != strings.Join(db, " ") {
		t.Errorf("functions in the database:\n  %v\nfiles in migrations/functions:\n  %v", db, files)
	}

	for _, f := range fns {
		t.Run(f.Name, func(t *testing.T) {
			before := inDB[f.Name]
			if len(before) != 1 {
				t.Fatalf("%d definitions in the database, want 1", len(before))
			}
			// Apply the file in a transaction rolled back afterwards and
			// compare Postgres's own rendering of the two definitions, so
			// that formatting and defaults do not matter.
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, f.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("apply: %v", err)
			}
			after := functionDefs(ctx, t, tx)[f.Name]
			if len(after) != 1 {
				t.Fatalf("the file adds an overload: %d definitions", len(after))
			}
			if after[0] != before[0] {
				t.Errorf("the database's definition differs from migrations/functions/%s.sql\ndatabase:\n%s\nfile:\n%s", f.Name, before[0], after[0])
			}
		})
	}
}
