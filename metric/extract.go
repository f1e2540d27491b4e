package metric

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agoranet/agora"
)

// MaxResultBytes caps the result JSON file, as BitSota's runner does (10 MiB).
// Callers reading the file should stop at MaxResultBytes+1 bytes and pass what
// they read: Extract refuses anything longer.
const MaxResultBytes = 10 << 20

// MaxOutputScan caps how much of the output Extract scans for "name=value".
// Only the last MaxOutputScan bytes are scanned: the last match wins, so the
// tail is what matters, and the cap bounds the CPU a chatty benchmark costs.
// A match that starts before the cut is not seen.
const MaxOutputScan = 16 << 20

// Source says where Extract found a metric.
type Source string

// Sources, in Extract's lookup order.
const (
	// SourceMetricValue: the result file's top-level "metric_value", because
	// its "metric_name" names the metric.
	SourceMetricValue Source = "result:metric_value"
	// SourceMetrics: the result file's "metrics" object.
	SourceMetrics Source = "result:metrics"
	// SourceResultKey: a top-level key of the result file named after the metric.
	SourceResultKey Source = "result:key"
	// SourceOutput: the last "name=value" or "name: value" in the output.
	SourceOutput Source = "output"
)

// Extract returns the value of metric name from a benchmark run.
//
// resultJSON is the content of the task's result file, or nil when there is
// none (no result_path, or the file was not produced). It is searched first,
// in BitSota's order:
//  1. top-level "metric_name" equal to name, with a top-level "metric_value";
//  2. "metrics"[name], when "metrics" is an object;
//  3. top-level key name.
//
// If there is no file, or it holds none of these, output is searched: it
// should be stdout + "\n" + stderr, with secret values already redacted. The
// LAST match of the case-insensitive pattern
//
//	\bNAME\b\s*[:=]\s*[-+]?\d+(\.\d+)?([eE][-+]?\d+)?
//
// wins (NAME regexp-quoted), even when its number overflows float64 (then
// Extract fails rather than use an earlier match). Only the last
// MaxOutputScan bytes are scanned.
//
// Choices where BitSota's Python is looser or silent:
//   - Values in the result file must be JSON numbers. Python's float() would
//     also take true, "1.5", " nan ", "1_000" or "infinity"; a string is
//     rejected here because the contract is numeric and every lenient parse
//     is a way for a benchmark to smuggle in a value a reader would not expect.
//   - A value that is present but unusable (a string, null, NaN, ±Inf, out of
//     float64 range) is an error; Extract does not fall back to the output:
//     the file declared the metric, and taking some printed number instead
//     would hide a broken contract.
//   - Python's json module writes NaN, Infinity and -Infinity as bare words.
//     Such a file is accepted (they are not valid JSON, but other fields of a
//     real file may hold them); the metric itself still must be finite.
//   - The output pattern is ASCII: \d and \b are ASCII in Go, Unicode in
//     Python, so "٣" or "émetric=1" may differ. Names are ASCII (agora.ValidateMetricName)
//     so this only matters for hostile output.
//   - A result file that is not a JSON object is an error, not "no file".
//
// Errors are *agora.Error naming the metric and where it was looked for:
// EINVALID for a bad name or value, ETOOLARGE for an oversized file,
// ENOTFOUND when the metric is nowhere.
func Extract(resultJSON []byte, output string, name string) (float64, Source, error) {
	if err := agora.ValidateMetricName(name); err != nil {
		return 0, "", err
	}
	if resultJSON != nil {
		v, src, err := fromResult(resultJSON, name)
		if err != nil || src != "" {
			return v, src, err
		}
	}
	v, ok, err := fromOutput(output, name)
	if err != nil {
		return 0, "", err
	}
	if !ok {
		where := "no result file"
		if resultJSON != nil {
			where = fmt.Sprintf(`not in the result file ("metric_name"/"metric_value", "metrics".%q or top-level %q)`, name, name)
		}
		return 0, "", agora.Errorf(agora.ENOTFOUND, "metric %q not found: %s, and no %q line in the output", name, where, name+"=<number>")
	}
	return v, SourceOutput, nil
}

// fromResult looks name up in a result file. It returns Source "" and no
// error when the file does not mention the metric.
func fromResult(data []byte, name string) (float64, Source, error) {
	if len(data) > MaxResultBytes {
		return 0, "", agora.Errorf(agora.ETOOLARGE, "metric %q: result file is larger than %d MiB", name, MaxResultBytes>>20)
	}
	var top map[string]json.RawMessage
	if err := decodeObject(data, &top); err != nil {
		return 0, "", agora.Errorf(agora.EINVALID, "metric %q: result file: %s", name, err)
	}

	var metricName string
	if raw, ok := top["metric_name"]; ok && json.Unmarshal(raw, &metricName) == nil && metricName == name {
		if raw, ok := top["metric_value"]; ok {
			v, err := number(raw)
			if err != nil {
				return 0, "", agora.Errorf(agora.EINVALID, "metric %q: result file \"metric_value\" %s", name, err)
			}
			return v, SourceMetricValue, nil
		}
	}
	var metrics map[string]json.RawMessage
	if raw, ok := top["metrics"]; ok && isObject(raw) && json.Unmarshal(raw, &metrics) == nil {
		if raw, ok := metrics[name]; ok {
			v, err := number(raw)
			if err != nil {
				return 0, "", agora.Errorf(agora.EINVALID, "metric %q: result file \"metrics\".%q %s", name, name, err)
			}
			return v, SourceMetrics, nil
		}
	}
	if raw, ok := top[name]; ok {
		v, err := number(raw)
		if err != nil {
			return 0, "", agora.Errorf(agora.EINVALID, "metric %q: result file top-level %q %s", name, name, err)
		}
		return v, SourceResultKey, nil
	}
	return 0, "", nil
}

// decodeObject decodes a JSON object, accepting the NaN/Infinity words that
// Python's json.dump writes by default.
func decodeObject(data []byte, v *map[string]json.RawMessage) error {
	if !isObject(data) {
		return errors.New("not a JSON object")
	}
	err := json.Unmarshal(data, v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		if fixed, ok := replacePythonConstants(data); ok && json.Unmarshal(fixed, v) == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	return nil
}

// isObject reports whether raw JSON starts with '{'.
func isObject(raw []byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

// pyConstPrefix marks a JSON string that replacePythonConstants made from a
// bare NaN/Infinity word. NUL cannot appear raw in a JSON string, so a file
// can only produce it through an explicit \u0000 escape, and even then the
// value is a string and rejected anyway.
const pyConstPrefix = "\x00python:"

// replacePythonConstants rewrites the bare words NaN, Infinity and -Infinity
// outside JSON strings into marker strings, so a file Python wrote with
// allow_nan=True decodes. It reports whether it replaced anything.
func replacePythonConstants(data []byte) ([]byte, bool) {
	var out []byte
	inString, escaped, changed := false, false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			out = append(out, c)
			continue
		}
		if c == '"' {
			inString = true
			out = append(out, c)
			continue
		}
		replaced := false
		for _, word := range [...]string{"NaN", "Infinity", "-Infinity"} {
			if bytes.HasPrefix(data[i:], []byte(word)) {
				out = append(out, `"\u0000python:`+word+`"`...) // JSON for pyConstPrefix+word
				i += len(word) - 1
				replaced, changed = true, true
				break
			}
		}
		if !replaced {
			out = append(out, c)
		}
	}
	return out, changed
}

// number decodes a finite JSON number. Its error completes a sentence that
// starts with the value's location.
func number(raw json.RawMessage) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, errors.New("is empty, want a JSON number")
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil && strings.HasPrefix(s, pyConstPrefix) {
			return 0, fmt.Errorf("is %s, want a finite number", strings.TrimPrefix(s, pyConstPrefix))
		}
		return 0, errors.New("is a string, want a JSON number")
	case 't', 'f':
		return 0, errors.New("is a boolean, want a JSON number")
	case 'n':
		return 0, errors.New("is null, want a JSON number")
	case '{', '[':
		return 0, errors.New("is an object or array, want a JSON number")
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, errors.New("is not a finite float64")
	}
	return v, nil
}

// numberPattern is BitSota's number, captured.
const numberPattern = `([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)`

// fromOutput returns the last "name=value" in output.
func fromOutput(output, name string) (float64, bool, error) {
	start := 0
	if len(output) > MaxOutputScan {
		start = len(output) - MaxOutputScan
	}
	numStart, numEnd := scan(output, start, name)
	if numStart < 0 {
		return 0, false, nil
	}
	text := output[numStart:numEnd]
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		// Only a range error is possible: the pattern admits decimal
		// numbers alone. The last match wins even when it is unusable.
		return 0, false, agora.Errorf(agora.EINVALID, "metric %q: last %q in the output is %.40q, which is not a finite float64", name, name+"=<number>", text)
	}
	return v, true, nil
}

// scan returns the span of the number in the last match of BitSota's
// pattern in output[start:], or -1, -1. Word boundaries are judged on the
// whole output, so a cut inside a word does not create a match.
//
// It finds the same matches as FindAll with the unanchored pattern (the
// tests check this against that oracle), but Go runs an unanchored
// case-insensitive search at about 50 MB/s. So scan looks for the bytes that
// can start the name with IndexAny, rejects most candidates by comparing
// ASCII bytes, checks \b by hand, and only then runs the pattern anchored,
// where it stops as soon as the text stops matching. Matches are found one at
// a time: FindAll would hold every match of a hostile output (millions of
// "m=1" lines) in memory.
func scan(output string, start int, name string) (int, int) {
	// Names are validated, so QuoteMeta only escapes '.'. The leading \b is
	// checked by hand below.
	re := regexp.MustCompile(`(?i)\A` + regexp.QuoteMeta(name) + `\b\s*[:=]\s*` + numberPattern)
	// Every rune (?i) folds to name[0]: "sSſ" for 's', "kKK" for 'k'.
	first := string(rune(name[0]))
	for f := unicode.SimpleFold(rune(name[0])); f != rune(name[0]); f = unicode.SimpleFold(f) {
		first += string(f)
	}
	numStart, numEnd := -1, -1
	for pos := start; pos < len(output); {
		i := strings.IndexAny(output[pos:], first)
		if i < 0 {
			break
		}
		p := pos + i
		pos = p + 1
		// \b before the name, as Go's ASCII \b sees it: the text's rune at
		// p is a word rune iff it is ASCII (ſ and K are not), and the rune
		// before is a word rune iff its last byte is an ASCII word byte.
		if (p > 0 && isWordByte(output[p-1])) == isWordByte(output[p]) {
			continue
		}
		if !mayStartWith(output[p:], name) {
			continue
		}
		if loc := re.FindStringSubmatchIndex(output[p:]); loc != nil {
			numStart, numEnd = p+loc[2], p+loc[3]
			pos = p + loc[1] // matches are never empty: the name is not
		}
	}
	return numStart, numEnd
}

// mayStartWith reports whether s may start with name under case folding. It
// is false only if an ASCII byte of s differs from name's byte at the same
// offset (ignoring ASCII case) before s has shown any non-ASCII byte; after
// one, offsets no longer line up and the pattern has to decide.
func mayStartWith(s, name string) bool {
	for i := 0; i < len(name); i++ {
		if i >= len(s) {
			return false
		}
		if s[i] >= utf8.RuneSelf {
			return true
		}
		if lowerASCII(s[i]) != lowerASCII(name[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isWordByte reports whether c is an ASCII word character, as \b sees it.
func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
