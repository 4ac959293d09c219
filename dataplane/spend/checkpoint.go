package spend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/wattfare/wattfare"
)

// Stream checkpoints: what each open request has delivered so far, kept
// where a SIGKILL cannot take it (DESIGN.md invariant 5: no usage of bytes
// that left the process is lost).
//
// A process's checkpoints live in files <spool dir>/<process id>/streams-<n>,
// mapped MAP_SHARED like the spool's segments: a store into them is in the
// kernel's page cache at once and outlives the process, and no system call
// is made per checkpoint. Each file holds slotsPerFile fixed-size slots; a
// hold claims one on its first Checkpoint (from a free list; when all are
// used, another file is added) and frees it when it settles or is
// released. A slot's static part (the Settlement's ids, admission time,
// lease, model...: everything but the numbers) is written once when it is
// claimed; each Checkpoint then only stores the numbers, aligned 8-byte
// words, the cost last. A slot whose state word is slotLive belongs to an
// open request.
//
// Recovery (adopt.go) turns every live slot of a dead run into a settlement
// of status StatusInterrupted charged its checkpointed cost, unless the
// run's spool already has that request's final record.

const (
	slotSize     = 1024
	slotsPerFile = 256
	slotFileSize = slotSize * slotsPerFile
	slotHdrSize  = int(unsafe.Sizeof(slotHdr{}))
	slotStatic   = slotSize - slotHdrSize // room for the static part

	slotFree = 0
	slotLive = 0x4556494c54535746 // "FWSTLIVE" in little-endian bytes: no stray word reads as live
)

// slotHdr is the start of a slot, in the mapped file, in the machine's byte
// order (readSlots reads it as little-endian: amd64 and arm64). Only the
// hold that claimed the slot writes it; a process reads slots only of a
// dead run (through read(2), not the mapping).
type slotHdr struct {
	state      uint64 // slotFree or slotLive
	seq        uint64 // bumped when the hold moves to another lease: the newer slot wins
	hold       int64  // the hold's amount at the checkpoint
	prompt     int64
	completion int64
	cached     int64
	reasoning  int64
	duration   int64
	cost       int64 // written last
	staticLen  uint32
	staticCRC  uint32
}

// slots is a process's table of checkpoint slots.
type slots struct {
	dir string
	log *slog.Logger

	mu     sync.Mutex
	files  []*slotFile
	idle   []int32 // free slot numbers: file index × slotsPerFile + slot in file
	seq    int     // last file number used
	live   int     // claimed slots
	closed bool    // no more claims, files stay mapped (see close)
	failed bool    // a file could not be added (logged once)
}

type slotFile struct {
	name string
	f    *os.File
	mem  []byte
}

// slotFiles lists dir's checkpoint files in number order.
func slotFiles(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "streams-*"))
	sort.Slice(names, func(i, j int) bool { return slotFileNum(names[i]) < slotFileNum(names[j]) })
	return names
}

func slotFileNum(path string) int {
	var n int
	fmt.Sscanf(filepath.Base(path), "streams-%d", &n)
	return n
}

// openSlots starts the process's checkpoint table with one file, numbered
// after any file in dir (those are a previous run's, being recovered).
func openSlots(dir string, log *slog.Logger) (*slots, error) {
	t := &slots{dir: dir, log: log}
	for _, n := range slotFiles(dir) {
		t.seq = max(t.seq, slotFileNum(n))
	}
	if err := t.grow(); err != nil {
		return nil, err
	}
	return t, nil
}

// grow adds a file of free slots; t.mu is held (or t is not shared yet).
func (t *slots) grow() error {
	t.seq++
	name := filepath.Join(t.dir, fmt.Sprintf("streams-%d", t.seq))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	if err := f.Truncate(slotFileSize); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("checkpoints: %w", err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, slotFileSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("checkpoints: map: %w", err)
	}
	fi := int32(len(t.files))
	t.files = append(t.files, &slotFile{name: name, f: f, mem: mem})
	for i := int32(slotsPerFile - 1); i >= 0; i-- {
		t.idle = append(t.idle, fi*slotsPerFile+i)
	}
	return nil
}

func (t *slots) mem(n int32) []byte {
	off := int(n%slotsPerFile) * slotSize
	return t.files[n/slotsPerFile].mem[off : off+slotSize : off+slotSize]
}

// claim takes a free slot for h and writes its static part from h and u;
// nil when none can be had (closed, no file could be added, or the static
// part does not fit a slot).
func (t *slots) claim(h *Hold, u *wattfare.Usage, seq uint64) (*slotHdr, int32) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, -1
	}
	if len(t.idle) == 0 {
		if err := t.grow(); err != nil {
			if !t.failed {
				t.failed = true
				t.log.Error("cannot add stream checkpoints; streams beyond the open ones are not checkpointed", "err", err)
			}
			t.mu.Unlock()
			return nil, -1
		}
	}
	n := t.idle[len(t.idle)-1]
	t.idle = t.idle[:len(t.idle)-1]
	t.live++
	mem := t.mem(n)
	t.mu.Unlock()

	hdr := (*slotHdr)(unsafe.Pointer(&mem[0]))
	p := &h.payer
	rec := wattfare.Settlement{
		RequestID: h.requestID, At: h.at, LeaseID: h.lease.id,
		ConnectionID: p.ConnectionID, AccountID: p.AccountID, AppID: p.AppID, AppUserID: p.AppUserID,
		KeyID: p.KeyID, Mode: p.Mode,
		Usage: wattfare.Usage{Model: u.Model, Upstream: u.Upstream, UpstreamID: u.UpstreamID,
			Endpoint: u.Endpoint, Stream: u.Stream},
	}
	room := mem[slotHdrSize:slotHdrSize:slotSize]
	b := encodeSettlement(room, &rec)
	if len(b) > slotStatic || unsafe.SliceData(b) != unsafe.SliceData(room) {
		// Ids this long are refused upstream of here; never write past the slot.
		t.log.Warn("request ids too long for a stream checkpoint", "request", h.requestID, "bytes", len(b))
		t.release(n)
		return nil, -1
	}
	hdr.staticLen = uint32(len(b))
	hdr.staticCRC = crc32.ChecksumIEEE(b)
	hdr.seq = seq
	hdr.hold, hdr.prompt, hdr.completion, hdr.cached, hdr.reasoning, hdr.duration, hdr.cost = 0, 0, 0, 0, 0, 0, 0
	hdr.state = slotLive // last: a slot torn while claimed stays free
	return hdr, n
}

// set stores a checkpoint: plain aligned stores, in program order (Go
// orders stores to memory), the cost last. The slot is read only after its
// process died, so no reader sees the stores in progress.
func (hdr *slotHdr) set(u *wattfare.Usage, hold wattfare.Money) {
	hdr.hold = int64(hold)
	hdr.prompt = u.PromptTokens
	hdr.completion = u.CompletionTokens
	hdr.cached = u.CachedTokens
	hdr.reasoning = u.ReasoningTokens
	hdr.duration = int64(u.Duration)
	hdr.cost = int64(max(0, u.Cost))
}

// free marks slot n free (after its request's final record reached the
// spool, or when it was released) and returns it to the free list.
func (t *slots) free(hdr *slotHdr, n int32) {
	hdr.state = slotFree
	t.release(n)
}

func (t *slots) release(n int32) {
	t.mu.Lock()
	t.idle = append(t.idle, n)
	t.live--
	t.mu.Unlock()
}

// move re-claims h's checkpoint for the lease h now holds on, copying the
// numbers, and frees the old slot. The new slot carries a higher seq: when a
// crash leaves both live, recovery keeps the new one.
func (t *slots) move(h *Hold) {
	old, on := h.slot, h.slotN
	var u wattfare.Usage
	if rec, err := decodeSettlement(t.staticOf(old)); err == nil {
		u = rec.Usage
	}
	u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.ReasoningTokens = old.prompt, old.completion, old.cached, old.reasoning
	u.Cost = wattfare.Money(old.cost)
	u.Duration = 0
	hdr, n := t.claim(h, &u, old.seq+1)
	if hdr != nil {
		hdr.set(&u, h.amount)
	}
	t.free(old, on)
	h.slot, h.slotN = hdr, n
}

// staticOf is the static part of a claimed slot of this process.
func (t *slots) staticOf(hdr *slotHdr) []byte {
	base := unsafe.Pointer(hdr)
	n := min(int(hdr.staticLen), slotStatic)
	return unsafe.Slice((*byte)(unsafe.Add(base, slotHdrSize)), n)
}

// close stops claims. When no slot is live it deletes the files (they
// stay mapped: a hold that outlived Close may still free a slot, and
// unmapping would turn that store into a fault); otherwise it leaves them
// for the next start or an adopter to charge.
func (t *slots) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	if t.live > 0 {
		return
	}
	for _, f := range t.files {
		os.Remove(f.name)
		f.f.Close()
	}
}

// crash stops claims and leaves every file as a SIGKILL would (test only,
// through Engine.Crash).
func (t *slots) crash() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// checkpointed is one live slot of a dead run, as a settlement.
type checkpointed struct {
	s   wattfare.Settlement
	seq uint64
}

// readSlots reads the live slots of a checkpoint file.
func readSlots(path string) ([]checkpointed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []checkpointed
	var bad error
	for off := 0; off+slotSize <= len(b); off += slotSize {
		m := b[off : off+slotSize]
		le := binary.LittleEndian
		if le.Uint64(m[0:]) != slotLive {
			continue
		}
		var h slotHdr
		h.seq = le.Uint64(m[unsafe.Offsetof(h.seq):])
		h.hold = int64(le.Uint64(m[unsafe.Offsetof(h.hold):]))
		h.prompt = int64(le.Uint64(m[unsafe.Offsetof(h.prompt):]))
		h.completion = int64(le.Uint64(m[unsafe.Offsetof(h.completion):]))
		h.cached = int64(le.Uint64(m[unsafe.Offsetof(h.cached):]))
		h.reasoning = int64(le.Uint64(m[unsafe.Offsetof(h.reasoning):]))
		h.duration = int64(le.Uint64(m[unsafe.Offsetof(h.duration):]))
		h.cost = int64(le.Uint64(m[unsafe.Offsetof(h.cost):]))
		h.staticLen = le.Uint32(m[unsafe.Offsetof(h.staticLen):])
		h.staticCRC = le.Uint32(m[unsafe.Offsetof(h.staticCRC):])
		if int(h.staticLen) > slotStatic {
			bad = errors.New("checkpoint slot with a bad length")
			continue
		}
		st := m[slotHdrSize : slotHdrSize+int(h.staticLen)]
		if crc32.ChecksumIEEE(st) != h.staticCRC {
			bad = errors.New("checkpoint slot with a bad checksum")
			continue
		}
		rec, err := decodeSettlement(st)
		if err != nil {
			bad = err
			continue
		}
		cost := wattfare.Money(max(0, h.cost))
		rec.FromLease = min(cost, wattfare.Money(max(0, h.hold)))
		u := &rec.Usage
		u.Status = wattfare.StatusInterrupted
		u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.ReasoningTokens = h.prompt, h.completion, h.cached, h.reasoning
		u.Duration = max(0, time.Duration(h.duration))
		u.Cost = cost
		out = append(out, checkpointed{s: rec, seq: h.seq})
	}
	return out, bad
}

// isSlotFile reports whether path names a checkpoint file.
func isSlotFile(path string) bool { return strings.HasPrefix(filepath.Base(path), "streams-") }
