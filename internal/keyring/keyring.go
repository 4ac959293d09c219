// Package keyring seals secrets Wattfare keeps at rest (the OpenRouter key
// of each live connection) with AES-256-GCM. A sealed value starts with the
// id of the key that sealed it, so keys can be rotated: the newest key
// seals, every key listed opens what it sealed. Each value is bound to
// what it belongs to (additional data: the connection's id), so a sealed
// secret copied onto another row does not open there.
//
// The keys come from WATTFARE_ENCRYPTION_KEY (cmd/wattfare reads it; see
// Parse): only the control plane's jobs seal and only the data plane opens,
// into its memory.
package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Keyring holds the encryption keys by id; the first one seals.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// sep ends the key id at the start of a sealed value. Ids are made of
// letters, digits, '-' and '_', so it cannot occur in one.
const sep = '$'

// ErrOpen is returned for a sealed value that does not open: tampered, cut,
// bound to something else, or sealed by a key this ring does not hold.
var ErrOpen = errors.New("keyring: sealed value does not open")

// Parse reads a keyring from its configuration: comma-separated entries
// "id:key", newest first, each key 32 bytes in standard or URL-safe base64
// or in hex ("k2:…, k1:…"). A single entry may omit its id, which is then
// "k1". The newest seals; the others only open what they sealed, until no
// value sealed by them is left (re-seal by re-provisioning) and they can be
// removed.
func Parse(s string) (*Keyring, error) {
	r := &Keyring{aeads: map[string]cipher.AEAD{}}
	entries := strings.Split(s, ",")
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		id, enc, ok := strings.Cut(e, ":")
		if !ok {
			if len(entries) > 1 {
				return nil, errors.New("keyring: name each key when there are several: id:base64")
			}
			id, enc = "k1", e
		}
		if !validID(id) {
			return nil, fmt.Errorf("keyring: key id %q: use 1 to 32 letters, digits, '-' or '_'", id)
		}
		if _, dup := r.aeads[id]; dup {
			return nil, fmt.Errorf("keyring: key id %q twice", id)
		}
		key, err := decodeKey(enc)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %q: %w", id, err)
		}
		aead, err := newAEAD(key)
		if err != nil {
			return nil, err
		}
		r.aeads[id] = aead
		if r.current == "" {
			r.current = id
		}
	}
	if r.current == "" {
		return nil, errors.New("keyring: no key: set 32 random bytes in base64 (openssl rand -base64 32)")
	}
	return r, nil
}

// New returns a keyring of one key with id, for tests and tools.
func New(id string, key []byte) (*Keyring, error) {
	if !validID(id) {
		return nil, fmt.Errorf("keyring: key id %q", id)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Keyring{current: id, aeads: map[string]cipher.AEAD{id: aead}}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("keyring: a key is 32 bytes (AES-256), not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("not 32 bytes of base64 or hex")
}

func validID(id string) bool {
	if len(id) < 1 || len(id) > 32 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// CurrentID is the id of the key that seals.
func (r *Keyring) CurrentID() string { return r.current }

// Seal encrypts secret, bound to aad, with the current key: "id$" then the
// random nonce and the ciphertext with its tag.
func (r *Keyring) Seal(secret, aad []byte) ([]byte, error) {
	aead := r.aeads[r.current]
	out := make([]byte, 0, len(r.current)+1+aead.NonceSize()+len(secret)+aead.Overhead())
	out = append(append(out, r.current...), sep)
	nonce := out[len(out) : len(out)+aead.NonceSize()]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keyring: nonce: %w", err)
	}
	out = out[:len(out)+aead.NonceSize()]
	return aead.Seal(out, nonce, secret, aad), nil
}

// Open decrypts a value Seal made with any key of the ring for the same aad.
func (r *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	i := bytes.IndexByte(sealed, sep)
	if i < 0 {
		return nil, ErrOpen
	}
	aead, ok := r.aeads[string(sealed[:i])]
	if !ok {
		return nil, fmt.Errorf("%w: no key %q in WATTFARE_ENCRYPTION_KEY", ErrOpen, sealed[:i])
	}
	rest := sealed[i+1:]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	out, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// KeyID returns the id of the key that sealed a value, "" if it has none.
func KeyID(sealed []byte) string {
	if i := bytes.IndexByte(sealed, sep); i >= 0 && validID(string(sealed[:i])) {
		return string(sealed[:i])
	}
	return ""
}
