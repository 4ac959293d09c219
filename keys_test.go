package wattfare_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/wattfare/wattfare"
)

// Vectors is ../shared/spec/session-vectors.json, the contract for key layouts.
type Vectors struct {
	AppIDHex           string `json:"app_id_hex"`
	KeyIDHex           string `json:"key_id_hex"`
	SeedHex            string `json:"seed_hex"`
	Kid                string `json:"kid"`
	PublishableKey     string `json:"publishable_key"`
	SecretKey          string `json:"secret_key"`
	SecretKeySHA256Hex string `json:"secret_key_sha256_hex"`
	PublicKeyHex       string `json:"ed25519_public_key_hex"`
	MustReject         []struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	} `json:"must_reject"`
}

func loadVectors(t *testing.T) Vectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("spec", "session-vectors.json"))
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v Vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyVectors(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)

	var app wattfare.AppID
	copy(app[:], unhex(t, v.AppIDHex))
	pk := wattfare.PublishableKey{App: app, Mode: wattfare.ModeTest}
	if got := pk.String(); got != v.PublishableKey {
		t.Errorf("publishable key = %s, want %s", got, v.PublishableKey)
	}
	parsedPK, err := wattfare.ParsePublishableKey(v.PublishableKey)
	if err != nil || parsedPK != pk {
		t.Errorf("ParsePublishableKey = %v, %v", parsedPK, err)
	}

	var sk wattfare.SecretKey
	copy(sk.ID[:], unhex(t, v.KeyIDHex))
	copy(sk.Seed[:], unhex(t, v.SeedHex))
	sk.Mode = wattfare.ModeTest
	if got := sk.String(); got != v.SecretKey {
		t.Errorf("secret key = %s, want %s", got, v.SecretKey)
	}
	if got := sk.ID.Kid(); got != v.Kid {
		t.Errorf("kid = %s, want %s", got, v.Kid)
	}
	if got := hex.EncodeToString(sk.PublicKey()); got != v.PublicKeyHex {
		t.Errorf("public key = %s, want %s", got, v.PublicKeyHex)
	}
	h := wattfare.HashSecretKey(v.SecretKey)
	if got := hex.EncodeToString(h[:]); got != v.SecretKeySHA256Hex {
		t.Errorf("sha256 = %s, want %s", got, v.SecretKeySHA256Hex)
	}
	parsed, err := wattfare.ParseSecretKey(v.SecretKey)
	if err != nil || parsed != sk {
		t.Errorf("ParseSecretKey = %v, %v", parsed, err)
	}
	if len(v.SecretKey) != wattfare.SecretKeyLen {
		t.Errorf("SecretKeyLen = %d, vector has %d", wattfare.SecretKeyLen, len(v.SecretKey))
	}
}

func TestParseSecretKeyRejects(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	var badChecksum string
	for _, r := range v.MustReject {
		if r.Name == "bad_checksum_secret_key" {
			badChecksum = r.Token
		}
	}
	if badChecksum == "" {
		t.Fatal("vectors lack bad_checksum_secret_key")
	}
	for name, s := range map[string]string{
		"ErrBadChecksum": badChecksum,
		"ErrEmpty":       "",
		"ErrNoMode":      "sk_" + v.SecretKey[8:],
		"ErrBadMode":     "sk_prod_" + v.SecretKey[8:],
		"ErrTruncated":   v.SecretKey[:len(v.SecretKey)-1],
		"ErrUppercase":   "sk_test_" + string(append([]byte{v.SecretKey[8] - 32}, v.SecretKey[9:]...)),
		"ErrPublishable": v.PublishableKey,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := wattfare.ParseSecretKey(s)
			if code := wattfare.ErrorCode(err); code != wattfare.EInvalidAPIKey {
				t.Fatalf("ParseSecretKey(%q) code = %q, want %q", s, code, wattfare.EInvalidAPIKey)
			}
		})
	}
	if _, err := wattfare.ParsePublishableKey(v.PublishableKey[:len(v.PublishableKey)-1] + "a"); err == nil {
		t.Error("publishable key with a bad checksum accepted")
	}
}

func TestRandomKeysRoundTrip(t *testing.T) {
	t.Parallel()
	for range 100 {
		k := wattfare.NewSecretKey(wattfare.ModeLive)
		got, err := wattfare.ParseSecretKey(k.String())
		if err != nil || got != k {
			t.Fatalf("round trip %s: %v %v", k, got, err)
		}
		id := wattfare.NewAppID()
		back, err := wattfare.ParseAppID(id.String())
		if err != nil || back != id {
			t.Fatalf("app id round trip %s: %v", id, err)
		}
	}
}
