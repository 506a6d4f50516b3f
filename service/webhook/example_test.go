package webhook_test

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/heraldio/herald/service/webhook"
)

// A receiver checks the signature over the raw body before it trusts
// anything, and drops deliveries it has seen (retries carry the same id).
func ExampleVerify() {
	secret := []byte("the HERALD_WEBHOOK_SECRET value")
	var seen sync.Map // a table of your database in production
	http.HandleFunc("/herald/webhooks", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var e webhook.Envelope
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, "json", http.StatusBadRequest)
			return
		}
		if _, dup := seen.LoadOrStore(e.ID, true); !dup {
			log.Printf("%s: %s", e.Type, e.Data)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
