package dashboard

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"time"
)

//go:embed index.html app.js style.css
var assets embed.FS

// files maps request paths to the embedded file and its content type.
var files = map[string]struct{ name, ctype string }{
	"/":           {"index.html", "text/html; charset=utf-8"},
	"/index.html": {"index.html", "text/html; charset=utf-8"},
	"/app.js":     {"app.js", "text/javascript; charset=utf-8"},
	"/style.css":  {"style.css", "text/css; charset=utf-8"},
}

// FS returns the embedded assets.
func FS() fs.FS { return assets }

// Handler serves the dashboard's three files (GET and HEAD only; anything
// else under it is 404). The caller adds the security headers (the API does).
func Handler() http.Handler {
	start := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b, err := assets.ReadFile(f.name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", f.ctype)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, f.name, start, bytes.NewReader(b))
	})
}
