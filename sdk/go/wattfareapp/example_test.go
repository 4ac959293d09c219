package wattfareapp_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/sdk/go/wattfareapp"
)

// currentUserID stands for your app's own login: the user id comes from
// your session, never from the request.
func currentUserID(r *http.Request) (string, bool) { return "user_123", true }

// A route your signed-in user's browser calls before Wattfare.connect() and
// Wattfare.session().
func Example() {
	wf, err := wattfareapp.NewFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("GET /api/wattfare-session", func(w http.ResponseWriter, r *http.Request) {
		userID, ok := currentUserID(r)
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		token, err := wf.CreateSession(userID, wattfare.USD(10)) // ask for a $10 monthly cap
		if errors.Is(err, wattfareapp.ErrInvalidUserID) {
			http.Error(w, "this user id cannot be used with Wattfare", http.StatusBadRequest)
			return
		} else if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]string{"session_token": token, "publishable_key": wf.PublishableKey()})
	})
}

func ExampleClient_CreateSession() {
	wf, err := wattfareapp.New(
		"sk_test_ibaueq2eivdeoscjqcayfa4eqwdipcejrkfyzdmor6ijdeutsskznf4ytgnjxhe5t2pwfucl7m",
		"pk_test_caireeyuculbogazvun5v6i",
	)
	if err != nil {
		log.Fatal(err)
	}
	_, err = wf.CreateSession(" user_123", 0)
	fmt.Println(errors.Is(err, wattfareapp.ErrInvalidUserID))
	fmt.Println(wf) // prints the publishable key, never the secret
	// Output:
	// true
	// wattfareapp.Client(pk_test_caireeyuculbogazvun5v6i)
}
