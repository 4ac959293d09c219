package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
)

// wattfare spool: what operators need when a data-plane process died. A
// dead process's open leases keep holding its users' budget until its spool
// (settlements and stream checkpoints) is replayed, by a restart under the
// same process id or by any data-plane process on the same host, which
// adopts it within half a lease TTL. When the host is gone for good, an
// operator abandons the process: its open leases are captured in full (the
// conservative choice; their usage events have status "abandoned" and show
// on the admin console) and released.

func init() {
	register("spool", "list data-plane processes holding leases; abandon one whose spool is lost", runSpool)
}

const spoolUsage = `usage:
  wattfare spool list                       processes with open leases: held amounts, expiry,
                                            and the state of their spool on this host
  wattfare spool abandon [-force] <process> capture a dead process's open leases in full and
                                            release them (its spool is lost with its host)

The spool directory on this host is WATTFARE_SPOOL_DIR (default .wattfare/spool).`

func runSpool(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, spoolUsage)
		return errors.New("spool: missing subcommand")
	}
	dir := envOr("WATTFARE_SPOOL_DIR", filepath.Join(".wattfare", "spool"))
	switch args[0] {
	case "list":
		return spoolList(ctx, dir)
	case "abandon":
		fs := flag.NewFlagSet("spool abandon", flag.ContinueOnError)
		force := fs.Bool("force", false, "abandon even though the process's spool is on this host")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fmt.Fprintln(os.Stderr, spoolUsage)
			return errors.New("spool abandon: name one process id")
		}
		return spoolAbandon(ctx, dir, fs.Arg(0), *force)
	default:
		fmt.Fprintln(os.Stderr, spoolUsage)
		return fmt.Errorf("spool: unknown subcommand %q", args[0])
	}
}

func openLedger(ctx context.Context) (*postgres.Ledger, func(), error) {
	pool, err := postgres.Open(ctx, databaseURL())
	if err != nil {
		return nil, nil, err
	}
	return postgres.NewLedger(pool), pool.Close, nil
}

// localSpool says what this host knows of a process's spool directory:
// "alive" (its lock is held), "dead: replayed by the next data plane here"
// (the directory is there, its lock free), or "" (not on this host).
func localSpool(base, processID string) string {
	dir := filepath.Join(base, processID)
	if _, err := os.Stat(dir); err != nil || filepath.Base(processID) != processID {
		return ""
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR, 0)
	if err != nil {
		return "dead: replayed by the next data plane here"
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return "alive"
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return "dead: replayed by the next data plane here"
}

func spoolList(ctx context.Context, base string) error {
	ledger, done, err := openLedger(ctx)
	if err != nil {
		return err
	}
	defer done()
	procs, err := ledger.ProcessLeases(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROCESS\tLEASES\tHELD (USD)\tEXPIRES\tSPOOL ON THIS HOST")
	listed := map[string]bool{}
	for _, p := range procs {
		listed[p.ProcessID] = true
		exp := "in " + p.ExpiresAt.Sub(now).Round(time.Second).String()
		if !p.ExpiresAt.After(now) {
			exp = "expired " + now.Sub(p.ExpiresAt).Round(time.Second).String() + " ago"
		}
		local := localSpool(base, p.ProcessID)
		if local == "" {
			local = "-"
			if !p.ExpiresAt.After(now) {
				local = "- (held until replayed elsewhere or abandoned)"
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", p.ProcessID, p.Leases, p.Held, exp, local)
	}
	// Spools of dead processes here with no lease left open still hold
	// settlements to replay.
	if ents, err := os.ReadDir(base); err == nil {
		for _, e := range ents {
			if e.IsDir() && !listed[e.Name()] {
				fmt.Fprintf(w, "%s\t0\t-\t-\t%s\n", e.Name(), localSpool(base, e.Name()))
			}
		}
	}
	return w.Flush()
}

func spoolAbandon(ctx context.Context, base, processID string, force bool) error {
	switch local := localSpool(base, processID); {
	case local == "alive":
		return fmt.Errorf("spool abandon: process %s is alive on this host (its spool is locked)", processID)
	case local != "" && !force:
		return fmt.Errorf("spool abandon: the spool of %s is on this host (%s): start a data plane here with the same WATTFARE_SPOOL_DIR to replay it, which charges what its requests really delivered; -force abandons it anyway", processID, filepath.Join(base, processID))
	}
	ledger, done, err := openLedger(ctx)
	if err != nil {
		return err
	}
	defer done()
	procs, err := ledger.ProcessLeases(ctx)
	if err != nil {
		return err
	}
	var open *postgres.ProcessLeases
	for i := range procs {
		if procs[i].ProcessID == processID {
			open = &procs[i]
		}
	}
	if open == nil {
		fmt.Printf("process %s holds no open lease: nothing to abandon\n", processID)
		return nil
	}
	captured, err := ledger.AbandonProcess(ctx, processID)
	if errors.Is(err, wattfare.ErrProcessAlive) {
		return fmt.Errorf("%w; wait until its leases expire (a dead process renews nothing)", err)
	}
	if err != nil {
		return err
	}
	fmt.Printf("abandoned %s: captured $%s, its %d open leases in full (usage events of status %q), and released them\n",
		processID, captured, open.Leases, wattfare.StatusAbandoned)
	return nil
}
