package metric_test

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/metric"
)

func TestExtract(t *testing.T) {
	const m = "heldout_ppl"
	for _, tt := range []struct {
		name   string
		result string // "" means no file (nil)
		output string
		want   float64
		src    metric.Source
	}{
		// Result file, in BitSota's lookup order.
		{"MetricValueWins", `{"metric_name":"heldout_ppl","metric_value":3.5,"metrics":{"heldout_ppl":9},"heldout_ppl":8}`, "heldout_ppl=7", 3.5, metric.SourceMetricValue},
		{"MetricsBeatsTopLevel", `{"metrics":{"heldout_ppl":9},"heldout_ppl":8}`, "", 9, metric.SourceMetrics},
		{"TopLevelKey", `{"heldout_ppl":8}`, "", 8, metric.SourceResultKey},
		{"OtherMetricNameFallsThrough", `{"metric_name":"other","metric_value":1,"heldout_ppl":8}`, "", 8, metric.SourceResultKey},
		{"MetricNameWithoutValueFallsThrough", `{"metric_name":"heldout_ppl","metrics":{"heldout_ppl":9}}`, "", 9, metric.SourceMetrics},
		{"NonStringMetricNameIgnored", `{"metric_name":5,"metric_value":1,"heldout_ppl":8}`, "", 8, metric.SourceResultKey},
		{"MetricsNotObjectIgnored", `{"metrics":[1,2],"heldout_ppl":8}`, "", 8, metric.SourceResultKey},
		{"JSONIsCaseSensitive", `{"HELDOUT_PPL":1}`, "heldout_ppl=2", 2, metric.SourceOutput},
		{"DuplicateKeyLastWins", `{"heldout_ppl":1,"heldout_ppl":2}`, "", 2, metric.SourceResultKey},
		{"IntegerAndExponent", `{"metrics":{"heldout_ppl":-12e-1}}`, "", -1.2, metric.SourceMetrics},
		{"PythonNaNElsewhereTolerated", `{"metrics":{"heldout_ppl":2.5,"other":NaN,"x":-Infinity},"note":"NaN stays text"}`, "", 2.5, metric.SourceMetrics},
		{"FileWithoutMetricFallsBackToOutput", `{"metrics":{"acc":1}}`, "heldout_ppl: 4.25", 4.25, metric.SourceOutput},

		// Output only.
		{"OutputEquals", "", "heldout_ppl=3.25\n", 3.25, metric.SourceOutput},
		{"OutputColonSpaces", "", "heldout_ppl \t:  3", 3, metric.SourceOutput},
		{"OutputCaseInsensitive", "", "HeldOut_PPL=6", 6, metric.SourceOutput},
		{"OutputLastMatchWins", "", "heldout_ppl=1\nstep\nheldout_ppl=2\nheldout_ppl = 3e2\nend", 300, metric.SourceOutput},
		{"OutputSignAndExponent", "", "heldout_ppl=+1.5E+3", 1500, metric.SourceOutput},
		{"OutputNegative", "", "heldout_ppl=-0.5", -0.5, metric.SourceOutput},
		{"OutputSpansNewline", "", "heldout_ppl\n=\n7", 7, metric.SourceOutput},
		{"OutputWordBoundaryBefore", "", "heldout_ppl=1 xheldout_ppl=2", 1, metric.SourceOutput},
		{"OutputWordBoundaryAfter", "", "heldout_ppl=1 heldout_ppl2=2 heldout_ppl_x=3", 1, metric.SourceOutput},
		{"OutputNonWordNeighboursOK", "", "[heldout_ppl=1] (heldout_ppl:2)", 2, metric.SourceOutput},
		{"OutputNumberPrefixOnly", "", "heldout_ppl=1.5.6", 1.5, metric.SourceOutput},
		{"OutputTrailingDotIgnored", "", "heldout_ppl=2.", 2, metric.SourceOutput},
		{"OutputJoinedMatchNeedsBoundary", "", "heldout_ppl=1e5heldout_ppl=2", 1e5, metric.SourceOutput},
		{"OutputRejectedSeparatorSkipped", "", "heldout_ppl=1 heldout_ppl -> 5", 1, metric.SourceOutput},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var file []byte
			if tt.result != "" {
				file = []byte(tt.result)
			}
			got, src, err := metric.Extract(file, tt.output, m)
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if math.Abs(got-tt.want) > 1e-12 || src != tt.src {
				t.Errorf("Extract=%v, %q; want %v, %q", got, src, tt.want, tt.src)
			}
		})
	}
}

func TestExtractErrors(t *testing.T) {
	const m = "heldout_ppl"
	for _, tt := range []struct {
		name   string
		result []byte
		output string
		metric string
		code   string
		msg    string // substring of the user-facing message
	}{
		{"ErrInvalidName", nil, "x=1", "a b", agora.EINVALID, "metric name"},
		{"ErrNotFoundNoFile", nil, "accuracy=1\nheldout_ppl is nice\nheldout_ppl=abc", m, agora.ENOTFOUND, `metric "heldout_ppl" not found: no result file`},
		{"ErrNotFoundInFileOrOutput", []byte(`{"metrics":{}}`), "", m, agora.ENOTFOUND, "not in the result file"},
		{"ErrTooLarge", []byte(`{"x":"` + strings.Repeat("a", metric.MaxResultBytes) + `"}`), "heldout_ppl=1", m, agora.ETOOLARGE, "larger than 10 MiB"},
		{"ErrEmptyFile", []byte{}, "heldout_ppl=1", m, agora.EINVALID, "not a JSON object"},
		{"ErrNotObject", []byte(`[{"heldout_ppl":1}]`), "heldout_ppl=1", m, agora.EINVALID, "not a JSON object"},
		{"ErrNullDocument", []byte(`null`), "heldout_ppl=1", m, agora.EINVALID, "not a JSON object"},
		{"ErrMalformed", []byte(`{"heldout_ppl":1`), "heldout_ppl=1", m, agora.EINVALID, "not valid JSON"},
		{"ErrTrailingGarbage", []byte(`{"heldout_ppl":1} x`), "heldout_ppl=1", m, agora.EINVALID, "not valid JSON"},
		{"ErrString", []byte(`{"heldout_ppl":"1.5"}`), "heldout_ppl=1", m, agora.EINVALID, `top-level "heldout_ppl" is a string`},
		{"ErrBool", []byte(`{"metrics":{"heldout_ppl":true}}`), "heldout_ppl=1", m, agora.EINVALID, "is a boolean"},
		{"ErrNull", []byte(`{"metric_name":"heldout_ppl","metric_value":null}`), "heldout_ppl=1", m, agora.EINVALID, `"metric_value" is null`},
		{"ErrObject", []byte(`{"heldout_ppl":{"v":1}}`), "", m, agora.EINVALID, "object or array"},
		{"ErrPythonNaN", []byte(`{"heldout_ppl":NaN}`), "heldout_ppl=1", m, agora.EINVALID, "is NaN"},
		{"ErrPythonInfinity", []byte(`{"metrics":{"heldout_ppl":-Infinity}}`), "", m, agora.EINVALID, "is -Infinity"},
		{"ErrOutOfRange", []byte(`{"heldout_ppl":1e400}`), "", m, agora.EINVALID, "not a finite float64"},
		{"ErrOutputOutOfRange", nil, "heldout_ppl=1\nheldout_ppl=9e999", m, agora.EINVALID, "not a finite float64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, src, err := metric.Extract(tt.result, tt.output, tt.metric)
			if err == nil {
				t.Fatalf("Extract=%v, %q; want error", v, src)
			}
			if got := agora.ErrorCode(err); got != tt.code {
				t.Errorf("code=%s, want %s (%v)", got, tt.code, err)
			}
			if got := agora.ErrorMessage(err); !strings.Contains(got, tt.msg) {
				t.Errorf("message=%q, want it to contain %q", got, tt.msg)
			}
			if tt.metric == m && !strings.Contains(agora.ErrorMessage(err), `"heldout_ppl"`) {
				t.Errorf("message=%q does not name the metric", agora.ErrorMessage(err))
			}
		})
	}
}

func TestExtractOutputScanCap(t *testing.T) {
	// A match before the scanned tail is not seen; one inside it is.
	pad := strings.Repeat("x", metric.MaxOutputScan)
	if _, _, err := metric.Extract(nil, "acc=1\n"+pad, "acc"); agora.ErrorCode(err) != agora.ENOTFOUND {
		t.Errorf("match before the cap: err=%v, want ENOTFOUND", err)
	}
	if v, _, err := metric.Extract(nil, "acc=1\n"+pad[:len(pad)-10]+" acc=2", "acc"); err != nil || v != 2 {
		t.Errorf("match inside the cap: %v, %v; want 2", v, err)
	}
	// The cut lands inside a word: "xacc=3" must not match as "acc=3".
	out := strings.Repeat("y", 10) + "xacc=3" + strings.Repeat(" ", metric.MaxOutputScan-len("acc=3"))
	if _, _, err := metric.Extract(nil, out, "acc"); agora.ErrorCode(err) != agora.ENOTFOUND {
		t.Errorf("cut inside a word: err=%v, want ENOTFOUND", err)
	}
}

// reference is BitSota's output rule written the obvious way (FindAll over
// the whole text), as an oracle for Extract's incremental scan.
func reference(output, name string) (string, bool) {
	re := regexp.MustCompile(`(?im)\b` + regexp.QuoteMeta(name) + `\b\s*[:=]\s*([-+]?\d+(\.\d+)?([eE][-+]?\d+)?)`)
	all := re.FindAllStringSubmatch(output, -1)
	if len(all) == 0 {
		return "", false
	}
	return all[len(all)-1][1], true
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte(nil), "heldout_ppl=3.5\n", "heldout_ppl")
	f.Add([]byte(`{"metric_name":"acc","metric_value":0.9}`), "", "acc")
	f.Add([]byte(`{"metrics":{"acc":NaN}}`), "acc=1", "acc")
	f.Add([]byte(`{"acc":"1"}`), "acc: -1e5 acc=2", "acc")
	f.Add([]byte(nil), "xacc=1 acc=2acc=3 ACC = 4", "acc")
	f.Add([]byte(nil), "a.b=1 aXb=2", "a.b")
	f.Add([]byte(`{"k":"\u0000python:NaN"}`), "", "k")
	f.Fuzz(func(t *testing.T, result []byte, output, name string) {
		if len(result) == 0 {
			result = nil // exercise the "no file" path too
		}
		v, src, err := metric.Extract(result, output, name)
		v2, src2, err2 := metric.Extract(result, output, name)
		if math.Float64bits(v) != math.Float64bits(v2) || src != src2 || agora.ErrorMessage(err) != agora.ErrorMessage(err2) {
			t.Fatalf("not deterministic: (%v, %q, %v) then (%v, %q, %v)", v, src, err, v2, src2, err2)
		}
		if err != nil {
			if agora.ErrorCode(err) == agora.EINTERNAL {
				t.Fatalf("error is not an agora.Error: %v", err)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("Extract returned non-finite %v", v)
		}
		// With no result file, the incremental scan must agree with FindAll.
		if result == nil {
			want, ok := reference(output, name)
			if !ok || src != metric.SourceOutput {
				t.Fatalf("Extract=%v from %q; reference found nothing", v, src)
			}
			if w, _ := strconv.ParseFloat(want, 64); w != v {
				t.Fatalf("Extract=%v, reference last match %q", v, want)
			}
		}
	})
}

// FuzzExtractOutputOracle checks the no-file path against the FindAll oracle
// in both directions (Extract found nothing iff the oracle found nothing).
func FuzzExtractOutputOracle(f *testing.F) {
	f.Add("acc=1 xacc=2", "acc")
	f.Add("aacc=1", "acc")
	f.Add("acc=1e5acc=2", "acc")
	f.Add("xſcore=1 ſcore=2 SCORE:3", "score") // LONG S folds to 's'; Go's \b sees it as a non-word rune
	f.Add("\u212a=1 k=2", "k")                 // KELVIN SIGN folds to 'k'
	f.Add("loss\xff=1 loss\xc5=2", "loss")     // invalid UTF-8 around the name
	f.Fuzz(func(t *testing.T, output, name string) {
		if agora.ValidateMetricName(name) != nil {
			// Most fuzzed names are invalid; test a fixed one instead,
			// including names with 'k' and 's', whose fold sets are not ASCII.
			names := []string{"acc", "loss", "k", "score", "a.b", "_x1", "ppl"}
			name = names[len(name)%len(names)]
		}
		v, _, err := metric.Extract(nil, output, name)
		want, ok := reference(output, name)
		switch {
		case !ok && agora.ErrorCode(err) != agora.ENOTFOUND:
			t.Fatalf("Extract=%v, %v; oracle found no match", v, err)
		case ok && err == nil:
			if w, _ := strconv.ParseFloat(want, 64); w != v {
				t.Fatalf("Extract=%v, oracle last match %q", v, want)
			}
		case ok && agora.ErrorCode(err) != agora.EINVALID:
			t.Fatalf("Extract error %v; oracle last match %q", err, want)
		}
	})
}

func BenchmarkExtract4MiB(b *testing.B) {
	b.Run("SparseMatches", func(b *testing.B) { benchmarkExtract(b, "heldout_ppl") })
	b.Run("MatchEveryLine", func(b *testing.B) { benchmarkExtract(b, "loss") })
	b.Run("NoMatch", func(b *testing.B) { benchmarkExtract(b, "absent_metric") })
}

// benchmarkExtract scans a 4 MiB training log for name.
func benchmarkExtract(b *testing.B, name string) {
	var sb strings.Builder
	for i := 0; sb.Len() < 4<<20; i++ {
		sb.WriteString("step ")
		sb.WriteString(strconv.Itoa(i))
		sb.WriteString(" loss=0.")
		sb.WriteString(strconv.Itoa(i % 9973))
		sb.WriteString(" lr=3e-4 tokens/s=12345.6\n")
		if i%10000 == 0 {
			sb.WriteString("eval heldout_ppl=3.14\n")
		}
	}
	output := sb.String()
	b.SetBytes(int64(len(output)))
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = metric.Extract(nil, output, name)
	}
}
