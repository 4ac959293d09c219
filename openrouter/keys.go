package openrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
)

// DefaultBaseURL is OpenRouter's API root.
const DefaultBaseURL = "https://openrouter.ai/api/v1"

// Keys manages OpenRouter API keys with a management key
// (https://openrouter.ai/docs/features/provisioning-api-keys): a
// management key creates, limits, disables and deletes keys but cannot
// call models itself. Rolling it (a new ManagementKey, the old one deleted
// on OpenRouter) leaves every key it made working: they are the account's.
type Keys struct {
	// BaseURL is the API root (DefaultBaseURL when empty), as in
	// WATTFARE_OPENROUTER_BASE_URL: keys live under BaseURL+"/keys".
	BaseURL       string
	ManagementKey string
	// HTTP is the client (a 30 s timeout when nil).
	HTTP *http.Client
}

// LimitReset is when OpenRouter resets a key's usage against its limit:
// midnight UTC, weeks Monday to Sunday, months on the 1st.
type LimitReset string

const (
	ResetDaily   LimitReset = "daily"
	ResetWeekly  LimitReset = "weekly"
	ResetMonthly LimitReset = "monthly"
)

// NewKey is what a key is created with.
type NewKey struct {
	Name string
	// Limit is the key's spending limit (USD on the wire); OpenRouter
	// refuses the key's requests once its usage since the last reset
	// reaches it (403 "Key limit exceeded").
	Limit              wattfare.Money
	LimitReset         LimitReset
	IncludeBYOKInLimit bool
}

// Key is a key as OpenRouter describes it. Amounts are exact: OpenRouter
// writes them as JSON numbers, read here as decimals, never as floats.
type Key struct {
	Hash               string      `json:"hash"`
	Name               string      `json:"name"`
	Label              string      `json:"label"`
	Disabled           bool        `json:"disabled"`
	Limit              *amount     `json:"limit"` // nil: no limit
	LimitRemaining     *amount     `json:"limit_remaining"`
	LimitReset         *LimitReset `json:"limit_reset"`
	IncludeBYOKInLimit bool        `json:"include_byok_in_limit"`
	Usage              amount      `json:"usage"`
	UsageDaily         amount      `json:"usage_daily"`
	UsageWeekly        amount      `json:"usage_weekly"`
	UsageMonthly       amount      `json:"usage_monthly"`
	CreatedAt          time.Time   `json:"created_at"`
	UpdatedAt          *time.Time  `json:"updated_at"`
}

// LimitUSD returns the key's limit and whether it has one.
func (k *Key) LimitUSD() (wattfare.Money, bool) {
	if k.Limit == nil {
		return 0, false
	}
	return k.Limit.Money, true
}

// Created is a key just made: Secret is shown by OpenRouter this once.
type Created struct {
	Key
	Secret string
}

// amount is an amount in USD as OpenRouter writes it, a JSON number (or null)
// read exactly. OpenRouter reports usage to more than nine decimals; the
// digits past the nano-dollar are rounded up, as costs are.
type amount struct{ wattfare.Money }

func (u *amount) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" {
		return nil
	}
	m, err := parseUSD(s)
	if err != nil {
		return err
	}
	u.Money = m
	return nil
}

// parseUSD parses a decimal USD amount exactly, rounding digits past the
// nano-dollar up. Exponents ("1e-7", which JSON allows) are expanded.
func parseUSD(s string) (wattfare.Money, error) {
	if strings.ContainsAny(s, "eE") {
		return parseExp(s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	up := false
	if len(frac) > 9 {
		up = strings.Trim(frac[9:], "0") != ""
		frac = frac[:9]
	}
	if frac != "" {
		whole += "." + frac
	}
	m, err := wattfare.ParseMoney(whole)
	if err != nil {
		return 0, err
	}
	if up && m >= 0 {
		m++
	}
	return m, nil
}

// parseExp handles a number with an exponent by shifting its decimal point.
func parseExp(s string) (wattfare.Money, error) {
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	var e int
	if _, err := fmt.Sscanf(exp, "%d", &e); err != nil || e < -30 || e > 30 {
		return 0, fmt.Errorf("amount %q: %w", s, wattfare.ErrMoneySyntax)
	}
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimLeft(mant, "+-")
	whole, frac, _ := strings.Cut(mant, ".")
	digits := whole + frac
	point := len(whole) + e
	switch {
	case point <= 0:
		digits = strings.Repeat("0", -point) + digits
		point = 0
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	out := digits[:point]
	if out == "" {
		out = "0"
	}
	if point < len(digits) {
		out += "." + digits[point:]
	}
	if neg {
		out = "-" + out
	}
	return parseUSD(out)
}

// usdNumber writes m as a JSON number of dollars, exactly ("12.5").
func usdNumber(m wattfare.Money) json.RawMessage { return json.RawMessage(m.String()) }

func (k *Keys) base() string {
	if k.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(k.BaseURL, "/")
}

func (k *Keys) do(ctx context.Context, method, path string, body any, out any, want ...int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.base()+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+k.ManagementKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	hc := k.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL holds no secret (keys travel in headers); the error names
		// it and the method only.
		return fmt.Errorf("openrouter %s %s: %w", method, path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	for _, w := range want {
		ok = ok || resp.StatusCode == w
	}
	if !ok {
		return apiError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("openrouter %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Create makes a key: POST /keys. OpenRouter answers 201 with the key's
// data and, this once, its secret.
func (k *Keys) Create(ctx context.Context, nk NewKey) (Created, error) {
	body := map[string]any{
		"name":                  nk.Name,
		"limit":                 usdNumber(nk.Limit),
		"include_byok_in_limit": nk.IncludeBYOKInLimit,
	}
	if nk.LimitReset != "" {
		body["limit_reset"] = nk.LimitReset
	}
	var out struct {
		Data Key    `json:"data"`
		Key  string `json:"key"`
	}
	if err := k.do(ctx, http.MethodPost, "/keys", body, &out); err != nil {
		return Created{}, err
	}
	if out.Key == "" || out.Data.Hash == "" {
		return Created{}, errors.New("openrouter POST /keys: the answer has no key or no hash")
	}
	return Created{Key: out.Data, Secret: out.Key}, nil
}

// KeyUpdate is a change to a key: nil fields are left as they are.
type KeyUpdate struct {
	Name     *string
	Disabled *bool
	Limit    *wattfare.Money
}

// Update changes a key: PATCH /keys/{hash}.
func (k *Keys) Update(ctx context.Context, hash string, u KeyUpdate) (Key, error) {
	body := map[string]any{}
	if u.Name != nil {
		body["name"] = *u.Name
	}
	if u.Disabled != nil {
		body["disabled"] = *u.Disabled
	}
	if u.Limit != nil {
		body["limit"] = usdNumber(*u.Limit)
	}
	var out struct {
		Data Key `json:"data"`
	}
	err := k.do(ctx, http.MethodPatch, "/keys/"+url.PathEscape(hash), body, &out)
	return out.Data, err
}

// Get reads a key with its usage: GET /keys/{hash}.
func (k *Keys) Get(ctx context.Context, hash string) (Key, error) {
	var out struct {
		Data Key `json:"data"`
	}
	err := k.do(ctx, http.MethodGet, "/keys/"+url.PathEscape(hash), nil, &out)
	return out.Data, err
}

// Delete removes a key: DELETE /keys/{hash}. A key already gone (404) is
// deleted as far as the caller is concerned.
func (k *Keys) Delete(ctx context.Context, hash string) error {
	return k.do(ctx, http.MethodDelete, "/keys/"+url.PathEscape(hash), nil, nil, http.StatusNotFound)
}

// NotFound reports whether err is OpenRouter's 404.
func NotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
