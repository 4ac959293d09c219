package jobs_test

import (
	"bufio"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/smtp"
)

// mailbox is an SMTP server for the test: it speaks enough of RFC 5321 for
// net/smtp (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and keeps every
// message it took. refuse is how many DATA commands it answers 451 first.
type mailbox struct {
	ln     net.Listener
	mu     sync.Mutex
	got    []sentMail
	refuse int
	tries  int
}

type sentMail struct {
	from, to string
	msg      *mail.Message
	text     string // the text/plain part, decoded
	html     string
}

func newMailbox(t *testing.T, refuse int) *mailbox {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &mailbox{ln: ln, refuse: refuse}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go m.serve(t, c)
		}
	}()
	return m
}

func (m *mailbox) url() string { return "smtp://" + m.ln.Addr().String() }

func (m *mailbox) mails() []sentMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sentMail(nil), m.got...)
}

func (m *mailbox) serve(t *testing.T, c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { io.WriteString(c, s+"\r\n") }
	say("220 mailbox.test ESMTP")
	var from, to string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-mailbox.test\r\n250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			from = strings.TrimSpace(line[len("MAIL FROM:"):])
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			to = strings.Trim(strings.TrimSpace(line[len("RCPT TO:"):]), "<>")
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var body strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				body.WriteString(strings.TrimPrefix(l, "."))
			}
			m.mu.Lock()
			m.tries++
			refuse := m.tries <= m.refuse
			m.mu.Unlock()
			if refuse {
				say("451 try again later")
				continue
			}
			sm, err := parseMail(from, to, body.String())
			if err != nil {
				t.Errorf("the mailbox got a message it cannot read: %v\n%s", err, body.String())
				say("554 unreadable")
				continue
			}
			m.mu.Lock()
			m.got = append(m.got, sm)
			m.mu.Unlock()
			say("250 queued")
		case cmd == "RSET", cmd == "NOOP":
			say("250 ok")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

// parseMail reads a message as a mail client would: its headers, and the
// text and HTML alternatives decoded.
func parseMail(from, to, raw string) (sentMail, error) {
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		return sentMail{}, err
	}
	sm := sentMail{from: from, to: to, msg: msg}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return sm, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sm, err
		}
		b, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			return sm, err
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			sm.text = string(b)
		case "text/html":
			sm.html = string(b)
		}
	}
	return sm, nil
}

func (sm sentMail) subject() string {
	s, err := new(mime.WordDecoder).DecodeHeader(sm.msg.Header.Get("Subject"))
	if err != nil {
		return sm.msg.Header.Get("Subject")
	}
	return s
}

// alertRow is an alert as its row records it.
type alertRow struct {
	kind     string
	percent  *int16
	status   string
	attempts int
}

func alertRows(t *testing.T, e *webhookEnv) []alertRow {
	t.Helper()
	rows, err := e.pool.Query(context.Background(),
		`SELECT kind, percent, email_status, email_attempts FROM alerts ORDER BY created_at, percent NULLS LAST`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []alertRow
	for rows.Next() {
		var a alertRow
		if err := rows.Scan(&a.kind, &a.percent, &a.status, &a.attempts); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// withAlerts registers the alert email worker with mailer (nil: no SMTP).
func withAlerts(a **jobs.Alerts, mailer jobs.Mailer) func(*jobs.Registry, *pgxpool.Pool) {
	return func(r *jobs.Registry, pool *pgxpool.Pool) {
		*a = &jobs.Alerts{Store: &postgres.Alerts{DB: pool}, Mailer: mailer,
			BudgetURL: "http://wattfare.test/budget", RetryBase: 20 * time.Millisecond}
		(*a).Register(r)
	}
}

// TestAlertEmails is what a user who chose alerts gets while an app spends
// its cap: one email per threshold chosen and one for the wallet, each
// exactly once even though the SMTP server turns the first attempt away,
// addressed to them, with the app, the figures and the budget link — and
// never a word of the prompts.
func TestAlertEmails(t *testing.T) {
	t.Parallel()
	box := newMailbox(t, 1)
	sender, err := smtp.New(box.url(), "")
	if err != nil {
		t.Fatal(err)
	}
	var alerts *jobs.Alerts
	e := newWebhookEnv(t, nil, withAlerts(&alerts, sender))
	ctx := context.Background()
	conn := e.approve("u1", 20*wattfare.Cent)
	if _, err := e.svc.Alerts.UpdateConnectionAlerts(ctx, e.account, conn, []int{50, 80, 100}); err != nil {
		t.Fatal(err)
	}
	below := wattfare.USD(49) + 90*wattfare.Cent
	if w, err := e.svc.Alerts.UpdateWalletAlert(ctx, e.account, wattfare.ModeTest, &below); err != nil || !w.Armed {
		t.Fatalf("wallet alert = %+v, %v: want armed ($50.00 now)", w, err)
	}

	// sandbox/pricey charges $0.001 a token: about $0.02 a request, so
	// the $0.20 cap refuses within a dozen.
	refused := false
	for i := 0; i < 40 && !refused; i++ {
		switch code := e.chat("u1", "sandbox/pricey"); code {
		case 200:
		case 402:
			refused = true
		default:
			t.Fatalf("request %d: status %d", i, code)
		}
	}
	if !refused {
		t.Fatal("the $0.20 cap never refused a request")
	}
	// A few more refusals fire nothing more.
	for range 3 {
		if code := e.chat("u1", "sandbox/pricey"); code != 402 {
			t.Fatalf("after the cap: status %d, want 402", code)
		}
	}

	eventually(t, "four alert emails are sent", func() bool { return len(box.mails()) >= 4 })
	eventually(t, "every alert is recorded as sent", func() bool {
		for _, a := range alertRows(t, e) {
			if a.status != "sent" {
				return false
			}
		}
		return true
	})
	rows := alertRows(t, e)
	var kinds []string
	for _, a := range rows {
		k := a.kind
		if a.percent != nil {
			k += "@" + strconv.Itoa(int(*a.percent))
		}
		kinds = append(kinds, k)
	}
	if len(rows) != 4 {
		t.Fatalf("alerts fired = %v: want the cap's 50, 80 and 100 %% and the wallet's, once each", kinds)
	}
	attempts := 0
	for _, a := range rows {
		attempts += a.attempts
	}
	if attempts != 5 {
		t.Errorf("email attempts = %d over %v: want 5 (one refused by the server, retried)", attempts, kinds)
	}

	mails := box.mails()
	if len(mails) != 4 {
		t.Fatalf("%d emails for 4 alerts: each alert must be emailed exactly once", len(mails))
	}
	subjects := map[string]bool{}
	for _, m := range mails {
		subj := m.subject()
		subjects[subj] = true
		if m.to != "payer@example.com" {
			t.Errorf("email %q to %q: want the payer, payer@example.com", subj, m.to)
		}
		if got := m.msg.Header.Get("To"); !strings.Contains(got, "payer@example.com") {
			t.Errorf("email %q: To header %q", subj, got)
		}
		for _, part := range []string{m.text, m.html} {
			if !strings.Contains(part, "http://wattfare.test/budget") {
				t.Errorf("email %q has no link to the budget page:\n%s", subj, part)
			}
			if strings.Contains(part, "hello there") || strings.Contains(subj, "hello there") {
				t.Errorf("email %q quotes the prompt", subj)
			}
		}
	}
	for _, want := range []string{
		"Wattfare: Acme Chat has used 50 % of its $0.20 monthly cap",
		"Wattfare: Acme Chat has used 80 % of its $0.20 monthly cap",
		"Wattfare: Acme Chat has used 100 % of its $0.20 monthly cap",
		"Wattfare: your test wallet is under $49.90",
	} {
		if !subjects[want] {
			t.Errorf("no email %q; got %v", want, subjects)
		}
	}
	for _, m := range mails {
		if strings.Contains(m.subject(), "100 %") && !strings.Contains(m.text, "refused until the cap resets") {
			t.Errorf("the 100 %% email does not say requests are refused:\n%s", m.text)
		}
	}
	if alerts.Outcomes.Sent.Load() != 4 || alerts.Outcomes.Failed.Load() != 1 {
		t.Errorf("outcomes sent=%d failed=%d: want 4 and 1", alerts.Outcomes.Sent.Load(), alerts.Outcomes.Failed.Load())
	}

	// The budget page lists them, emailed.
	list, err := e.svc.Alerts.Alerts(ctx, e.account, wattfare.ModeTest, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("budget page lists %d alerts, want 4", len(list))
	}
	for _, a := range list {
		if a.EmailStatus != wattfare.AlertEmailSent || a.EmailedAt == nil {
			t.Errorf("alert %s %d %%: email %s at %v, want sent", a.Kind, a.Percent, a.EmailStatus, a.EmailedAt)
		}
	}
}

// TestAlertsWithoutSMTP: with no SMTP server configured nothing is sent,
// and the alerts still show on the budget page, marked as not emailed.
func TestAlertsWithoutSMTP(t *testing.T) {
	t.Parallel()
	var alerts *jobs.Alerts
	e := newWebhookEnv(t, nil, withAlerts(&alerts, nil))
	ctx := context.Background()
	conn := e.approve("u1", 10*wattfare.Cent)
	if _, err := e.svc.Alerts.UpdateConnectionAlerts(ctx, e.account, conn, []int{100}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatal("the $0.10 cap never refused a request")
		}
		if e.chat("u1", "sandbox/pricey") == 402 {
			break
		}
	}
	eventually(t, "the alert's job runs", func() bool { return alerts.Outcomes.NotConfigured.Load() == 1 })
	list, err := e.svc.Alerts.Alerts(ctx, e.account, wattfare.ModeTest, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Kind != wattfare.AlertCap || list[0].Percent != 100 {
		t.Fatalf("budget page alerts = %+v: want the cap's 100 %% alert", list)
	}
	if list[0].EmailStatus != wattfare.AlertEmailNotConfigured || list[0].EmailedAt != nil {
		t.Errorf("email status %s at %v: want not configured, never emailed", list[0].EmailStatus, list[0].EmailedAt)
	}
	if alerts.Outcomes.Sent.Load() != 0 {
		t.Errorf("%d emails sent with no SMTP", alerts.Outcomes.Sent.Load())
	}
}
