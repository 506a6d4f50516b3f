// Package web holds the demo chat app, built by Vite from src/ into dist/
// (committed), and serves it.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// Dist is the built app.
func Dist() fs.FS {
	sub, _ := fs.Sub(dist, "dist")
	return sub
}

// Handler serves the app: files from dist/, index.html for any other path
// (client-side routes). Hashed assets are cached for long.
func Handler() http.Handler {
	root := Dist()
	files := http.FileServerFS(root)
	index, _ := fs.ReadFile(root, "index.html")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		if p != "" && p != "index.html" {
			if f, err := root.Open(p); err == nil {
				f.Close()
				if strings.HasPrefix(p, "assets/") {
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				}
				files.ServeHTTP(w, r)
				return
			}
			if strings.HasPrefix(p, "assets/") || strings.HasPrefix(p, "api/") {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	})
}
