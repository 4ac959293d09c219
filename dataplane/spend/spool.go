package spend

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/wattfare/wattfare"
)

// spool is a process's append-only file of settlements not yet committed.
// Each Settle copies its record into the current segment, a file mapped
// MAP_SHARED, before returning: the bytes are then in the kernel's page
// cache, which outlives a SIGKILLed process, and no system call is made per
// request. Power loss is not covered (no fsync). The batcher rotates
// segments per batch and deletes a segment once all its records committed.
// A segment is preallocated and zero-filled; a zero length ends its records.
//
// Layout: <dir>/<process id>/{lock, seg-<n>.spool, streams-<n>} (streams:
// the checkpoints of open streams, checkpoint.go). A process holds an
// exclusive flock on its lock file for as long as it lives; a directory
// whose lock is free belongs to a dead process, and any live process on the
// host adopts it (adopt.go): it commits the records and checkpoints, then
// releases the dead process's leases, then deletes the directory.
type spool struct {
	dir     string
	lock    *os.File
	cur     *os.File
	curName string
	curN    int
	mem     []byte // the current segment, mapped shared: a copy into it survives the process
	off     int    // bytes used in mem
	full    []string
	seq     int
	buf     []byte
	log     *slog.Logger

	// Segments rotated out stay mapped until their records commit; then up
	// to maxFreeSegments of them are zeroed and reused (renamed to the next
	// number), so that a segment's pages are allocated and faulted in
	// once, not once per batch.
	mapped map[string]*segment
	free   []*segment

	kept []string // segments waiting for a retried commit
}

const spoolMagic = 0x57465331 // "WFS1"

// lockWait bounds how long a starting process waits for its spool
// directory's lock: another live process may be adopting a dead run of the
// same process id (it holds the lock until it has committed that run's
// records and deleted its files).
const lockWait = 10 * time.Second

// openSpool creates and locks the process's spool directory. It returns the
// files a previous run of the same process id left there (segments and
// stream checkpoints): the caller recovers them (adopt.go) and deletes them.
func openSpool(base, processID string, log *slog.Logger) (*spool, []string, error) {
	dir := filepath.Join(base, processID)
	var lock *os.File
	for deadline := time.Now().Add(lockWait); ; {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("spool: %w", err)
		}
		var err error
		if lock, err = lockDir(dir); err != nil {
			return nil, nil, fmt.Errorf("spool %s: %w", dir, err)
		}
		if lock != nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("spool %s: another live process uses process id %q", dir, processID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := &spool{dir: dir, lock: lock, log: log, mapped: map[string]*segment{}}
	old, last := runFiles(dir)
	s.seq = last
	if err := s.open(); err != nil {
		lock.Close()
		return nil, nil, err
	}
	return s, old, nil
}

// lockDir takes the directory's lock without waiting; nil when it is held
// (or when the lock file was deleted under us by the process that held it:
// the caller tries again).
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, err
	}
	// An adopter deletes a dead process's lock file while it holds the
	// lock: a lock taken on the deleted file locks nothing.
	held, err1 := f.Stat()
	named, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(held, named) {
		f.Close()
		return nil, nil
	}
	return f, nil
}

func segments(dir string) ([]string, int) {
	names, _ := filepath.Glob(filepath.Join(dir, "seg-*.spool"))
	sort.Slice(names, func(i, j int) bool { return segNum(names[i]) < segNum(names[j]) })
	last := 0
	for _, n := range names {
		last = max(last, segNum(n))
	}
	return names, last
}

func segNum(path string) int {
	var n int
	fmt.Sscanf(strings.TrimSuffix(filepath.Base(path), ".spool"), "seg-%d", &n)
	return n
}

// runFiles lists the segments and stream checkpoint files in dir, and the
// highest segment number among them.
func runFiles(dir string) ([]string, int) {
	segs, last := segments(dir)
	return append(segs, slotFiles(dir)...), last
}

// segmentSize is the preallocated size of a spool segment.
const segmentSize = 1 << 20

func (s *spool) open() error { return s.openSized(segmentSize) }

// segment is a mapped segment file rotated out of use.
type segment struct {
	name string
	f    *os.File
	mem  []byte
	used int // bytes written; the rest is still zero
}

const maxFreeSegments = 2

func (s *spool) openSized(size int) error {
	s.seq++
	name := filepath.Join(s.dir, fmt.Sprintf("seg-%d.spool", s.seq))
	if k := len(s.free); k > 0 && size == segmentSize {
		seg := s.free[k-1]
		s.free = s.free[:k-1]
		if err := os.Rename(seg.name, name); err == nil {
			s.cur, s.curName, s.curN, s.mem, s.off = seg.f, name, 0, seg.mem, 0
			return nil
		}
		seg.drop()
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: map segment: %w", err)
	}
	s.cur, s.curName, s.curN, s.mem, s.off = f, name, 0, mem, 0
	return nil
}

// unmap closes the current segment, cutting its file to what was used.
func (s *spool) unmap() {
	if s.cur == nil {
		return
	}
	(&segment{f: s.cur, mem: s.mem, used: s.off}).unmap()
	s.cur, s.mem = nil, nil
}

// retire sets the current segment aside, still mapped, until its records
// commit.
func (s *spool) retire() {
	s.mapped[s.curName] = &segment{name: s.curName, f: s.cur, mem: s.mem, used: s.off}
	s.cur, s.mem = nil, nil
}

// recycle zeroes a segment whose records all committed and keeps it for
// reuse, or deletes it when enough are kept.
func (s *spool) recycle(seg *segment) {
	if len(s.free) >= maxFreeSegments || len(seg.mem) != segmentSize {
		seg.drop()
		return
	}
	clear(seg.mem[:seg.used])
	seg.used = 0
	s.free = append(s.free, seg)
}

func (seg *segment) unmap() {
	syscall.Munmap(seg.mem)
	seg.f.Truncate(int64(seg.used))
	seg.f.Close()
}

// drop unmaps and deletes a segment.
func (seg *segment) drop() {
	syscall.Munmap(seg.mem)
	seg.f.Close()
	os.Remove(seg.name)
}

// append writes one record; the caller holds the batcher's lock.
func (s *spool) append(r *wattfare.Settlement) error {
	if s.cur == nil {
		return errors.New("spool closed")
	}
	b := s.buf[:0]
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // length, crc
	b = encodeSettlement(b, r)
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(b)-8))
	binary.LittleEndian.PutUint32(b[4:8], crc32.ChecksumIEEE(b[8:])^spoolMagic)
	s.buf = b
	if s.off+len(b) > len(s.mem) {
		// Full: this segment waits for the next rotation with the others.
		name, n := s.curName, s.curN
		s.retire()
		if n > 0 {
			s.full = append(s.full, name)
		} else {
			seg := s.mapped[name]
			delete(s.mapped, name)
			seg.drop()
		}
		if err := s.openSized(max(segmentSize, 2*len(b))); err != nil {
			return err
		}
	}
	// The length goes in last, so that a reader never sees a record whose
	// body is not all there.
	copy(s.mem[s.off+4:], b[4:])
	binary.LittleEndian.PutUint32(s.mem[s.off:], uint32(len(b)-8))
	s.off += len(b)
	s.curN++
	return nil
}

// rotate starts a new segment and returns every segment whose records are
// now all in the batch being committed.
func (s *spool) rotate() ([]string, error) {
	segs := append(s.kept, s.full...)
	s.kept, s.full = nil, nil
	if s.cur == nil || s.curN == 0 {
		return segs, nil
	}
	segs = append(segs, s.curName)
	s.retire()
	return segs, s.open()
}

func (s *spool) keep(segs []string) { s.kept = append(segs, s.kept...) }

func (s *spool) remove(segs []string) {
	for _, p := range segs {
		if seg, ok := s.mapped[p]; ok {
			delete(s.mapped, p)
			s.recycle(seg)
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("remove spool file", "file", p, "err", err)
		}
	}
}

// close closes the spool's segments; when empty (every record committed),
// it deletes them. The lock stays held until unlock.
func (s *spool) close(empty bool) {
	if s.cur == nil {
		return
	}
	s.unmap()
	for p, seg := range s.mapped {
		seg.unmap() // what did not commit stays on disk for the next start
		delete(s.mapped, p)
	}
	for _, seg := range s.free {
		seg.drop()
	}
	s.free = nil
	if empty {
		s.remove(s.kept)
		s.remove(s.full)
		s.kept, s.full = nil, nil
		os.Remove(s.curName)
	}
}

// unlock drops the directory's lock, first removing the directory when
// nothing but the lock is left in it (a directory with files left in it is
// adopted by the next process, once the lock is free).
func (s *spool) unlock() error {
	if s.lock == nil {
		return nil
	}
	removeIfOnlyLock(s.dir)
	err := s.lock.Close()
	s.lock = nil
	return err
}

// removeIfOnlyLock removes dir when its lock file is all it holds; the
// caller holds that lock.
func removeIfOnlyLock(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "lock" {
		return
	}
	os.Remove(filepath.Join(dir, "lock"))
	os.Remove(dir)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeSettlement(b []byte, r *wattfare.Settlement) []byte {
	b = appendString(b, r.RequestID)
	b = binary.AppendVarint(b, r.At.UnixNano())
	b = appendString(b, r.LeaseID)
	b = binary.AppendVarint(b, int64(r.FromLease))
	b = appendString(b, r.ConnectionID)
	b = appendString(b, r.AccountID)
	b = appendString(b, r.AppID)
	b = appendString(b, r.AppUserID)
	b = appendString(b, r.KeyID)
	b = appendString(b, string(r.Mode))
	u := &r.Usage
	b = appendString(b, u.Model)
	b = appendString(b, u.Upstream)
	b = appendString(b, u.UpstreamID)
	b = appendString(b, u.Endpoint)
	if u.Stream {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendString(b, u.Status)
	b = binary.AppendVarint(b, u.PromptTokens)
	b = binary.AppendVarint(b, u.CompletionTokens)
	b = binary.AppendVarint(b, u.CachedTokens)
	b = binary.AppendVarint(b, u.ReasoningTokens)
	b = binary.AppendVarint(b, int64(u.Cost))
	b = binary.AppendVarint(b, int64(u.Duration))
	return b
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) str() string {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || uint64(len(d.b)-k) < n {
		d.err = io.ErrUnexpectedEOF
		d.b = nil
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) int() int64 {
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = io.ErrUnexpectedEOF
		d.b = nil
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = io.ErrUnexpectedEOF
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func decodeSettlement(b []byte) (wattfare.Settlement, error) {
	d := decoder{b: b}
	var r wattfare.Settlement
	r.RequestID = d.str()
	r.At = time.Unix(0, d.int()).UTC()
	r.LeaseID = d.str()
	r.FromLease = wattfare.Money(d.int())
	r.ConnectionID = d.str()
	r.AccountID = d.str()
	r.AppID = d.str()
	r.AppUserID = d.str()
	r.KeyID = d.str()
	r.Mode = wattfare.Mode(d.str())
	u := &r.Usage
	u.Model = d.str()
	u.Upstream = d.str()
	u.UpstreamID = d.str()
	u.Endpoint = d.str()
	u.Stream = d.byte() == 1
	u.Status = d.str()
	u.PromptTokens = d.int()
	u.CompletionTokens = d.int()
	u.CachedTokens = d.int()
	u.ReasoningTokens = d.int()
	u.Cost = wattfare.Money(d.int())
	u.Duration = time.Duration(d.int())
	return r, d.err
}

// readSegment reads every whole record of a segment; a torn or corrupt
// tail (a write cut by power loss) ends the segment.
func readSegment(path string) ([]wattfare.Settlement, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var out []wattfare.Settlement
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		if n == 0 {
			return out, nil // the unused, zero-filled rest of a segment
		}
		if n > 1<<24 {
			return out, errors.New("record too large")
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return out, err
		}
		if crc32.ChecksumIEEE(payload)^spoolMagic != binary.LittleEndian.Uint32(hdr[4:8]) {
			return out, errors.New("checksum mismatch")
		}
		r, err := decodeSettlement(payload)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}
