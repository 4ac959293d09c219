// Command wattfare is the one binary of Wattfare:
//
//	wattfare dev       everything on one machine: Postgres checks, migrations, both planes,
//	                   the sandbox upstream, the demo app and a seeded demo
//	wattfare control   the control plane (GraphQL, consent, web app)
//	wattfare data      the data plane (OpenAI-compatible proxy)
//	wattfare migrate   apply database migrations
//	wattfare sandbox   the deterministic sandbox model server, standalone
//	wattfare spool     list processes holding leases; abandon one whose spool is lost
//
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/wattfare/wattfare/postgres"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string) error) {
	commands[name] = command{summary: summary, run: run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: wattfare <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "wattfare: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		slog.Error("wattfare "+os.Args[1], "err", err)
		os.Exit(1)
	}
}

// envOr returns the environment variable key, or def when it is unset.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// databaseURL is DATABASE_URL, or postgres.DefaultURL when it is unset.
func databaseURL() string { return envOr("DATABASE_URL", postgres.DefaultURL) }
