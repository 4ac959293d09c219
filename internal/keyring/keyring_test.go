package keyring_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/wattfare/wattfare/internal/keyring"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func TestSealOpen(t *testing.T) {
	t.Parallel()
	r, err := keyring.Parse(key(1))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("sk-or-v1-0123456789abcdef")
	sealed, err := r.Seal(secret, []byte("conn_a"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) || keyring.KeyID(sealed) != "k1" {
		t.Fatalf("sealed %q: the secret shows or the key id is not its prefix", sealed)
	}
	again, _ := r.Seal(secret, []byte("conn_a"))
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one secret are equal: the nonce is not random")
	}
	got, err := r.Open(sealed, []byte("conn_a"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q, %v", got, err)
	}

	t.Run("ErrOtherConnection", func(t *testing.T) {
		if _, err := r.Open(sealed, []byte("conn_b")); !errors.Is(err, keyring.ErrOpen) {
			t.Fatalf("a secret moved to another connection opened: %v", err)
		}
	})
	t.Run("ErrTampered", func(t *testing.T) {
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		if _, err := r.Open(bad, []byte("conn_a")); !errors.Is(err, keyring.ErrOpen) {
			t.Fatalf("tampered: %v", err)
		}
		if _, err := r.Open(sealed[:len(sealed)-20], []byte("conn_a")); !errors.Is(err, keyring.ErrOpen) {
			t.Fatalf("cut: %v", err)
		}
	})
}

// A rotation: the new key seals, the old one still opens what it sealed,
// and a ring without the old key refuses its values.
func TestRotation(t *testing.T) {
	t.Parallel()
	old, err := keyring.Parse("k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	sealedOld, _ := old.Seal([]byte("old secret"), nil)
	rotated, err := keyring.Parse("k2:" + key(2) + ", k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.CurrentID() != "k2" {
		t.Fatalf("current %q, want the first listed", rotated.CurrentID())
	}
	if got, err := rotated.Open(sealedOld, nil); err != nil || string(got) != "old secret" {
		t.Fatalf("old value under the rotated ring: %q, %v", got, err)
	}
	sealedNew, _ := rotated.Seal([]byte("new secret"), nil)
	if keyring.KeyID(sealedNew) != "k2" {
		t.Fatalf("sealed by %q", keyring.KeyID(sealedNew))
	}
	only2, _ := keyring.Parse("k2:" + key(2))
	if _, err := only2.Open(sealedOld, nil); !errors.Is(err, keyring.ErrOpen) {
		t.Fatalf("a value of a removed key: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]string{
		"Empty":        "",
		"Short":        base64.StdEncoding.EncodeToString([]byte("short")),
		"UnnamedOfTwo": key(1) + "," + key(2),
		"BadID":        "k 1:" + key(1),
		"DuplicateID":  "k1:" + key(1) + ",k1:" + key(2),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := keyring.Parse(s); err == nil {
				t.Fatalf("Parse(%q) accepted", s)
			}
		})
	}
}
