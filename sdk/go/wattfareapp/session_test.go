package wattfareapp_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/sdk/go/wattfareapp"
)

type vectors struct {
	PublishableKey string `json:"publishable_key"`
	SecretKey      string `json:"secret_key"`
	Tokens         []struct {
		Name   string `json:"name"`
		Token  string `json:"token"`
		Claims struct {
			Sub           string          `json:"sub"`
			Iat           int64           `json:"iat"`
			Exp           int64           `json:"exp"`
			Jti           string          `json:"jti"`
			MonthlyCapUSD *wattfare.Money `json:"monthly_cap_usd"`
		} `json:"claims"`
	} `json:"tokens"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("../../../spec/session-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMintReproducesVectors(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	c, err := wattfareapp.New(v.SecretKey, v.PublishableKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Tokens) == 0 {
		t.Fatal("no vectors")
	}
	for _, tv := range v.Tokens {
		t.Run(tv.Name, func(t *testing.T) {
			t.Parallel()
			var cap wattfare.Money
			if tv.Claims.MonthlyCapUSD != nil {
				cap = *tv.Claims.MonthlyCapUSD
			}
			got, err := c.Mint(wattfareapp.Session{
				Subject:    tv.Claims.Sub,
				MonthlyCap: cap,
				IssuedAt:   time.Unix(tv.Claims.Iat, 0),
				Lifetime:   time.Duration(tv.Claims.Exp-tv.Claims.Iat) * time.Second,
				ID:         tv.Claims.Jti,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tv.Token {
				t.Errorf("token differs from the vector\n got %s\nwant %s", got, tv.Token)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	live := wattfare.PublishableKey{Mode: wattfare.ModeLive}
	tests := []struct {
		name    string
		sk, pk  string
		wantErr bool
	}{
		{"OK", v.SecretKey, v.PublishableKey, false},
		{"ErrBadChecksum", v.SecretKey[:len(v.SecretKey)-1] + "a", v.PublishableKey, true},
		{"ErrModeMismatch", v.SecretKey, live.String(), true},
		{"ErrPublishableAsSecret", v.PublishableKey, v.PublishableKey, true},
		{"ErrSecretAsPublishable", v.SecretKey, v.SecretKey, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := wattfareapp.New(tt.sk, tt.pk)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New: err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, wattfareapp.ErrInvalidKey) {
				t.Errorf("New: %v is not ErrInvalidKey", err)
			}
			if err != nil && strings.Contains(err.Error(), v.SecretKey[8:]) {
				t.Errorf("the error quotes the secret key: %v", err)
			}
		})
	}
}

func TestClientNeverPrintsTheSecret(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	c, err := wattfareapp.New(v.SecretKey, v.PublishableKey)
	if err != nil {
		t.Fatal(err)
	}
	seed := v.SecretKey[len("sk_test_"):]
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		if strings.Contains(out, seed[16:40]) || strings.Contains(out, "128 129 130") || !strings.Contains(out, v.PublishableKey) {
			t.Errorf("%s prints %q", verb, out)
		}
	}
}

func TestMintRefuses(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	c, _ := wattfareapp.New(v.SecretKey, v.PublishableKey)
	ok := wattfareapp.Session{Subject: "user_1", IssuedAt: time.Now(), Lifetime: time.Minute, ID: "j"}
	tests := []struct {
		name string
		edit func(*wattfareapp.Session)
		is   error
	}{
		{"ErrEmptyUserID", func(s *wattfareapp.Session) { s.Subject = "" }, wattfareapp.ErrInvalidUserID},
		{"ErrLongUserID", func(s *wattfareapp.Session) { s.Subject = strings.Repeat("u", 257) }, wattfareapp.ErrInvalidUserID},
		{"ErrUserIDControl", func(s *wattfareapp.Session) { s.Subject = "a\nb" }, wattfareapp.ErrInvalidUserID},
		{"ErrUserIDNUL", func(s *wattfareapp.Session) { s.Subject = "a\x00b" }, wattfareapp.ErrInvalidUserID},
		{"ErrUserIDSpaces", func(s *wattfareapp.Session) { s.Subject = " alice" }, wattfareapp.ErrInvalidUserID},
		{"ErrUserIDNotUTF8", func(s *wattfareapp.Session) { s.Subject = "\xff" }, wattfareapp.ErrInvalidUserID},
		{"ErrNegativeCap", func(s *wattfareapp.Session) { s.MonthlyCap = -1 }, wattfareapp.ErrInvalidCap},
		{"ErrCapOverMax", func(s *wattfareapp.Session) { s.MonthlyCap = wattfare.MaxMonthlyCap + 1 }, wattfareapp.ErrInvalidCap},
		{"ErrLifetimeOver600s", func(s *wattfareapp.Session) { s.Lifetime = 601 * time.Second }, nil},
		{"ErrFractionalLifetime", func(s *wattfareapp.Session) { s.Lifetime = 1500 * time.Millisecond }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := ok
			tt.edit(&s)
			_, err := c.Mint(s)
			if err == nil {
				t.Fatal("minted")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v is not %v", err, tt.is)
			}
		})
	}
	if _, err := c.Mint(ok); err != nil {
		t.Errorf("OK: %v", err)
	}
	if _, err := c.CreateSession("user_1", wattfare.MaxMonthlyCap); err != nil {
		t.Errorf("the largest cap: %v", err)
	}
}

func TestCreateSessionIsFreshAndBounded(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	c, _ := wattfareapp.New(v.SecretKey, v.PublishableKey)
	a, err := c.CreateSession("user_1", wattfare.USD(5))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.CreateSession("user_1", wattfare.USD(5))
	if a == b {
		t.Error("two sessions share a token: jti is not random")
	}
	if _, err := c.Mint(wattfareapp.Session{Subject: "u", IssuedAt: time.Now(), Lifetime: time.Hour, ID: "x"}); err == nil {
		t.Error("minted a token that lives an hour")
	}
}

func TestCapNumber(t *testing.T) {
	t.Parallel()
	for m, want := range map[wattfare.Money]string{
		wattfare.USD(10):                   "10",
		wattfare.Dollar / 2:                "0.5",
		wattfare.MicroDollar:               "0.000001",
		wattfare.USD(100) + 1:              "100.000000001",
		wattfare.USD(2) + 25*wattfare.Cent: "2.25",
	} {
		if got := wattfareapp.CapNumber(m); got != want {
			t.Errorf("CapNumber(%d) = %s, want %s", m, got, want)
		}
	}
}
