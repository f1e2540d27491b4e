// Package web holds the coordinator's dashboard: its templates and static
// assets, embedded, and the helpers the templates call (markdown, charts,
// formatting). The http package gathers each page's data, already
// redacted for the public, and renders it here; this package reads no
// store and applies no rule.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/agoranet/agora/internal/clip"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSP is the dashboard's Content-Security-Policy: every script, style and
// image comes from the coordinator itself, and no page may be framed.
const CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Page is what every template receives: the page's title, the section
// of the navigation it belongs to, and its data.
type Page struct {
	Title   string
	Section string
	// Live lists the event types that refresh the page's live regions.
	Live []string
	Data any
}

// Renderer renders the dashboard's pages.
type Renderer struct {
	pages map[string]*template.Template
}

// New parses the templates: layout.html around each page template.
func New() (*Renderer, error) {
	base, err := template.New("layout.html").Funcs(Funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		r.pages[name] = t
	}
	return r, nil
}

// Render writes page name with p; it buffers so a template error never
// leaves half a page.
func (r *Renderer) Render(w io.Writer, name string, p *Page) error {
	t, ok := r.pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	_, err := b.WriteTo(w)
	return err
}

// Static serves the embedded CSS and JS under /static/.
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// Funcs are the helpers templates call.
var Funcs = template.FuncMap{
	"markdown":  Markdown,
	"short":     Short,
	"clip":      func(s string, n int) string { return clip.String(s, n) },
	"when":      When,
	"ago":       func(t time.Time) string { return Ago(t, time.Now()) },
	"pct":       func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"num":       Num,
	"usd":       USD,
	"deref":     func(p *float64) float64 { return *p },
	"add":       func(a, b int) int { return a + b },
	"div":       func(a int64, b int) int64 { return a / int64(max(b, 1)) },
	"dict":      dict,
	"stepchart": StepChart,
	"barchart":  BarChart,
}

// Short abbreviates a hotkey or id for tables: its first six and last four
// characters. The full value goes in a title attribute.
func Short(s string) string {
	r := []rune(s)
	if len(r) <= 14 {
		return s
	}
	return string(r[:6]) + "…" + string(r[len(r)-4:])
}

// When formats a time for tables, in UTC; "" for the zero time.
func When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// Ago says how long before now t was, coarsely.
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// Num formats a metric with four significant digits.
func Num(f float64) string { return fmt.Sprintf("%.4g", f) }

// USD formats micro-US-dollars.
func USD(micro int64) string { return fmt.Sprintf("$%.4f", float64(micro)/1e6) }

// dict builds a map for a sub-template from key, value pairs.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %d is not a string", i/2)
		}
		m[k] = kv[i+1]
	}
	return m, nil
}
