package postgres

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"

	"github.com/wattfare/wattfare"
)

// Argon2id parameters: OWASP's first recommendation (19 MiB, 2 passes, 1 lane).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password bounds. The upper bound keeps hashing cost bounded per request.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// hashSlots bounds the argon2id computations running at once. Each takes
// 19 MiB: without a bound, a burst of concurrent sign-ins (each client is
// rate-limited, not the sum of them) would take memory by the gigabyte.
// Waiting for a slot costs latency, never memory.
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// hashing and hashPeak count computations in progress, for tests.
var hashing, hashPeak atomic.Int32

func argonKey(password, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	now := hashing.Add(1)
	defer hashing.Add(-1)
	for peak := hashPeak.Load(); now > peak && !hashPeak.CompareAndSwap(peak, now); peak = hashPeak.Load() {
	}
	return argon2.IDKey(password, salt, t, m, p, n)
}

// hashPassword returns a PHC-format argon2id hash of password with a random salt.
func hashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argonKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// verifyPassword reports whether password matches the PHC hash, comparing in
// constant time. The parameters are read from the hash, so hashes made with
// older parameters keep verifying.
func verifyPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<20 || t > 16 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argonKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is verified against when an email is unknown, so that a wrong
// email costs as long as a wrong password and sign-in does not reveal which
// accounts exist.
// It is made on first use, so that processes that never sign anyone in
// (the data plane) do not pay for it at start-up.
var dummyHash = sync.OnceValue(func() string { return hashPassword("wattfare-no-such-account") })

// NormalizeEmail lowercases and checks an email address. It accepts a bare
// address only (no display name), with a dotted domain.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	bad := wattfare.InvalidField("email", "enter a valid email address")
	if len(s) < 3 || len(s) > 254 {
		return "", bad
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", bad
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.ContainsAny(s, " \"<>()[]\\,;:") ||
		!strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", bad
	}
	return s, nil
}

// commonPasswords are refused whatever their length: the first entries of
// every breached-password list, and their obvious variants.
var commonPasswords = map[string]bool{
	"1234567890": true, "12345678910": true, "123456789012": true, "0123456789": true, "0987654321": true,
	"password123": true, "password1234": true, "password12": true, "passwordpassword": true, "password1!": true,
	"qwertyuiop": true, "qwertyuiop123": true, "qwerty12345": true, "qwerty123456": true, "1q2w3e4r5t": true,
	"1qaz2wsx3edc": true, "asdfghjkl1": true, "zxcvbnm123": true, "iloveyou123": true, "abcdefghij": true,
	"abc1234567": true, "abcd123456": true, "letmein123": true, "welcome123": true, "admin12345": true,
	"administrator": true, "changeme123": true, "football123": true, "baseball123": true, "monkey12345": true,
	"dragon12345": true, "sunshine123": true, "princess123": true, "trustno1234": true, "starwars123": true,
	"wattfare123": true, "wattfare1234": true, "0000000000": true, "1111111111": true, "1234512345": true,
}

// CheckPassword refuses passwords that are too short, too long or trivially
// guessable.
func CheckPassword(pw string) error {
	n := len([]rune(pw))
	if n < MinPasswordLen {
		return wattfare.InvalidField("password", "use at least %d characters", MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return wattfare.InvalidField("password", "use at most %d characters", MaxPasswordLen)
	}
	lower := strings.ToLower(pw)
	if commonPasswords[lower] {
		return wattfare.InvalidField("password", "this password is too common")
	}
	distinct := map[rune]bool{}
	for _, r := range lower {
		distinct[r] = true
	}
	if len(distinct) < 4 {
		return wattfare.InvalidField("password", "this password is too easy to guess")
	}
	if isSequence(lower) {
		return wattfare.InvalidField("password", "this password is too easy to guess")
	}
	return nil
}

// isSequence reports runs like "abcdefghijk" or "9876543210".
func isSequence(s string) bool {
	if len(s) < 2 {
		return false
	}
	step := int(s[1]) - int(s[0])
	if step != 1 && step != -1 {
		return false
	}
	for i := 2; i < len(s); i++ {
		if int(s[i])-int(s[i-1]) != step {
			return false
		}
	}
	return true
}
