package wattfare_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/wattfare/wattfare"

// goPackage is what the boundary tests read of `go list -json`.
type goPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string // non-test files of this platform's build
	CgoFiles   []string
	Imports    []string // of the non-test files
	Deps       []string // every package the non-test build needs, transitively
}

// listPackages returns every package of the module.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	pkgs, err := goList()
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// goList runs `go list -json ./...` once for all the tests here.
var goList = sync.OnceValues(func() ([]goPackage, error) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("go list: %v\n%s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, errors.New("go list found no packages")
	}
	return pkgs, nil
})

// TestPostgresDoesNotImportDataplane keeps the adapters apart: package
// postgres implements the root package's ports (wattfare.Ledger, …), and
// only cmd/wattfare wires it to the data plane.
func TestPostgresDoesNotImportDataplane(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"/postgres" && !strings.HasPrefix(p.ImportPath, module+"/postgres/") {
			continue
		}
		for _, dep := range p.Deps {
			if dep == module+"/dataplane" || strings.HasPrefix(dep, module+"/dataplane/") {
				t.Errorf("package %s depends on %s", p.ImportPath, dep)
			}
		}
	}
}

// envReaders are the functions that read the process environment.
var envReaders = map[string]bool{"Getenv": true, "LookupEnv": true, "Environ": true, "ExpandEnv": true}

// readsEnvAllowed says which packages may read the environment: cmd/, which
// reads all configuration and wires the rest; sdk/ and bench/, which are
// separate programs and SDKs with their own conventions (the Go SDK reads
// WATTFARE_SECRET_KEY for app backends); and postgres/pgtest, test support
// that only tests import (TestTestSupportOnlyInTests checks that).
func readsEnvAllowed(importPath string) bool {
	for _, root := range []string{"cmd", "sdk", "bench"} {
		if importPath == module+"/"+root || strings.HasPrefix(importPath, module+"/"+root+"/") {
			return true
		}
	}
	return importPath == module+"/postgres/pgtest"
}

// knownEnvReaders are reads that must go but cannot yet, by file (relative
// to the module root) and function, with why. The test fails when one is
// gone, so that the list shrinks with them.
var knownEnvReaders = map[string]string{}

// TestOnlyCmdReadsEnvironment keeps configuration in one place: no package
// outside cmd/ (and the exceptions of readsEnvAllowed) calls os.Getenv,
// os.LookupEnv, os.Environ or os.ExpandEnv in a non-test file; every setting
// is read by cmd/wattfare and passed in. It parses the files, so a comment
// or a string that mentions os.Getenv does not count, and an aliased import
// of os does.
func TestOnlyCmdReadsEnvironment(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	fset := token.NewFileSet()
	for _, p := range listPackages(t) {
		if readsEnvAllowed(p.ImportPath) {
			continue
		}
		for _, name := range append(append([]string{}, p.GoFiles...), p.CgoFiles...) {
			path := filepath.Join(p.Dir, name)
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatalf("parse %s: %v", rel, err)
			}
			for _, use := range envReads(f) {
				key := rel + ": os." + use.name
				if _, known := knownEnvReaders[key]; known {
					found[key] = true
					t.Logf("known: %s:%d calls os.%s", rel, fset.Position(use.pos).Line, use.name)
					continue
				}
				t.Errorf("%s:%d calls os.%s: read the setting in cmd/wattfare and pass it in", rel, fset.Position(use.pos).Line, use.name)
			}
		}
	}
	for key, what := range knownEnvReaders {
		if !found[key] {
			t.Errorf("%s (%s) no longer reads the environment: remove it from knownEnvReaders", key, what)
		}
	}
}

type envRead struct {
	name string
	pos  token.Pos
}

// envReads returns f's uses of os's environment readers, called or not.
func envReads(f *ast.File) []envRead {
	var local string
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "os" {
			local = "os"
			if imp.Name != nil {
				local = imp.Name.Name
			}
		}
	}
	switch local {
	case "", "_":
		return nil
	case ".":
		var out []envRead
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && envReaders[id.Name] {
				out = append(out, envRead{id.Name, id.Pos()})
			}
			return true
		})
		return out
	}
	var out []envRead
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == local && envReaders[sel.Sel.Name] {
			out = append(out, envRead{sel.Sel.Name, sel.Pos()})
		}
		return true
	})
	return out
}

// TestTestSupportOnlyInTests checks that no non-test build imports
// postgres/pgtest, which reads the environment and creates databases: it
// is exempt from TestOnlyCmdReadsEnvironment for that reason only.
func TestTestSupportOnlyInTests(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		for _, dep := range p.Deps {
			if dep == module+"/postgres/pgtest" {
				t.Errorf("package %s imports %s outside its tests", p.ImportPath, dep)
			}
		}
	}
}
