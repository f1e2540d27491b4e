package metric_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/metric"
)

func TestObserve(t *testing.T) {
	scalar := agora.MetricContract{MetricName: "ppl", MetricDirection: agora.Minimize}
	pareto := agora.MetricContract{MetricName: "ppl", MetricDirection: agora.Minimize, RankingMode: agora.RankingPareto,
		SecondaryMetricName: "size", SecondaryMetricDirection: agora.Minimize, ResultPath: "r.json"}
	for _, tt := range []struct {
		name    string
		spec    agora.MetricContract
		result  string // "" means no file
		output  string
		exit    int
		status  string
		metrics map[string]float64
		reason  string // substring of Reason
	}{
		{"AcceptedFromOutput", scalar, "", "ppl=3.5\n", 0, agora.ResultAccepted, map[string]float64{"ppl": 3.5}, ""},
		{"AcceptedReportsOnlyDeclaredMetrics", scalar, `{"metrics":{"ppl":3,"size":9,"other":1}}`, "", 0, agora.ResultAccepted, map[string]float64{"ppl": 3}, ""},
		{"AcceptedPareto", pareto, `{"metric_name":"ppl","metric_value":3,"metrics":{"size":9}}`, "", 0, agora.ResultAccepted, map[string]float64{"ppl": 3, "size": 9}, ""},
		{"AcceptedIgnoresRejectionMarkerWhenMetricFound", scalar, "", "validator_rejection=ignored\nppl=2", 0, agora.ResultAccepted, map[string]float64{"ppl": 2}, ""},
		{"ErrorOnNonZeroExit", scalar, "", "ppl=3.5\nTraceback ...", 1, agora.ResultError, nil, "exited with code 1"},
		{"ErrorOnKill", scalar, "", "ppl=3.5", -1, agora.ResultError, nil, "exited with code -1"},
		{"RejectedOnNonZeroExitWithMarker", scalar, "", "ppl=9\nSystemExit: validator_rejection=quality_floor ppl 9 > 5\n", 1, agora.ResultRejected, nil, "validator_rejection=quality_floor (benchmark exited with code 1)"},
		{"RejectedOnMissingMetricWithMarker", scalar, "", "validator_rejection=artifact_size\n", 0, agora.ResultRejected, nil, `validator_rejection=artifact_size (metric "ppl" not found`},
		{"RejectedUsesLastMarker", scalar, "", "validator_rejection=a\nvalidator_rejection=b", 2, agora.ResultRejected, nil, "validator_rejection=b ("},
		{"RejectedReasonIsBounded", scalar, "", "validator_rejection=" + strings.Repeat("x", 10000) + "\x00tail", 3, agora.ResultRejected, nil, "validator_rejection=xxx"},
		{"ErrorOnMissingMetric", scalar, "", "accuracy=1", 0, agora.ResultError, nil, `metric "ppl" not found`},
		{"ErrorOnMalformedResultFile", scalar, `{"ppl":"3"}`, "ppl=3", 0, agora.ResultError, nil, "is a string"},
		{"ErrorOnMissingSecondary", pareto, `{"ppl":3}`, "", 0, agora.ResultError, nil, `secondary metric: metric "size" not found`},
		{"ErrorOnMissingSecondaryEvenWithMarker", pareto, `{"ppl":3}`, "validator_rejection=size", 0, agora.ResultError, nil, "secondary metric"},
		{"ErrorOnInvalidSpec", agora.MetricContract{MetricName: "ppl"}, "", "ppl=1", 0, agora.ResultError, nil, "metric_direction"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var file []byte
			if tt.result != "" {
				file = []byte(tt.result)
			}
			got := metric.Observe(tt.spec, file, tt.output, tt.exit)
			if got.Status != tt.status {
				t.Errorf("Status=%q, want %q (reason %q)", got.Status, tt.status, got.Reason)
			}
			if !reflect.DeepEqual(got.Metrics, tt.metrics) {
				t.Errorf("Metrics=%v, want %v", got.Metrics, tt.metrics)
			}
			if tt.reason == "" && got.Reason != "" || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("Reason=%q, want it to contain %q", got.Reason, tt.reason)
			}
			if len(got.Reason) > 1000 {
				t.Errorf("Reason is %d bytes long", len(got.Reason))
			}
			for name := range got.Metrics {
				if got.Sources[name] == "" {
					t.Errorf("Sources[%q] is empty", name)
				}
			}
		})
	}
}
