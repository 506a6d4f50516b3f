package service

import (
	_ "embed"
	"net/http"
)

//go:embed static/index.html
var indexHTML []byte

//go:embed static/socket.io.min.js
var clientJS []byte

// webHandler serves the demo page at the root and the official client
// bundle it uses (socket.io-client 4.8, MIT) at /assets/socket.io.min.js.
func webHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(indexHTML)
		case "/assets/socket.io.min.js":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Header().Set("Cache-Control", "public, max-age=86400")
			_, _ = w.Write(clientJS)
		default:
			http.NotFound(w, r)
		}
	})
}
