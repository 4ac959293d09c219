// Package smtp sends Wattfare's email (budget alerts) through an SMTP
// server with the standard library's net/smtp: one message a connection,
// plain text and HTML as multipart/alternative.
package smtp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	gosmtp "net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
)

// DefaultFrom is the sender when the URL names none.
const DefaultFrom = "Wattfare <alerts@wattfare.localhost>"

// Sender sends email through one server.
type Sender struct {
	addr     string // host:port
	host     string
	implicit bool // smtps: TLS from the first byte
	user     string
	password string
	from     *mail.Address
	// Timeout bounds one message's whole exchange (30 s by default).
	Timeout time.Duration
}

// New returns a Sender for rawURL: smtp://[user:password@]host[:port]
// (port 25 by default; STARTTLS when the server offers it) or
// smtps://…host[:port] (TLS from the start, port 465 by default); from is
// the sender's address ("Name <addr>"; DefaultFrom when empty). Credentials
// are only sent over TLS, or to a server on this machine.
func New(rawURL, from string) (*Sender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	s := &Sender{}
	port := ""
	switch u.Scheme {
	case "smtp":
		port = "25"
	case "smtps":
		port, s.implicit = "465", true
	default:
		return nil, fmt.Errorf("smtp url: scheme %q: want smtp or smtps", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("smtp url: no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	if from == "" {
		from = DefaultFrom
	}
	if s.from, err = mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("smtp from %q: %w", from, err)
	}
	return s, nil
}

// Addr is the server's host:port.
func (s *Sender) Addr() string { return s.addr }

// Send delivers e to the server, which takes it or says why not.
func (s *Sender) Send(ctx context.Context, e wattfare.Email) error {
	to, err := mail.ParseAddress(e.To)
	if err != nil {
		return fmt.Errorf("smtp: recipient %q: %w", e.To, err)
	}
	msg, err := s.compose(e, to)
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp: connect %s: %w", s.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// The exchange blocks on the connection, whose deadline is the
	// context's; a context cancelled sooner closes it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.implicit {
		conn = tls.Client(conn, &tls.Config{ServerName: s.host})
	}
	c, err := gosmtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("smtp: greeting: %w", err)
	}
	defer c.Close()
	if !s.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: s.host}); err != nil {
				return fmt.Errorf("smtp: starttls: %w", err)
			}
		}
	}
	if s.user != "" {
		if err := c.Auth(gosmtp.PlainAuth("", s.user, s.password, s.host)); err != nil {
			return fmt.Errorf("smtp: auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: message refused: %w", err)
	}
	// The server took the message at the end of DATA; QUIT failing
	// afterwards does not unsend it.
	c.Quit()
	return nil
}

// compose writes e as a MIME message: headers, then the text and the HTML
// as alternatives, quoted-printable.
func (s *Sender) compose(e wattfare.Email, to *mail.Address) ([]byte, error) {
	var b bytes.Buffer
	var rb [12]byte
	rand.Read(rb[:])
	boundary := "wattfare-" + hex.EncodeToString(rb[:])
	msgID := e.MessageID
	if msgID == "" {
		msgID = hex.EncodeToString(rb[:]) + "@wattfare"
	}
	h := func(k, v string) {
		b.WriteString(k + ": " + v + "\r\n")
	}
	for _, v := range []string{e.Subject, msgID} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, errors.New("smtp: a header value spans lines")
		}
	}
	h("From", s.from.String())
	h("To", to.String())
	h("Subject", mime.QEncoding.Encode("utf-8", e.Subject))
	h("Date", time.Now().UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+msgID+">")
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, err
	}
	for _, part := range []struct{ typ, body string }{{"text/plain", e.Text}, {"text/html", e.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		qw.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n")))
		qw.Close()
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
