package wattfare

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"hash/crc32"
	"strings"
)

// Mode separates the two parallel worlds of Wattfare: test keys, test
// connections and auto-funded test wallets on the sandbox upstream, and live
// ones that spend real money. Nothing crosses between modes.
type Mode string

const (
	ModeTest Mode = "test"
	ModeLive Mode = "live"
)

// Valid reports whether m is one of the two modes.
func (m Mode) Valid() bool { return m == ModeTest || m == ModeLive }

// b32 is RFC 4648 base32, lowercased, without padding: the alphabet of every
// key, key id and app id (spec/session-vectors.json).
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Base32 encodes b in the key alphabet.
func Base32(b []byte) string { return b32.EncodeToString(b) }

// AppID is the 10-byte identity of an app. Its publishable keys embed it.
type AppID [10]byte

// KeyID is the 10-byte identity of a secret key; its base32 form is the
// session token's "kid".
type KeyID [10]byte

// NewAppID returns a random app id.
func NewAppID() AppID { var id AppID; rand.Read(id[:]); return id }

// NewKeyID returns a random key id.
func NewKeyID() KeyID { var id KeyID; rand.Read(id[:]); return id }

// String returns the app's id as stored and shown: "app_" + base32.
func (id AppID) String() string { return "app_" + b32.EncodeToString(id[:]) }

// Kid returns the base32 form used as a session token's "kid".
func (id KeyID) Kid() string { return b32.EncodeToString(id[:]) }

// String returns the key's id as stored and shown: "key_" + kid.
func (id KeyID) String() string { return "key_" + id.Kid() }

// ParseAppID parses the "app_…" form of an app id.
func ParseAppID(s string) (AppID, error) {
	var id AppID
	rest, ok := strings.CutPrefix(s, "app_")
	if !ok || !decodeExact(id[:], rest) {
		return id, Errorf(ENOTFOUND, "no such app")
	}
	return id, nil
}

// ParseKid parses a session token's "kid" (or the part after "key_").
func ParseKid(s string) (KeyID, error) {
	var id KeyID
	s = strings.TrimPrefix(s, "key_")
	if !decodeExact(id[:], s) {
		return id, Errorf(EInvalidAPIKey, "malformed key id")
	}
	return id, nil
}

func decodeExact(dst []byte, s string) bool {
	if b32.DecodedLen(len(s)) != len(dst) || b32.EncodedLen(len(dst)) != len(s) {
		return false
	}
	n, err := b32.Decode(dst, []byte(s))
	return err == nil && n == len(dst)
}

// crc32Table is the IEEE polynomial's table for crc32be.
var crc32Table = crc32.MakeTable(crc32.IEEE)

// crc32be is the IEEE CRC-32 of b, big-endian. It runs the table loop
// itself: every hash/crc32 entry point may hand b to assembly, so passing
// a key's bytes there moves them off the caller's stack (an allocation on
// every parse, and a secret key is parsed on every proxied request). For
// 10 to 42 bytes the loop is as fast.
func crc32be(b []byte) [4]byte {
	crc := ^uint32(0)
	for _, c := range b {
		crc = crc32Table[byte(crc)^c] ^ crc>>8
	}
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], ^crc)
	return out
}

// PublishableKey names an app and a mode. It is safe to put in a browser:
// it grants nothing by itself.
//
// Layout: "pk_{mode}_" + base32(app_id[10] || crc32_ieee_be(app_id)[4]).
type PublishableKey struct {
	App  AppID
	Mode Mode
}

// String formats the key.
func (k PublishableKey) String() string {
	var raw [14]byte
	copy(raw[:], k.App[:])
	c := crc32be(k.App[:])
	copy(raw[10:], c[:])
	return "pk_" + string(k.Mode) + "_" + b32.EncodeToString(raw[:])
}

// ParsePublishableKey parses and checksums a publishable key without any
// database lookup.
func ParsePublishableKey(s string) (PublishableKey, error) {
	var k PublishableKey
	mode, body, ok := splitKey(s, "pk_")
	if !ok {
		return k, Errorf(EInvalidAPIKey, "malformed publishable key")
	}
	var raw [14]byte
	if !decodeExact(raw[:], body) {
		return k, Errorf(EInvalidAPIKey, "malformed publishable key")
	}
	copy(k.App[:], raw[:10])
	if c := crc32be(raw[:10]); [4]byte(raw[10:]) != c {
		return k, Errorf(EInvalidAPIKey, "publishable key checksum mismatch")
	}
	k.Mode = mode
	return k, nil
}

// SecretKey is an app's server-side credential. It carries an Ed25519 seed,
// so its holder can mint session tokens locally. Wattfare stores only its
// SHA-256 and the Ed25519 public key.
//
// Layout: "sk_{mode}_" + base32(key_id[10] || seed[32] || crc32_ieee_be(key_id||seed)[4]).
type SecretKey struct {
	ID   KeyID
	Seed [ed25519.SeedSize]byte
	Mode Mode
}

// NewSecretKey returns a fresh random secret key for mode.
func NewSecretKey(mode Mode) SecretKey {
	k := SecretKey{ID: NewKeyID(), Mode: mode}
	rand.Read(k.Seed[:])
	return k
}

// String formats the key. It is shown to a developer once, at creation.
func (k SecretKey) String() string {
	var raw [46]byte
	copy(raw[:10], k.ID[:])
	copy(raw[10:42], k.Seed[:])
	c := crc32be(raw[:42])
	copy(raw[42:], c[:])
	return "sk_" + string(k.Mode) + "_" + b32.EncodeToString(raw[:])
}

// PrivateKey returns the Ed25519 private key derived from the seed.
func (k SecretKey) PrivateKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.Seed[:]) }

// PublicKey returns the Ed25519 public key that Wattfare stores to verify
// session tokens minted with this key.
func (k SecretKey) PublicKey() ed25519.PublicKey {
	return k.PrivateKey().Public().(ed25519.PublicKey)
}

// SecretKeyLen is the length of every formatted secret key.
const SecretKeyLen = len("sk_test_") + 74

// ParseSecretKey parses a secret key and verifies its checksum. A key with a
// bad checksum fails here, before anything looks it up.
func ParseSecretKey(s string) (SecretKey, error) {
	var k SecretKey
	mode, body, ok := splitKey(s, "sk_")
	if !ok {
		return k, Errorf(EInvalidAPIKey, "malformed secret key")
	}
	var raw [46]byte
	if !decodeExact(raw[:], body) {
		return k, Errorf(EInvalidAPIKey, "malformed secret key")
	}
	if c := crc32be(raw[:42]); [4]byte(raw[42:]) != c {
		return k, Errorf(EInvalidAPIKey, "secret key checksum mismatch")
	}
	copy(k.ID[:], raw[:10])
	copy(k.Seed[:], raw[10:42])
	k.Mode = mode
	return k, nil
}

// HashSecretKey returns the SHA-256 of the formatted key, the only form of a
// secret that Wattfare stores.
func HashSecretKey(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func splitKey(s, prefix string) (Mode, string, bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return "", "", false
	}
	mode, body, ok := strings.Cut(rest, "_")
	if !ok || !Mode(mode).Valid() {
		return "", "", false
	}
	return Mode(mode), body, true
}

// NewID returns a random identifier with the given prefix, such as
// "acct_…", "conn_…" or "req_…": 80 random bits in the key alphabet.
func NewID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return prefix + b32.EncodeToString(b[:])
}
