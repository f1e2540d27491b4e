package web

import (
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestShort(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"miner-a", "miner-a"},
		{"5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy", "5DAAnr…TXFy"},
		{"ääääääääääääääääää", "ääääää…ääää"}, // runes, never half a character
	} {
		if got := Short(c.in); got != c.want {
			t.Errorf("Short(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "just now"}, {5 * time.Second, "5s ago"}, {3 * time.Minute, "3m ago"},
		{5 * time.Hour, "5h ago"}, {72 * time.Hour, "3d ago"},
	} {
		if got := Ago(now.Add(-c.d), now); got != c.want {
			t.Errorf("Ago(-%s) = %q, want %q", c.d, got, c.want)
		}
	}
	if Ago(time.Time{}, now) != "never" {
		t.Error("zero time")
	}
}

// wellFormed fails unless s parses as XML: a label that broke out of its
// text node would break the document.
func wellFormed(t testing.TB, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed (%v):\n%s", err, s)
		}
	}
}

func TestCharts(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	pts := []Point{{At: t0, Y: 1.5, Label: "<script>alert(1)</script>"}, {At: t0.Add(time.Hour), Y: 0.5, Label: `" onload="x`}}
	svg := string(StepChart("Best loss over time", "loss", pts, t0.Add(2*time.Hour)))
	wellFormed(t, svg)
	for _, bad := range []string{"<script", `" onload`} {
		if strings.Contains(svg, bad) {
			t.Errorf("step chart carries %q", bad)
		}
	}
	// Two changes: a step down at the second point, held to now.
	if !strings.Contains(svg, `role="img"`) || strings.Count(svg, "<circle") != 2 || !strings.Contains(svg, "2 changes") {
		t.Errorf("step chart:\n%s", svg)
	}
	if StepChart("empty", "y", nil, t0) != "" || BarChart("empty", nil) != "" {
		t.Error("an empty series draws nothing")
	}
	bars := string(BarChart("Spend per run", []Bar{{Label: "a<b", Value: 2, Text: "$2"}, {Label: "c", Value: 0, Text: "$0"}}))
	wellFormed(t, bars)
	if strings.Count(bars, "<rect") != 2 || strings.Contains(bars, "a<b") {
		t.Errorf("bar chart:\n%s", bars)
	}
}

func TestMarkdown(t *testing.T) {
	for _, c := range []struct{ in, want, not string }{
		{"# Title", "<h3>Title</h3>", "<h1"},
		{"<script>alert(1)</script>", "raw HTML omitted", "<script"},
		{"[x](javascript:alert(1))", `<a href="">x</a>`, "javascript:"},
		{"`<b>`", "<code>&lt;b&gt;</code>", "<b>"},
		{"| a |\n|---|\n| b |", "<table>", ""},
	} {
		got := string(Markdown(c.in))
		if !strings.Contains(got, c.want) || (c.not != "" && strings.Contains(got, c.not)) {
			t.Errorf("Markdown(%q) = %q, want %q and not %q", c.in, got, c.want, c.not)
		}
	}
}

var (
	activeRE  = regexp.MustCompile(`(?i)<(script|iframe|object|embed|style|link|meta|form|img[^>]*\son)`)
	handlerRE = regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`)
	schemeRE  = regexp.MustCompile(`(?i)(href|src)="\s*(javascript|vbscript|data):`)
)

// FuzzMarkdown: whatever a task's text holds, the HTML carries no script,
// no event handler and no script URL.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"# t\n\nbody", "<script>x</script>", "[a](javascript:x)", "<img src=x onerror=y>",
		"![i](data:text/html,x)", "<a href='x' onclick='y'>", "```\n<b>\n```", "| a |\n|-|\n| <i> |", "<!-- x --><svg onload=y>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := string(Markdown(s))
		if m := activeRE.FindString(out); m != "" {
			t.Fatalf("Markdown(%q) has %q: %s", s, m, out)
		}
		if m := handlerRE.FindString(out); m != "" {
			t.Fatalf("Markdown(%q) has a handler %q: %s", s, m, out)
		}
		if m := schemeRE.FindString(out); m != "" {
			t.Fatalf("Markdown(%q) has %q: %s", s, m, out)
		}
	})
}

// FuzzChartLabels: labels are miners' hotkeys and task slugs; any of them
// leaves the SVG well-formed.
func FuzzChartLabels(f *testing.F) {
	f.Add("miner A", "calc-mean", 1.5)
	f.Add("<x>", `"'&`, -3.0)
	f.Fuzz(func(t *testing.T, a, b string, y float64) {
		t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
		wellFormed(t, string(StepChart(a, b, []Point{{At: t0, Y: y, Label: a}, {At: t0.Add(time.Minute), Y: y / 2, Label: b}}, t0.Add(time.Hour))))
		wellFormed(t, string(BarChart(b, []Bar{{Label: a, Value: y, Text: b}})))
	})
}
