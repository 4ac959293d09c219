package wattfare_test

import (
	"strings"
	"testing"
)

// TestControlPlaneUsesServiceInterfaces keeps the control plane on the
// root package's service interfaces (AccountService, AppService, …): the
// non-test builds of graph and controlplane depend neither on package
// postgres nor on pgx, so only cmd/wattfare chooses the implementations.
func TestControlPlaneUsesServiceInterfaces(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"/controlplane" && p.ImportPath != module+"/graph" && !strings.HasPrefix(p.ImportPath, module+"/graph/") {
			continue
		}
		for _, dep := range p.Deps {
			if dep == module+"/postgres" || strings.HasPrefix(dep, module+"/postgres/") || strings.HasPrefix(dep, "github.com/jackc/") {
				t.Errorf("package %s depends on %s: it must call the root package's services, which cmd/wattfare wires", p.ImportPath, dep)
			}
		}
	}
}

// TestRootIsStandardLibraryOnly keeps the domain free of adapters: the root
// package imports the standard library only.
func TestRootIsStandardLibraryOnly(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		if p.ImportPath != module {
			continue
		}
		for _, imp := range p.Imports {
			if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
				t.Errorf("the root package imports %s", imp)
			}
		}
		return
	}
	t.Fatal("the root package is not listed")
}
