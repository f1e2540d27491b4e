package logparse_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agoranet/agora/logparse"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.golden from the parsers' output")

// testdataLogs returns the .log files under testdata/<rule>/ for every
// directory named after a parser; other directories hold whole SWE-bench
// logs for the marker tests.
func testdataLogs(tb testing.TB) map[string][]string {
	tb.Helper()
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string][]string)
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		if _, ok := logparse.Rule(d.Name()); !ok {
			continue
		}
		files, err := filepath.Glob(filepath.Join("testdata", d.Name(), "*.log"))
		if err != nil {
			tb.Fatal(err)
		}
		out[d.Name()] = files
	}
	return out
}

// TestGolden parses every testdata/<rule>/<case>.log with its rule and
// compares the status map, as sorted JSON, with <case>.golden. Run with
// -update to rewrite the golden files, then review the diff.
func TestGolden(t *testing.T) {
	logs := testdataLogs(t)
	for _, rule := range slices.Sorted(maps.Keys(logs)) {
		files := logs[rule]
		p, err := logparse.Lookup(rule)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Errorf("testdata/%s has no .log files", rule)
		}
		for _, file := range files {
			t.Run(rule+"/"+filepath.Base(file), func(t *testing.T) {
				log, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				// encoding/json sorts map keys, so the output is stable.
				got, err := json.MarshalIndent(p(string(log)), "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
				golden := strings.TrimSuffix(file, ".log") + ".golden"
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("status map differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
				}
			})
		}
	}
}
