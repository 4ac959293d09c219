package controlplane

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
	"github.com/wattfare/wattfare/sdk/go/wattfareapp"
)

const (
	acmeOrigin  = "https://acme.example"
	otherOrigin = "https://other.example"
	evilOrigin  = "https://evil.example"
)

type spec struct {
	AppIDHex       string `json:"app_id_hex"`
	PublishableKey string `json:"publishable_key"`
	SecretKey      string `json:"secret_key"`
	Tokens         []struct {
		Name   string `json:"name"`
		Token  string `json:"token"`
		Claims struct {
			Sub string `json:"sub"`
			Iat int64  `json:"iat"`
		} `json:"claims"`
	} `json:"tokens"`
	MustReject []struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	} `json:"must_reject"`
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	b, err := os.ReadFile("../spec/session-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is a database with two apps and their keys:
//   - acme (the vectors' app id), origin acmeOrigin, keys: the vectors' test
//     key, a live key, a revoked test key and a rolled-and-expired test key;
//   - other, origin otherOrigin, one test key;
//
// and a user account with funded wallets.
type fixture struct {
	pool                   *pgxpool.Pool
	acme, other            string // app ids
	acmeTest, acmeLive     *wattfareapp.Client
	revoked, expired       *wattfareapp.Client
	otherTest              *wattfareapp.Client
	acmeTestPK, acmeLivePK string
	user, user2            string // account ids
	spec                   spec
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{pool: pgtest.NewPool(t), spec: loadSpec(t), user: "acct_user", user2: "acct_user2"}
	ctx := context.Background()
	raw, _ := hex.DecodeString(f.spec.AppIDHex)
	var acmeID, otherID wattfare.AppID
	copy(acmeID[:], raw)
	otherID = wattfare.NewAppID()
	f.acme, f.other = acmeID.String(), otherID.String()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := f.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO accounts (id, email, password_hash) VALUES ('acct_dev', 'dev@example.com', 'x'),
		('acct_user', 'user@example.com', 'x'), ('acct_user2', 'user2@example.com', 'x')`)
	exec(`INSERT INTO wallets (account_id, mode, credits) VALUES ('acct_user', 'test', 20000000000), ('acct_user', 'live', 20000000000)`)
	exec(`INSERT INTO apps (id, owner_id, name, allowed_origins) VALUES ($1, 'acct_dev', 'Acme Chat', $2), ($3, 'acct_dev', 'Other App', $4)`,
		f.acme, []string{acmeOrigin}, f.other, []string{otherOrigin})
	addKey := func(app wattfare.AppID, sk wattfare.SecretKey, extra string) *wattfareapp.Client {
		t.Helper()
		sum := wattfare.HashSecretKey(sk.String())
		exec(`INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, $3, $4, $5, 'xxxx')`,
			sk.ID.String(), app.String(), string(sk.Mode), sum[:], []byte(sk.PublicKey()))
		if extra != "" {
			exec(`UPDATE api_keys SET `+extra+` WHERE id = $1`, sk.ID.String())
		}
		c, err := wattfareapp.New(sk.String(), wattfare.PublishableKey{App: app, Mode: sk.Mode}.String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	vk, err := wattfare.ParseSecretKey(f.spec.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	f.acmeTest = addKey(acmeID, vk, "")
	f.acmeLive = addKey(acmeID, wattfare.NewSecretKey(wattfare.ModeLive), "")
	f.revoked = addKey(acmeID, wattfare.NewSecretKey(wattfare.ModeTest), "revoked_at = now()")
	f.expired = addKey(acmeID, wattfare.NewSecretKey(wattfare.ModeTest), "expires_at = '2020-01-01'")
	f.otherTest = addKey(otherID, wattfare.NewSecretKey(wattfare.ModeTest), "")
	f.acmeTestPK, f.acmeLivePK = f.acmeTest.PublishableKey(), f.acmeLive.PublishableKey()
	return f
}

func mint(t *testing.T, c *wattfareapp.Client, sub string, cap wattfare.Money, iat time.Time, life time.Duration) string {
	t.Helper()
	tok, err := c.Mint(wattfareapp.Session{Subject: sub, MonthlyCap: cap, IssuedAt: iat, Lifetime: life, ID: wattfare.NewID("")})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signWith signs arbitrary header and claims, for tokens the SDK refuses to make.
func signWith(t *testing.T, sk string, method jwt.SigningMethod, header map[string]any, claims jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	if key == nil {
		k, _ := wattfare.ParseSecretKey(sk)
		key = k.PrivateKey()
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signRaw signs header and claims exactly as written, for tokens that no
// JWT library would produce: duplicate names, odd types.
func signRaw(t *testing.T, sk, header, claims string) string {
	t.Helper()
	k, err := wattfare.ParseSecretKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	return s + "." + enc.EncodeToString(ed25519.Sign(k.PrivateKey(), []byte(s)))
}

// flipSpareBits rewrites a token's last base64url character so that it
// decodes to the same bytes under lenient decoding: the same signature,
// a different token string.
func flipSpareBits(tok string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alpha, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alpha[i^1])
}

func TestVerifySession(t *testing.T) {
	t.Parallel()
	f := setup(t)
	iat := time.Unix(f.spec.Tokens[0].Claims.Iat, 0)
	at := func(d time.Duration) *SessionVerifier {
		return &SessionVerifier{Keys: &postgres.Consent{DB: f.pool}, Now: func() time.Time { return iat.Add(d) }}
	}
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		for _, tv := range f.spec.Tokens {
			s, err := at(time.Minute).Verify(ctx, tv.Token)
			if err != nil {
				t.Fatalf("%s: %v", tv.Name, err)
			}
			if s.AppUserID != tv.Claims.Sub || s.App.ID != f.acme || s.Mode != wattfare.ModeTest || s.App.Name != "Acme Chat" {
				t.Errorf("%s: got %+v", tv.Name, s)
			}
			wantCap := wattfare.Money(0)
			if tv.Name == "with_cap" {
				wantCap = wattfare.USD(10)
			}
			if s.MonthlyCap != wantCap {
				t.Errorf("%s: cap %s, want %s", tv.Name, s.MonthlyCap, wantCap)
			}
		}
	})
	t.Run("OKLongestUserID", func(t *testing.T) {
		t.Parallel()
		for _, sub := range []string{strings.Repeat("<", 256), "x" + strings.Repeat("\u2028", 84) + "x", strings.Repeat("é", 128)} {
			s, err := at(0).Verify(ctx, mint(t, f.acmeTest, sub, wattfare.USD(100_000), iat, 600*time.Second))
			if err != nil || s.AppUserID != sub {
				t.Errorf("sub of %d bytes: %v", len(sub), err)
			}
		}
	})
	t.Run("OKWithinSkew", func(t *testing.T) {
		t.Parallel()
		if _, err := at(-30*time.Second).Verify(ctx, f.spec.Tokens[0].Token); err != nil {
			t.Errorf("issued exactly 30 s in the future: %v", err)
		}
		if _, err := at(600*time.Second+29*time.Second).Verify(ctx, f.spec.Tokens[0].Token); err != nil {
			t.Errorf("expired 29 s ago, within the 30 s skew: %v", err)
		}
		if _, err := at(-29*time.Second).Verify(ctx, f.spec.Tokens[0].Token); err != nil {
			t.Errorf("issued 29 s in the future: %v", err)
		}
	})

	sk := f.spec.SecretKey
	kid := "ibaueq2eivdeoscj"
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": f.acmeTestPK, "sub": "u1", "aud": "wattfare", "iat": iat.Unix(), "exp": iat.Unix() + 600, "jti": "j1"}
	}
	hdr := map[string]any{"typ": wattfare.SessionTokenType, "kid": kid}
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }
	pub, _ := wattfare.ParseSecretKey(sk)
	rawHdr := `{"alg":"EdDSA","typ":"wattfare-session+jwt","kid":"` + kid + `"}`
	rawClaims := func(aud, extra string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":"u1","aud":%s,"iat":%d,"exp":%d,"jti":"j1"%s}`, f.acmeTestPK, aud, iat.Unix(), iat.Unix()+600, extra)
	}
	if _, err := at(0).Verify(ctx, signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, ""))); err != nil {
		t.Fatalf("the raw signer's baseline token is refused: %v", err)
	}

	rejects := []struct {
		name  string
		token string
		now   time.Duration
	}{
		{"ErrExpired", f.spec.Tokens[0].Token, 600*time.Second + 31*time.Second},
		{"ErrNotYetIssued", f.spec.Tokens[0].Token, -31 * time.Second},
		// exp is exclusive (RFC 7519 4.1.4): at exp + skew the token is dead.
		{"ErrExpiredAtSkewEdge", f.spec.Tokens[0].Token, 600*time.Second + 30*time.Second},
		{"ErrOtherApp", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("iss", f.otherTest.PublishableKey()), nil), 0},
		{"ErrOtherMode", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("iss", f.acmeLivePK), nil), 0},
		{"ErrRevokedKey", mint(t, f.revoked, "u1", 0, iat, time.Minute), 0},
		{"ErrRolledKeyPastExpiry", mint(t, f.expired, "u1", 0, iat, time.Minute), 0},
		{"ErrUnknownKid", signWith(t, sk, jwt.SigningMethodEdDSA, map[string]any{"typ": wattfare.SessionTokenType, "kid": "aaaaaaaaaaaaaaaa"}, good(), nil), 0},
		{"ErrNoKid", signWith(t, sk, jwt.SigningMethodEdDSA, map[string]any{"typ": wattfare.SessionTokenType}, good(), nil), 0},
		{"ErrWrongTyp", signWith(t, sk, jwt.SigningMethodEdDSA, map[string]any{"typ": "JWT", "kid": kid}, good(), nil), 0},
		{"ErrHS256WithPublicKey", signWith(t, sk, jwt.SigningMethodHS256, hdr, good(), []byte(pub.PublicKey())), 0},
		{"ErrAlgNoneUnsigned", signWith(t, sk, jwt.SigningMethodNone, hdr, good(), jwt.UnsafeAllowNoneSignatureType), 0},
		{"ErrLifetimeOver600", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("exp", iat.Unix()+601), nil), 0},
		{"ErrNoExp", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, without("exp"), nil), 0},
		{"ErrNoIat", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, without("iat"), nil), 0},
		{"ErrWrongAud", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("aud", "someone-else"), nil), 0},
		{"ErrNoSub", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, without("sub"), nil), 0},
		{"ErrNoJti", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, without("jti"), nil), 0},
		{"ErrNegativeCap", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("monthly_cap_usd", -5), nil), 0},
		{"ErrIssNotAKey", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("iss", "acme"), nil), 0},
		{"ErrSignedByAnotherKey", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, good(), ed25519.NewKeyFromSeed(make([]byte, 32))), 0},
		{"ErrGarbage", "not.a.token", 0},
		{"ErrOversized", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("pad", strings.Repeat("x", 4000)), nil), 0},
		{"ErrNotYetValidNbf", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("nbf", iat.Unix()+3600), nil), 0},
		{"ErrExpHuge", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("exp", int64(1)<<52), nil), 0},
		{"ErrIatFarFuture", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("iat", iat.Unix()+3600), nil), 0},
		{"ErrNoTyp", signWith(t, sk, jwt.SigningMethodEdDSA, map[string]any{"kid": kid}, good(), nil), 0},
		{"ErrRS256", signWith(t, sk, jwt.SigningMethodRS256, hdr, good(), rsaKey(t)), 0},
		{"ErrES256", signWith(t, sk, jwt.SigningMethodES256, hdr, good(), ecKey(t)), 0},
		{"ErrKidInjection", signWith(t, sk, jwt.SigningMethodEdDSA, map[string]any{"typ": wattfare.SessionTokenType, "kid": "' OR 1=1 --"}, good(), nil), 0},
		{"ErrKidNotAString", signWith(t, sk, jwt.SigningMethodEdDSA, map[string]any{"typ": wattfare.SessionTokenType, "kid": 42}, good(), nil), 0},
		{"ErrKeyOfAppAWithIssOfAppB", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("iss", wattfare.PublishableKey{App: mustAppID(t, f.other), Mode: wattfare.ModeTest}.String()), nil), 0},
		{"ErrTestKeyLiveIss", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, with("iss", wattfare.PublishableKey{App: mustAppID(t, f.acme), Mode: wattfare.ModeLive}.String()), nil), 0},
		{"ErrAudMissing", signWith(t, sk, jwt.SigningMethodEdDSA, hdr, without("aud"), nil), 0},
		{"ErrAudArrayWithOthers", signRaw(t, sk, rawHdr, rawClaims(`["wattfare","someone-else"]`, "")), 0},
		{"ErrAudArray", signRaw(t, sk, rawHdr, rawClaims(`["wattfare"]`, "")), 0},
		{"ErrDuplicateAlg", signRaw(t, sk, `{"alg":"none","alg":"EdDSA","typ":"wattfare-session+jwt","kid":"`+kid+`"}`, rawClaims(`"wattfare"`, "")), 0},
		{"ErrDuplicateKid", signRaw(t, sk, `{"alg":"EdDSA","typ":"wattfare-session+jwt","kid":"aaaaaaaaaaaaaaaa","kid":"`+kid+`"}`, rawClaims(`"wattfare"`, "")), 0},
		{"ErrDuplicateSub", signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, `,"sub":"someone-else"`)), 0},
		{"ErrDuplicateNested", signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, `,"x":{"a":1,"a":2}`)), 0},
		{"ErrHeaderCrit", signRaw(t, sk, `{"alg":"EdDSA","typ":"wattfare-session+jwt","kid":"`+kid+`","crit":["exp"]}`, rawClaims(`"wattfare"`, "")), 0},
		{"ErrHeaderJku", signRaw(t, sk, `{"alg":"EdDSA","typ":"wattfare-session+jwt","kid":"`+kid+`","jku":"https://evil.example/keys"}`, rawClaims(`"wattfare"`, "")), 0},
		{"ErrNonCanonicalBase64", flipSpareBits(signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, ""))), 0},
		{"ErrPaddedBase64", signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, "")) + "==", 0},
		{"ErrCapString", signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, `,"monthly_cap_usd":"10"`)), 0},
		{"ErrCapNull", signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, `,"monthly_cap_usd":null`)), 0},
		{"ErrCapNaN", signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, `,"monthly_cap_usd":NaN`)), 0},
		{"ErrCapHuge", signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, `,"monthly_cap_usd":1e400`)), 0},
		{"ErrCapOverMax", signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, `,"monthly_cap_usd":100000.01`)), 0},
		{"ErrCapZero", signRaw(t, sk, rawHdr, rawClaims(`"wattfare"`, `,"monthly_cap_usd":0`)), 0},
		{"ErrSubControlChar", signRaw(t, sk, rawHdr, strings.Replace(rawClaims(`"wattfare"`, ""), `"sub":"u1"`, `"sub":"u1\u0000x"`, 1)), 0},
		{"ErrSubNotAString", signRaw(t, sk, rawHdr, strings.Replace(rawClaims(`"wattfare"`, ""), `"sub":"u1"`, `"sub":5`, 1)), 0},
		{"ErrEmpty", "", 0},
	}
	for _, r := range f.spec.MustReject {
		rejects = append(rejects, struct {
			name  string
			token string
			now   time.Duration
		}{"ErrVector_" + r.Name, r.Token, time.Minute})
	}
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := at(tt.now).Verify(ctx, tt.token)
			if err == nil {
				t.Fatalf("accepted: %+v", s)
			}
			if code := wattfare.ErrorCode(err); code != wattfare.EUNAUTHENTICATED {
				t.Errorf("code %s, want %s (%v)", code, wattfare.EUNAUTHENTICATED, err)
			}
		})
	}
}

func mustAppID(t *testing.T, s string) wattfare.AppID {
	t.Helper()
	id, err := wattfare.ParseAppID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// harness serves the consent routes behind the same protections as the
// real server, with the signed-in account taken from a test cookie.
type harness struct {
	*fixture
	srv *httptest.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	f := setup(t)
	h := &harness{fixture: f}
	mux := http.NewServeMux()
	store := &postgres.Consent{DB: f.pool}
	c := &consent{
		store:    store,
		verifier: &SessionVerifier{Keys: store},
		account: func(r *http.Request) (string, bool) {
			ck, err := r.Cookie("test_account")
			if err != nil {
				return "", false
			}
			return ck.Value, true
		},
		now: time.Now,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	c.routes(mux)
	if err := appRoutes(mux, fstest.MapFS{"index.html": {Data: []byte(`<!doctype html><div id="root"></div>`)}}, true, "", ""); err != nil {
		t.Fatal(err)
	}
	cop := http.NewCrossOriginProtection()
	h.srv = httptest.NewServer(securityHeaders(cop.Handler(mux)))
	c.publicURL = func(*http.Request) string { return h.srv.URL }
	t.Cleanup(h.srv.Close)
	return h
}

type call struct {
	method, path string
	body         any
	header       map[string]string
	account      string
}

func (h *harness) do(t *testing.T, c call) (*http.Response, map[string]any) {
	t.Helper()
	var body io.Reader
	if c.body != nil {
		b, _ := json.Marshal(c.body)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(c.method, h.srv.URL+c.path, body)
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if c.account != "" {
		req.AddCookie(&http.Cookie{Name: "test_account", Value: c.account})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

// cameFrom navigates to /connect with hdr, as a browser arriving from
// another page would, and returns the Cookie header the page then sends.
func (h *harness) cameFrom(t *testing.T, hdr map[string]string) string {
	t.Helper()
	return h.navigate(t, "/connect", "", hdr)
}

// navigate loads path with the Cookie header cookie and hdr, as a browser
// would, and returns the Cookie header the page then sends: cookie with the
// answer's connectFromCookie applied.
func (h *harness) navigate(t *testing.T, path, cookie string, hdr map[string]string) string {
	t.Helper()
	all := map[string]string{}
	for k, v := range hdr {
		all[k] = v
	}
	if cookie != "" {
		all["Cookie"] = cookie
	}
	res, _ := h.do(t, call{method: "GET", path: path, header: all})
	return withConnectFrom(t, cookie, res)
}

// withConnectFrom applies res's connectFromCookie, if it sets one, to the
// Cookie header cookie.
func withConnectFrom(t *testing.T, cookie string, res *http.Response) string {
	t.Helper()
	n := 0
	for _, c := range res.Cookies() {
		if c.Name != connectFromCookie(false) {
			continue
		}
		if n++; n > 1 {
			t.Errorf("%s set twice in one answer", c.Name)
		}
		if !c.HttpOnly || c.Path != "/connect" || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie %+v", c)
		}
		cookie = c.Name + "=" + c.Value
		if c.MaxAge < 0 {
			cookie = ""
		}
	}
	return cookie
}

// popup is the header set of a same-origin fetch from the consent page.
func (h *harness) popup() map[string]string {
	return map[string]string{"Origin": h.srv.URL, "Sec-Fetch-Site": "same-origin"}
}

func (h *harness) approve(t *testing.T, token, origin, cap, account string) (*http.Response, map[string]any) {
	t.Helper()
	return h.do(t, call{method: "POST", path: "/connect/api/approve", header: h.popup(), account: account,
		body: map[string]string{"token": token, "origin": origin, "monthly_cap_usd": cap}})
}

func (h *harness) connection(t *testing.T, app string, mode wattfare.Mode, sub string) (status string, cap wattfare.Money, account string, version int64) {
	t.Helper()
	err := h.pool.QueryRow(context.Background(), `SELECT status, monthly_cap, account_id, version FROM connections WHERE app_id = $1 AND mode = $2 AND app_user_id = $3`,
		app, string(mode), sub).Scan(&status, &cap, &account, &version)
	if err != nil {
		return "", 0, "", 0
	}
	return
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestApprove(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	now := time.Now()

	t.Run("OKCapFromUserInputAndReplayHarmless", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeLive, "alice", wattfare.USD(10), now, 5*time.Minute)
		res, body := h.approve(t, tok, acmeOrigin, "5", h.user)
		if res.StatusCode != 200 || body["status"] != "approved" || body["monthly_cap_usd"] != "5.00" {
			t.Fatalf("approve: %d %v", res.StatusCode, body)
		}
		if tgt, _ := body["target"].(map[string]any); tgt["origin"] != acmeOrigin {
			t.Errorf("message target %v, want the registered origin %s", body["target"], acmeOrigin)
		}
		st, cap, acct, v1 := h.connection(t, h.acme, wattfare.ModeLive, "alice")
		if st != "active" || cap != wattfare.USD(5) || acct != h.user {
			t.Fatalf("stored %s %s %s, want active, $5 (the user's input, not the app's $10), %s", st, cap, acct, h.user)
		}
		for range 2 {
			if res, body := h.approve(t, tok, acmeOrigin, "5", h.user); res.StatusCode != 200 {
				t.Fatalf("replay: %d %v", res.StatusCode, body)
			}
		}
		if _, _, _, v2 := h.connection(t, h.acme, wattfare.ModeLive, "alice"); v2 != v1 {
			t.Errorf("a replayed approval rewrote the connection (version %d → %d)", v1, v2)
		}
		var audits int
		h.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'connection.approve' AND actor_id = $1 AND data->>'app_user_id' = 'alice'`, h.user).Scan(&audits)
		if audits != 1 {
			t.Errorf("%d approvals audited, want 1 (replays change nothing)", audits)
		}
		// The user revokes; replaying the old approval must not reconnect.
		if _, err := h.pool.Exec(context.Background(), `UPDATE connections SET status = 'revoked', revoked_at = now() WHERE app_id = $1 AND app_user_id = 'alice'`, h.acme); err != nil {
			t.Fatal(err)
		}
		res, body = h.approve(t, tok, acmeOrigin, "5", h.user)
		if res.StatusCode != http.StatusConflict {
			t.Errorf("replay after revoke: %d %v, want 409", res.StatusCode, body)
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeLive, "alice"); st != "revoked" {
			t.Errorf("replay after revoke reconnected: status %s", st)
		}
		// A fresh request from the app after the revoke can reconnect.
		tok2 := mint(t, h.acmeLive, "alice", 0, time.Now().Add(time.Second), 5*time.Minute)
		if res, body := h.approve(t, tok2, acmeOrigin, "7.50", h.user); res.StatusCode != 200 {
			t.Fatalf("reconnect: %d %v", res.StatusCode, body)
		}
		if st, cap, _, _ := h.connection(t, h.acme, wattfare.ModeLive, "alice"); st != "active" || cap != 7*wattfare.Dollar+50*wattfare.Cent {
			t.Errorf("reconnect stored %s %s", st, cap)
		}
	})

	t.Run("ErrCrossOrigin", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeLive, "bob", wattfare.USD(10), now, 5*time.Minute)
		body := map[string]string{"token": tok, "origin": acmeOrigin, "monthly_cap_usd": "10"}
		for name, hdr := range map[string]map[string]string{
			"evil page":                 {"Origin": evilOrigin, "Sec-Fetch-Site": "cross-site"},
			"app's own page":            {"Origin": acmeOrigin, "Sec-Fetch-Site": "cross-site"},
			"same-site subframe":        {"Origin": h.srv.URL, "Sec-Fetch-Site": "same-site"},
			"no origin at all":          {},
			"origin, no fetch metadata": {"Origin": evilOrigin},
			"sandboxed page":            {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
			"null origin":               {"Origin": "null"},
			"no origin, same-origin":    {"Sec-Fetch-Site": "same-origin"},
			"typed in the address bar":  {"Origin": h.srv.URL, "Sec-Fetch-Site": "none"},
		} {
			res, out := h.do(t, call{method: "POST", path: "/connect/api/approve", header: hdr, account: h.user, body: body})
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %d %v, want 403", name, res.StatusCode, out)
			}
		}
		// A form post (no JSON content type) from the right origin is refused too.
		req, _ := http.NewRequest("POST", h.srv.URL+"/connect/api/approve", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.srv.URL)
		req.AddCookie(&http.Cookie{Name: "test_account", Value: h.user})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("form post: %d, want 403", res.StatusCode)
		}
		// text/plain is what a cross-site form or sendBeacon can send without
		// a preflight; a JSON body in it is still refused.
		b, _ := json.Marshal(body)
		req, _ = http.NewRequest("POST", h.srv.URL+"/connect/api/approve", bytes.NewReader(b))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Origin", h.srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.AddCookie(&http.Cookie{Name: "test_account", Value: h.user})
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("text/plain: %v %v, want 403", res.StatusCode, err)
		}
		// DNS rebinding: a page on evil.example resolved to Wattfare's
		// address sends Host and Origin that agree, and still is not Wattfare.
		req, _ = http.NewRequest("POST", h.srv.URL+"/connect/api/approve", bytes.NewReader(b))
		req.Host = "evil.example" + h.srv.URL[strings.LastIndex(h.srv.URL, ":"):]
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://"+req.Host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.AddCookie(&http.Cookie{Name: "test_account", Value: h.user})
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("rebound host: %v %v, want 403", res.StatusCode, err)
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeLive, "bob"); st != "" {
			t.Errorf("a cross-origin approval stored a connection (%s)", st)
		}
	})

	t.Run("ErrUnregisteredOrigin", func(t *testing.T) {
		t.Parallel()
		fromAcme := h.cameFrom(t, map[string]string{"Referer": acmeOrigin + "/", "Sec-Fetch-Site": "cross-site"})
		tok := mint(t, h.acmeTest, "carol", 0, now, 5*time.Minute)
		for _, o := range []string{evilOrigin, otherOrigin, acmeOrigin + ":443", acmeOrigin + "/", "https://acme.example.evil.example", ""} {
			res, body := h.approve(t, tok, o, "10", h.user)
			if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusBadRequest {
				t.Errorf("origin %q: %d %v", o, res.StatusCode, body)
			}
			if _, ok := body["target"]; ok {
				t.Errorf("origin %q: answered with a message target", o)
			}
			res, body = h.do(t, call{method: "POST", path: "/connect/api/context", header: h.popup(), account: h.user,
				body: map[string]string{"token": tok, "origin": o}})
			if res.StatusCode < 400 {
				t.Errorf("context for origin %q: %d %v", o, res.StatusCode, body)
			}
		}
		for _, rt := range []string{"https://acme.example.evil.example/back", "https://acme.example@evil.example/", "javascript:alert(1)", "//acme.example/x", "https://ACME.example:8443/",
			"http://acme.example/", "https://acme.example:443/", "https://acme.example:8443/", "https://acme.example./", "https://user@acme.example/",
			`https://acme.example\@evil.example/`, `https://evil.example\@acme.example/`, `https:\evil.example`, `/\evil.example`, "https://evil.example%2f@acme.example/",
			"https://acme.example%2eevil.example/", "https://acme%2eexample.evil.example/", " https://evil.example", "https://evil.example#@acme.example",
			"https://acme.example\t.evil.example/", "data:text/html,<script>alert(1)</script>", "wss://acme.example/"} {
			// The browser did come from the app's page: only the return URL is wrong.
			hdr := h.popup()
			hdr["Cookie"] = fromAcme
			res, body := h.do(t, call{method: "POST", path: "/connect/api/approve", header: hdr, account: h.user,
				body: map[string]string{"token": tok, "return_to": rt, "monthly_cap_usd": "10"}})
			if res.StatusCode != http.StatusForbidden || errCode(body) != "origin_not_allowed" || !strings.Contains(fmt.Sprint(body), "not a registered origin") {
				t.Errorf("return_to %q: %d %v", rt, res.StatusCode, body)
			}
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeTest, "carol"); st != "" {
			t.Errorf("an unregistered origin got a connection (%s)", st)
		}
	})

	t.Run("OKRedirectFlow", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeLive, "dave", 0, now, 5*time.Minute)
		hdr := h.popup()
		hdr["Cookie"] = h.cameFrom(t, map[string]string{"Referer": acmeOrigin + "/", "Sec-Fetch-Site": "cross-site"})
		res, body := h.do(t, call{method: "POST", path: "/connect/api/approve", header: hdr, account: h.user,
			body: map[string]string{"token": tok, "return_to": acmeOrigin + "/chat?x=1", "monthly_cap_usd": "3"}})
		if res.StatusCode != 200 {
			t.Fatalf("%d %v", res.StatusCode, body)
		}
		if tgt, _ := body["target"].(map[string]any); tgt["return_to"] != acmeOrigin+"/chat?x=1" || tgt["origin"] != acmeOrigin {
			t.Errorf("target %v", body["target"])
		}
	})

	t.Run("ErrLiveNeedsSignIn", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeLive, "erin", 0, now, 5*time.Minute)
		res, body := h.approve(t, tok, acmeOrigin, "10", "")
		if res.StatusCode != http.StatusUnauthorized || errCode(body) != "sign_in_required" {
			t.Errorf("%d %v, want 401 sign_in_required", res.StatusCode, body)
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeLive, "erin"); st != "" {
			t.Errorf("connected without a signed-in user (%s)", st)
		}
	})

	t.Run("OKTestModeWithoutSignIn", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeTest, "frank", wattfare.USD(4), now, 5*time.Minute)
		res, ctxBody := h.do(t, call{method: "POST", path: "/connect/api/context", header: h.popup(),
			body: map[string]string{"token": tok, "origin": acmeOrigin}})
		if res.StatusCode != 200 || ctxBody["auto_approve"] != true || ctxBody["requested_cap_usd"] != "4.00" || ctxBody["account"] != nil {
			t.Fatalf("context: %d %v", res.StatusCode, ctxBody)
		}
		res, body := h.approve(t, tok, acmeOrigin, "4", "")
		if res.StatusCode != 200 {
			t.Fatalf("%d %v", res.StatusCode, body)
		}
		st, cap, acct, _ := h.connection(t, h.acme, wattfare.ModeTest, "frank")
		if st != "active" || cap != wattfare.USD(4) || acct == "" || acct == h.user {
			t.Errorf("stored %s %s %s, want active $4 on the app's sandbox account", st, cap, acct)
		}
		var avail int64
		h.pool.QueryRow(context.Background(), `SELECT credits - captured - held FROM wallets WHERE account_id = $1 AND mode = 'test'`, acct).Scan(&avail)
		if avail < int64(wattfare.USD(50)) {
			t.Errorf("sandbox test wallet has %s, want it funded", wattfare.Money(avail))
		}
	})

	t.Run("ErrBadCap", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeLive, "gina", 0, now, 5*time.Minute)
		for _, c := range []string{"", "0", "-5", "abc", "1e3", "100000.01", "0.009", "0.000000001", "NaN", "Infinity", "5 5", "$-5", "99999999999999999999999"} {
			res, body := h.approve(t, tok, acmeOrigin, c, h.user)
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("cap %q: %d %v", c, res.StatusCode, body)
			}
		}
	})
}

func TestSessionEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	get := func(tok, origin string) (*http.Response, map[string]any) {
		hdr := map[string]string{"Authorization": "Bearer " + tok}
		if origin != "" {
			hdr["Origin"] = origin
		}
		return h.do(t, call{method: "GET", path: "/v1/session", header: hdr})
	}
	tok := mint(t, h.acmeTest, "zoe", wattfare.USD(10), time.Now(), 5*time.Minute)

	res, body := get(tok, acmeOrigin)
	if res.StatusCode != 200 || body["connected"] != false || body["status"] != "not_connected" {
		t.Fatalf("before connecting: %d %v", res.StatusCode, body)
	}
	if res.Header.Get("Access-Control-Allow-Origin") != acmeOrigin {
		t.Errorf("registered origin got ACAO %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
	if !strings.HasSuffix(body["connect_url"].(string), "/connect") {
		t.Errorf("connect_url %v", body["connect_url"])
	}

	if res, body := h.approve(t, tok, acmeOrigin, "6", h.user); res.StatusCode != 200 {
		t.Fatalf("approve: %d %v", res.StatusCode, body)
	}
	var connID string
	h.pool.QueryRow(context.Background(), `SELECT id FROM connections WHERE app_user_id = 'zoe'`).Scan(&connID)
	period := wattfare.PeriodStart(time.Now())
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO connection_periods (connection_id, period, captured, held) VALUES ($1, $2, $3, $4)`,
		connID, period, int64(wattfare.Dollar+wattfare.Dollar/4), int64(wattfare.Dollar/4)); err != nil {
		t.Fatal(err)
	}
	res, body = get(tok, acmeOrigin)
	if res.StatusCode != 200 || body["connected"] != true || body["status"] != "active" ||
		body["monthly_cap_usd"] != "6.00" || body["spent_usd"] != "1.25" || body["remaining_usd"] != "4.75" {
		t.Fatalf("after connecting: %d %v", res.StatusCode, body)
	}
	if want := wattfare.PeriodEnd(time.Now()).Format(time.RFC3339); body["resets_at"] != want {
		t.Errorf("resets_at %v, want %s", body["resets_at"], want)
	}

	// Another app's origin, or none registered, reads nothing.
	for _, o := range []string{otherOrigin, evilOrigin} {
		res, _ := get(tok, o)
		if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("origin %s: %d ACAO %q", o, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// No answer may be cached across origins or users.
	for name, res := range map[string]*http.Response{
		"unregistered origin": func() *http.Response { r, _ := get(tok, evilOrigin); return r }(),
		"bad token":           func() *http.Response { r, _ := get("nope", acmeOrigin); return r }(),
		"no token":            func() *http.Response { r, _ := get("", ""); return r }(),
		"OK":                  func() *http.Response { r, _ := get(tok, acmeOrigin); return r }(),
	} {
		if !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Origin") || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Vary %q, Cache-Control %q", name, res.Header.Values("Vary"), res.Header.Get("Cache-Control"))
		}
		if res.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: allows credentials", name)
		}
	}
	// Preflights: a registered origin may ask, others get no CORS headers.
	res, _ = h.do(t, call{method: "OPTIONS", path: "/v1/session", header: map[string]string{"Origin": acmeOrigin, "Access-Control-Request-Headers": "authorization"}})
	if res.Header.Get("Access-Control-Allow-Origin") != acmeOrigin || !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight from a registered origin: %v", res.Header)
	}
	res, _ = h.do(t, call{method: "OPTIONS", path: "/v1/session", header: map[string]string{"Origin": evilOrigin}})
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an unregistered origin got ACAO")
	}
	// Bad tokens: refused, and a registered page may read why.
	for _, bad := range []string{"", "nope", h.spec.Tokens[0].Token, mint(t, h.revoked, "zoe", 0, time.Now(), time.Minute)} {
		res, body := get(bad, acmeOrigin)
		if res.StatusCode != http.StatusUnauthorized || errCode(body) != "invalid_session" || res.Header.Get("Access-Control-Allow-Origin") != acmeOrigin {
			t.Errorf("token %.20q: %d %v ACAO %q", bad, res.StatusCode, body, res.Header.Get("Access-Control-Allow-Origin"))
		}
		if res, _ := get(bad, evilOrigin); res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("token %.20q: an unregistered origin may read the error", bad)
		}
	}
	// The client script apps load.
	res, err := http.Get(h.srv.URL + "/v1/connect.js")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || !bytes.Contains(js, []byte("var Wattfare=")) {
		t.Errorf("connect.js: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// Revoked connections say so.
	h.pool.Exec(context.Background(), `UPDATE connections SET status = 'revoked', revoked_at = now() WHERE id = $1`, connID)
	if _, body := get(tok, acmeOrigin); body["connected"] != false || body["status"] != "revoked" {
		t.Errorf("after revoke: %v", body)
	}
}

func TestConsentPagesRefuseFraming(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s, err := New(WithPostgres(Config{PublicURL: "http://wattfare.test"}, pool, 0))
	if err != nil {
		t.Fatal(err)
	}
	// Every answer, errors included: a framed 404 or refusal is still a
	// Wattfare page an attacker could dress up.
	for _, rq := range []struct {
		method, path, body string
		header             map[string]string
	}{
		{"GET", "/connect", "", nil},
		{"GET", "/connect?x=1", "", nil},
		{"GET", "/budget", "", nil},
		{"GET", "/", "", nil},
		{"HEAD", "/connect", "", nil},
		{"GET", "/v1/session", "", nil},
		{"OPTIONS", "/v1/session", "", map[string]string{"Origin": evilOrigin}},
		{"GET", "/v1/connect.js", "", nil},
		{"GET", "/v1/nope", "", nil},
		{"GET", "/assets/nope.js", "", nil},
		{"GET", "/connect/api/approve", "", nil},
		{"POST", "/connect/api/approve", "{", map[string]string{"Content-Type": "application/json", "Origin": "http://wattfare.test", "Sec-Fetch-Site": "same-origin"}},
		{"POST", "/connect/api/approve", "{}", map[string]string{"Content-Type": "application/json", "Origin": evilOrigin, "Sec-Fetch-Site": "cross-site"}},
		{"POST", "/connect/api/context", `{"token":"x"}`, map[string]string{"Content-Type": "application/json"}},
		{"POST", "/budget", "", nil},
		{"POST", "/graphql", `{"query":"{__typename}"}`, map[string]string{"Content-Type": "application/json", "Origin": evilOrigin, "Sec-Fetch-Site": "cross-site"}},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
		for k, v := range rq.header {
			req.Header.Set(k, v)
		}
		s.Handler().ServeHTTP(rec, req)
		if rec.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s (%d): X-Frame-Options %q, CSP %q", rq.method, rq.path, rec.Code, rec.Header().Get("X-Frame-Options"), rec.Header().Get("Content-Security-Policy"))
		}
	}
}

// TestApproveThroughServer runs an approval through the real server: its
// dashboard session cookie, its cross-origin protection and its headers.
func TestApproveThroughServer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	accounts := &postgres.Accounts{DB: f.pool}
	a, err := accounts.SignUp(ctx, "approver@example.com", "correct horse battery", "Approver")
	if err != nil {
		t.Fatal(err)
	}
	cookie, _, err := accounts.CreateSession(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	s, err := New(WithPostgres(Config{PublicURL: "http://" + srv.Listener.Addr().String()}, f.pool, 0))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	post := func(path string, origin, site string, body any) *http.Response {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	tok := mint(t, f.acmeLive, "hank", wattfare.USD(10), time.Now(), 5*time.Minute)
	body := map[string]string{"token": tok, "origin": acmeOrigin, "monthly_cap_usd": "5"}

	if res := post("/connect/api/approve", acmeOrigin, "cross-site", body); res.StatusCode != http.StatusForbidden {
		t.Errorf("approval from the app's own origin: %d, want 403", res.StatusCode)
	}
	if res := post("/connect/api/approve", "", "", body); res.StatusCode != http.StatusForbidden {
		t.Errorf("approval with no Origin: %d, want 403", res.StatusCode)
	}
	if st, _, _, _ := (&harness{fixture: f}).connection(t, f.acme, wattfare.ModeLive, "hank"); st != "" {
		t.Fatalf("refused approvals stored a connection (%s)", st)
	}
	res := post("/connect/api/approve", srv.URL, "same-origin", body)
	if res.StatusCode != 200 {
		t.Fatalf("same-origin approval: %d", res.StatusCode)
	}
	if res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("approval answer is framable")
	}
	st, cap, acct, _ := (&harness{fixture: f}).connection(t, f.acme, wattfare.ModeLive, "hank")
	if st != "active" || cap != wattfare.USD(5) || acct != a.ID {
		t.Errorf("stored %s %s %s, want active $5 for %s", st, cap, acct, a.ID)
	}
}

// TestTestModeConsent: test keys approve on their own only where that
// cannot touch a person's account or undo what they did.
func TestTestModeConsent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	context_ := func(t *testing.T, tok, account string) map[string]any {
		t.Helper()
		res, body := h.do(t, call{method: "POST", path: "/connect/api/context", header: h.popup(), account: account,
			body: map[string]string{"token": tok, "origin": acmeOrigin}})
		if res.StatusCode != 200 {
			t.Fatalf("context: %d %v", res.StatusCode, body)
		}
		return body
	}
	liveCredits := func(t *testing.T) (credits int64) {
		t.Helper()
		h.pool.QueryRow(ctx, `SELECT credits - captured - held FROM wallets WHERE account_id = $1 AND mode = 'live'`, h.user).Scan(&credits)
		return credits
	}

	t.Run("OKSignedInAsksFirstAndStaysInTestMode", func(t *testing.T) {
		t.Parallel()
		before := liveCredits(t)
		tok := mint(t, h.acmeTest, "tm_signed_in", wattfare.USD(10), time.Now(), 5*time.Minute)
		if body := context_(t, tok, h.user); body["auto_approve"] != false {
			t.Fatalf("a signed-in person would be connected without a click: %v", body)
		}
		if res, body := h.approve(t, tok, acmeOrigin, "3", h.user); res.StatusCode != 200 || body["mode"] != "test" {
			t.Fatalf("their own approval: %d %v", res.StatusCode, body)
		}
		if st, _, acct, _ := h.connection(t, h.acme, wattfare.ModeTest, "tm_signed_in"); st != "active" || acct != h.user {
			t.Errorf("stored %s for %s", st, acct)
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeLive, "tm_signed_in"); st != "" {
			t.Errorf("a test key made a live connection (%s)", st)
		}
		if liveCredits(t) != before {
			t.Errorf("a test-mode approval touched the live wallet")
		}
		// The payer sees the connection's figures; another account does not.
		conn, _ := context_(t, tok, h.user)["connection"].(map[string]any)
		if conn["yours"] != true || conn["monthly_cap_usd"] != "3.00" || conn["remaining_usd"] == nil {
			t.Errorf("the payer's view: %v", conn)
		}
		conn, _ = context_(t, tok, h.user2)["connection"].(map[string]any)
		if conn["yours"] != false || conn["status"] != "active" || conn["monthly_cap_usd"] != nil || conn["spent_usd"] != nil || conn["remaining_usd"] != nil {
			t.Errorf("another account sees the payer's figures: %v", conn)
		}
		// Signed out now, the app asks again: the person's connection is not
		// auto-approved over to the sandbox.
		tok2 := mint(t, h.acmeTest, "tm_signed_in", wattfare.USD(10), time.Now(), 5*time.Minute)
		if body := context_(t, tok2, ""); body["auto_approve"] != false {
			t.Errorf("auto-approve over a person's connection: %v", body)
		}
		if res, body := h.approve(t, tok2, acmeOrigin, "10", ""); res.StatusCode != http.StatusConflict {
			t.Errorf("unattended approval over a person's connection: %d %v, want 409", res.StatusCode, body)
		}
		if st, cap, acct, _ := h.connection(t, h.acme, wattfare.ModeTest, "tm_signed_in"); st != "active" || acct != h.user || cap != wattfare.USD(3) {
			t.Errorf("the person's connection changed: %s %s %s", st, cap, acct)
		}
	})

	t.Run("OKSandboxRenewsItsOwn", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeTest, "tm_sandbox", wattfare.USD(4), time.Now(), 5*time.Minute)
		if body := context_(t, tok, ""); body["auto_approve"] != true {
			t.Fatalf("a new test connection is not auto-approved: %v", body)
		}
		for range 2 {
			if res, body := h.approve(t, tok, acmeOrigin, "4", ""); res.StatusCode != 200 {
				t.Fatalf("%d %v", res.StatusCode, body)
			}
		}
		if body := context_(t, tok, ""); body["auto_approve"] != true {
			t.Errorf("the sandbox's own connection is not auto-approved again: %v", body)
		}
		_, _, acct, _ := h.connection(t, h.acme, wattfare.ModeTest, "tm_sandbox")
		var live int
		h.pool.QueryRow(ctx, `SELECT count(*) FROM wallets WHERE account_id = $1 AND mode = 'live'`, acct).Scan(&live)
		if live != 0 {
			t.Errorf("the sandbox account has a live wallet")
		}
		// Another app's sandbox is another account.
		otherTok := mint(t, h.otherTest, "tm_sandbox", wattfare.USD(4), time.Now(), 5*time.Minute)
		if res, body := h.approve(t, otherTok, otherOrigin, "4", ""); res.StatusCode != 200 {
			t.Fatalf("other app: %d %v", res.StatusCode, body)
		}
		if _, _, otherAcct, _ := h.connection(t, h.other, wattfare.ModeTest, "tm_sandbox"); otherAcct == "" || otherAcct == acct {
			t.Errorf("two apps share a sandbox account (%s, %s)", acct, otherAcct)
		}
	})

	t.Run("ErrRevokedIsNotRevivedUnattended", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeTest, "tm_revoked", wattfare.USD(4), time.Now().Add(-time.Minute), 5*time.Minute)
		if res, body := h.approve(t, tok, acmeOrigin, "4", ""); res.StatusCode != 200 {
			t.Fatalf("%d %v", res.StatusCode, body)
		}
		if _, err := h.pool.Exec(ctx, `UPDATE connections SET status = 'revoked', revoked_at = now() WHERE app_id = $1 AND app_user_id = 'tm_revoked'`, h.acme); err != nil {
			t.Fatal(err)
		}
		// A fresh token, minted after the revoke: still no silent reconnect.
		fresh := mint(t, h.acmeTest, "tm_revoked", wattfare.USD(4), time.Now().Add(2*time.Second), 5*time.Minute)
		if body := context_(t, fresh, ""); body["auto_approve"] != false {
			t.Errorf("auto-approve of a revoked connection: %v", body)
		}
		if res, body := h.approve(t, fresh, acmeOrigin, "4", ""); res.StatusCode != http.StatusConflict {
			t.Errorf("unattended approval of a revoked connection: %d %v, want 409", res.StatusCode, body)
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeTest, "tm_revoked"); st != "revoked" {
			t.Errorf("revived: %s", st)
		}
		// A person who signs in and approves may reconnect it.
		if res, body := h.approve(t, fresh, acmeOrigin, "4", h.user); res.StatusCode != 200 {
			t.Errorf("a person's approval after the revoke: %d %v", res.StatusCode, body)
		}
	})

	t.Run("OKSandboxEmailTakenByAPerson", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		// The sandbox email derives from the app id, which the publishable
		// key shows: someone signed up with it before the app's first test
		// (and before sign-up refused the domain).
		email := "sandbox+" + strings.ToLower(strings.TrimPrefix(f.other, "app_")) + "@sandbox.wattfare.dev"
		if _, err := (&postgres.Accounts{DB: f.pool}).SignUp(ctx, email, "correct horse battery", "Squatter"); wattfare.ErrorCode(err) != wattfare.EINVALID {
			t.Fatalf("sign-up with the sandbox email: %v, want %s", err, wattfare.EINVALID)
		}
		const squatter = "acct_squatter"
		if _, err := f.pool.Exec(ctx, `INSERT INTO accounts (id, email, password_hash) VALUES ($1, $2, '$argon2id$x')`, squatter, email); err != nil {
			t.Fatal(err)
		}
		store := &postgres.Consent{DB: f.pool}
		id, err := store.SandboxAccount(ctx, f.other)
		if err != nil || id == squatter {
			t.Fatalf("sandbox account %q %v, want one of the app's own", id, err)
		}
		if again, err := store.SandboxAccount(ctx, f.other); err != nil || again != id {
			t.Fatalf("sandbox account again: %q %v, want %q", again, err, id)
		}
		if ok, err := store.IsSandboxAccount(ctx, f.other, squatter); ok || err != nil {
			t.Errorf("IsSandboxAccount(squatter) = %v, %v", ok, err)
		}
		if ok, err := store.IsSandboxAccount(ctx, f.other, id); !ok || err != nil {
			t.Errorf("IsSandboxAccount(sandbox) = %v, %v", ok, err)
		}
	})
}

// TestRedirectFlowNeedsTheAppsPage: an attacker who mints a session token
// for their own account at the app and sends a victim straight to the
// redirect flow must not get the victim's budget behind that account.
func TestRedirectFlowNeedsTheAppsPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	approve := func(t *testing.T, tok, cookie, account string) (*http.Response, map[string]any) {
		t.Helper()
		hdr := h.popup()
		if cookie != "" {
			hdr["Cookie"] = cookie
		}
		return h.do(t, call{method: "POST", path: "/connect/api/approve", header: hdr, account: account,
			body: map[string]string{"token": tok, "return_to": acmeOrigin + "/", "monthly_cap_usd": "5"}})
	}
	fromAcme := h.cameFrom(t, map[string]string{"Referer": acmeOrigin + "/chat", "Sec-Fetch-Site": "cross-site"})
	if fromAcme == "" {
		t.Fatal("no cookie from a navigation off the app's page")
	}
	for name, cookie := range map[string]string{
		"ErrFromAttackerPage": h.cameFrom(t, map[string]string{"Referer": evilOrigin + "/", "Sec-Fetch-Site": "cross-site"}),
		"ErrNoReferrer":       h.cameFrom(t, map[string]string{"Sec-Fetch-Site": "cross-site"}),
		"ErrTypedOrPasted":    h.cameFrom(t, map[string]string{"Sec-Fetch-Site": "none"}),
		"ErrOtherAppsPage":    h.cameFrom(t, map[string]string{"Referer": otherOrigin + "/", "Sec-Fetch-Site": "cross-site"}),
		"ErrNeverNavigated":   "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range []wattfare.Mode{wattfare.ModeLive, wattfare.ModeTest} {
				c := h.acmeLive
				if mode == wattfare.ModeTest {
					c = h.acmeTest
				}
				sub := "attacker_" + name + "_" + string(mode)
				tok := mint(t, c, sub, 0, time.Now(), 5*time.Minute)
				res, body := h.do(t, call{method: "POST", path: "/connect/api/context", header: map[string]string{"Origin": h.srv.URL, "Sec-Fetch-Site": "same-origin", "Cookie": cookie}, account: h.user,
					body: map[string]string{"token": tok, "return_to": acmeOrigin + "/"}})
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("%s context: %d %v, want 403", mode, res.StatusCode, body)
				}
				if res, body := approve(t, tok, cookie, h.user); res.StatusCode != http.StatusForbidden {
					t.Errorf("%s approve: %d %v, want 403", mode, res.StatusCode, body)
				}
				if st, _, _, _ := h.connection(t, h.acme, mode, sub); st != "" {
					t.Errorf("%s: the victim's budget was connected to the attacker's account (%s)", mode, st)
				}
			}
		})
	}
	t.Run("OKFromTheAppsPage", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeLive, "redirect_ok", 0, time.Now(), 5*time.Minute)
		if res, body := approve(t, tok, fromAcme, h.user); res.StatusCode != 200 {
			t.Fatalf("%d %v", res.StatusCode, body)
		}
		if st, _, acct, _ := h.connection(t, h.acme, wattfare.ModeLive, "redirect_ok"); st != "active" || acct != h.user {
			t.Errorf("stored %s for %s", st, acct)
		}
	})
	t.Run("OKSignInReloadKeepsWhereItCameFrom", func(t *testing.T) {
		t.Parallel()
		res, _ := h.do(t, call{method: "GET", path: "/connect", header: map[string]string{"Sec-Fetch-Site": "same-origin", "Cookie": fromAcme}})
		for _, c := range res.Cookies() {
			if c.Name == connectFromCookie(false) {
				t.Errorf("a same-origin reload reset the cookie to %q", c.Value)
			}
		}
	})
	t.Run("OKTestModeSandboxNeedsNoReferrer", func(t *testing.T) {
		t.Parallel()
		tok := mint(t, h.acmeTest, "redirect_sandbox", 0, time.Now(), 5*time.Minute)
		if res, body := approve(t, tok, "", ""); res.StatusCode != 200 {
			t.Fatalf("%d %v", res.StatusCode, body)
		}
		if st, _, acct, _ := h.connection(t, h.acme, wattfare.ModeTest, "redirect_sandbox"); st != "active" || acct == h.user {
			t.Errorf("stored %s for %s, want the sandbox", st, acct)
		}
	})
}

func TestSuspendedAppCannotBeConnected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.pool.Exec(context.Background(), `UPDATE apps SET suspended_at = now() WHERE id = $1`, h.acme); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wattfareapp.Client{h.acmeLive, h.acmeTest} {
		tok := mint(t, c, "susp", wattfare.USD(5), time.Now(), 5*time.Minute)
		res, body := h.do(t, call{method: "POST", path: "/connect/api/context", header: h.popup(), account: h.user,
			body: map[string]string{"token": tok, "origin": acmeOrigin}})
		if res.StatusCode != http.StatusForbidden || errCode(body) != wattfare.EAppSuspended {
			t.Errorf("%s context: %d %v", c.Mode(), res.StatusCode, body)
		}
		for _, account := range []string{h.user, ""} {
			if res, body := h.approve(t, tok, acmeOrigin, "5", account); res.StatusCode != http.StatusForbidden {
				t.Errorf("%s approve (account %q): %d %v", c.Mode(), account, res.StatusCode, body)
			}
		}
		if st, _, _, _ := h.connection(t, h.acme, c.Mode(), "susp"); st != "" {
			t.Errorf("%s: a suspended app got a connection (%s)", c.Mode(), st)
		}
	}
}
