package jobs_test

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/sdk/go/wattfareapp"
)

// webhookVectors is spec/webhook-vectors.json: bodies and headers as the
// control plane signs them, which sdk/js's tests verify with wattfare/server
// (and TestWebhookVectors with sdk/go), so the three cannot drift apart.
type webhookVectors struct {
	Comment   string          `json:"comment"`
	SecretKey string          `json:"secret_key"`
	Vectors   []webhookVector `json:"vectors"`
}

type webhookVector struct {
	Name    string   `json:"name"`
	Secrets []string `json:"secrets"`
	T       int64    `json:"t"`
	Body    string   `json:"body"`
	Header  string   `json:"header"`
}

func makeVectors(t *testing.T) webhookVectors {
	at := time.Unix(1796000000, 0)
	conn := json.RawMessage(`{"connection":{"id":"conn_1","app_id":"app_1","app_user_id":"user-42","mode":"live","status":"revoked","monthly_cap":"10.00","spent_this_period":"8.125","period_start":"2026-12-01"}}`)
	warn := json.RawMessage(`{"connection":{"id":"conn_1","app_id":"app_1","app_user_id":"user-42","mode":"live","status":"active","monthly_cap":"10.00","spent_this_period":"8.00","period_start":"2026-12-01"},"threshold_percent":80}`)
	var out webhookVectors
	out.Comment = "Written by TestWebhookVectors (WATTFARE_WRITE_VECTORS=1 go test ./jobs -run TestWebhookVectors): the control plane's webhook signatures, verified by sdk/js/test/webhooks.test.mjs and sdk/go."
	out.SecretKey = "sk_test_ibaueq2eivdeoscjqcayfa4eqwdipcejrkfyzdmor6ijdeutsskznf4ytgnjxhe5t2pwfucl7m"
	for _, c := range []struct {
		name, id, typ string
		data          json.RawMessage
		secrets       []string
	}{
		{"revoked", "evt_1", wattfare.EventConnectionRevoked, conn, []string{"whsec_vector_one"}},
		{"cap_warning_during_roll", "evt_2", wattfare.EventConnectionCapWarning, warn, []string{"whsec_vector_new", "whsec_vector_old"}},
	} {
		body, err := jobs.WebhookBody(c.id, c.typ, at, wattfare.ModeLive, c.data)
		if err != nil {
			t.Fatal(err)
		}
		out.Vectors = append(out.Vectors, webhookVector{Name: c.name, Secrets: c.secrets, T: at.Unix(), Body: string(body),
			Header: jobs.SignWebhook(at, body, c.secrets...)})
	}
	return out
}

func TestWebhookVectors(t *testing.T) {
	t.Parallel()
	const path = "../spec/webhook-vectors.json"
	want := makeVectors(t)
	b, _ := json.MarshalIndent(want, "", "  ")
	if os.Getenv("WATTFARE_WRITE_VECTORS") == "1" {
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(b)+"\n" {
		t.Fatalf("%s is not what the control plane signs now: rerun with WATTFARE_WRITE_VECTORS=1", path)
	}
	for _, v := range want.Vectors {
		for _, s := range v.Secrets {
			wh := wattfareapp.NewWebhooks(s)
			wh.Now = func() time.Time { return time.Unix(v.T+10, 0) }
			ev, err := wh.Verify([]byte(v.Body), v.Header)
			if err != nil || ev.Connection == nil || ev.Connection.AppUserID != "user-42" {
				t.Fatalf("%s with %s: %+v, %v", v.Name, s, ev, err)
			}
			if v.Name == "cap_warning_during_roll" && (ev.ThresholdPercent != 80 || ev.Connection.SpentThisPeriod != wattfare.USD(8)) {
				t.Fatalf("%+v", ev)
			}
		}
		// Tampered, stale and wrongly keyed bodies fail with typed errors.
		wh := wattfareapp.NewWebhooks(v.Secrets[0])
		wh.Now = func() time.Time { return time.Unix(v.T+301, 0) }
		if _, err := wh.Verify([]byte(v.Body), v.Header); !isReason(err, "too_old") {
			t.Fatalf("stale: %v", err)
		}
		wh.Now = func() time.Time { return time.Unix(v.T, 0) }
		if _, err := wh.Verify([]byte(v.Body+" "), v.Header); !isReason(err, "no_match") {
			t.Fatalf("tampered: %v", err)
		}
		other := wattfareapp.NewWebhooks("whsec_other")
		other.Now = wh.Now
		if _, err := other.Verify([]byte(v.Body), v.Header); !isReason(err, "no_match") {
			t.Fatalf("other secret: %v", err)
		}
		if _, err := wh.Verify([]byte(v.Body), ""); !isReason(err, "missing_header") {
			t.Fatalf("no header: %v", err)
		}
	}
}

func isReason(err error, reason string) bool {
	var we *wattfareapp.WebhookError
	return errorsAs(err, &we) && we.Reason == reason && errorsIs(err, wattfareapp.ErrWebhookSignature)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }
