package service

import (
	_ "embed"
	"net/http"
)

//go:embed static/index.html
var indexHTML []byte

// webHandler serves the demo page at the root.
func webHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
}
