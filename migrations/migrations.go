// Package migrations embeds Wattfare's SQL: the numbered migrations, applied
// in order by tern, and the SQL functions, one file each in functions/,
// applied after them on every run (`wattfare migrate`, and at the start of
// `wattfare dev`). See functions/README.md for why the functions live apart.
package migrations

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

// FS holds the numbered migration files, the history of the schema.
//
//go:embed *.sql
var FS embed.FS

// FunctionsFS holds functions/<name>.sql: each function's current
// definition as CREATE OR REPLACE FUNCTION.
//
//go:embed functions/*.sql
var FunctionsFS embed.FS

// Function is one file of functions/.
type Function struct {
	Name string // the function's name, from the file's
	SQL  string // its CREATE OR REPLACE FUNCTION statement
}

// Functions returns every function file in name order, the order in which
// they are applied.
func Functions() ([]Function, error) {
	entries, err := fs.ReadDir(FunctionsFS, "functions")
	if err != nil {
		return nil, err
	}
	var out []Function
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		b, err := fs.ReadFile(FunctionsFS, "functions/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Function{Name: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)})
	}
	return out, nil
}
