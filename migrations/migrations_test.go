package migrations_test

import (
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wattfare/wattfare/migrations"
)

// lastHistoricFunctionMigration is the last numbered migration allowed to
// define functions: 001 to 007 did, before functions/ existed, and stay as
// history.
const lastHistoricFunctionMigration = 7

var (
	lineComment = regexp.MustCompile(`--[^\n]*`)
	defines     = regexp.MustCompile(`(?i)\b(CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION|ALTER\s+FUNCTION)\s+(?:public\.)?"?(\w+)`)
)

// TestNoMigrationRedefinesAFunction fails when a numbered migration newer
// than the historic ones creates or alters a function that has a file in
// functions/: Migrate applies the files after the migrations, so the
// migration's definition would be silently replaced on its first run.
func TestNoMigrationRedefinesAFunction(t *testing.T) {
	fns, err := migrations.Functions()
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) == 0 {
		t.Fatal("no function files embedded")
	}
	hasFile := map[string]bool{}
	for _, f := range fns {
		hasFile[f.Name] = true
	}
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || n <= lastHistoricFunctionMigration {
			continue
		}
		b, err := fs.ReadFile(migrations.FS, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(string(b), "---- create above / drop below ----")
		for _, m := range defines.FindAllStringSubmatch(lineComment.ReplaceAllString(up, ""), -1) {
			if hasFile[strings.ToLower(m[2])] {
				t.Errorf("%s: %s %s: edit migrations/functions/%s.sql instead", e.Name(), m[1], m[2], strings.ToLower(m[2]))
			}
		}
	}
}

// TestFunctionFilesNameTheirFunction checks that each file defines the
// function it is named after, with CREATE OR REPLACE so that it can be
// applied on every run.
func TestFunctionFilesNameTheirFunction(t *testing.T) {
	fns, err := migrations.Functions()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		t.Run(f.Name, func(t *testing.T) {
			ms := defines.FindAllStringSubmatch(lineComment.ReplaceAllString(f.SQL, ""), -1)
			if len(ms) != 1 {
				t.Fatalf("defines %d functions, want 1", len(ms))
			}
			if !strings.EqualFold(ms[0][2], f.Name) {
				t.Errorf("defines %s, want %s", ms[0][2], f.Name)
			}
			if !regexp.MustCompile(`(?i)^CREATE\s+OR\s+REPLACE\s+FUNCTION$`).MatchString(ms[0][1]) {
				t.Errorf("%s, want CREATE OR REPLACE FUNCTION", ms[0][1])
			}
		})
	}
}
