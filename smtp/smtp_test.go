package smtp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/smtp"
)

func TestNewRefusesWhatItCannotUse(t *testing.T) {
	for _, raw := range []string{"http://mail.test", "smtp://", "mail.test:25", "smtp://h:25/%zz"} {
		if _, err := smtp.New(raw, ""); err == nil {
			t.Errorf("New(%q) took it", raw)
		}
	}
	if _, err := smtp.New("smtp://mail.test", "not an address"); err == nil {
		t.Error("New took a sender that is not an address")
	}
	for raw, addr := range map[string]string{
		"smtp://mail.test":          "mail.test:25",
		"smtp://u:p@mail.test:1025": "mail.test:1025",
		"smtps://mail.test":         "mail.test:465",
	} {
		s, err := smtp.New(raw, "")
		if err != nil || s.Addr() != addr {
			t.Errorf("New(%q) = %v, %v: want %s", raw, s, err, addr)
		}
	}
}

// A subject that spans lines would let whoever chose an app's name write
// headers of their own into the email: it is refused before any connection.
func TestSendRefusesHeaderInjection(t *testing.T) {
	s, err := smtp.New("smtp://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), wattfare.Email{To: "a@example.com", Subject: "hi\r\nBcc: b@example.com", Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "spans lines") {
		t.Fatalf("Send = %v: want the subject refused", err)
	}
}
