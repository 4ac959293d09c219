package dataplane_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundary keeps the data plane's request path free of the
// database driver and the GraphQL server: Postgres sits behind interfaces
// implemented in package postgres, wired by cmd/wattfare.
func TestImportBoundary(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/wattfare/wattfare/dataplane").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/jackc/pgx", "github.com/99designs/gqlgen", "github.com/wattfare/wattfare/controlplane", "github.com/wattfare/wattfare/postgres"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("package dataplane depends on %s", dep)
			}
		}
	}
}
