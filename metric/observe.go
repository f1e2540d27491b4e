package metric

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/clip"
)

// Observation statuses are the root's result statuses, BitSota's:
// agora.ResultAccepted means "the replay ran and produced the metric", not
// "it beat the incumbent" (that is agora.Beats' question);
// agora.ResultRejected means the benchmark itself refused the submission by
// printing "validator_rejection=<reason>" (a policy failure such as a
// quality floor); agora.ResultError means the replay did not produce a
// usable metric for any other reason (crash, non-zero exit, missing or
// malformed metric).

// Observation is what a validator observed in one replay.
type Observation struct {
	// Status is agora.ResultAccepted, ResultRejected or ResultError.
	Status string `json:"status"`
	// Metrics holds the primary and, if declared, the secondary metric; it
	// is set only when Status is agora.ResultAccepted.
	Metrics map[string]float64 `json:"observed_metrics,omitempty"`
	// Sources says where each metric was found, for the replay log.
	Sources map[string]Source `json:"metric_sources,omitempty"`
	// Reason explains a rejection or an error in one line; empty when
	// accepted.
	Reason string `json:"reason,omitempty"`
}

// RejectionMarker is what a benchmark prints to reject a submission on
// policy grounds, e.g. "validator_rejection=quality_floor" in a SystemExit
// message.
const RejectionMarker = "validator_rejection="

// maxReasonToken bounds how much of the benchmark's rejection reason is
// copied into Observation.Reason.
const maxReasonToken = 200

// Observe turns one benchmark run into an Observation, with BitSota's rule:
//   - a non-zero exitCode, or no usable primary metric, is agora.ResultRejected if
//     output contains RejectionMarker and agora.ResultError otherwise;
//   - a declared secondary metric that is missing or unusable is agora.ResultError
//     (whatever the output says: the benchmark broke the task's contract);
//   - otherwise agora.ResultAccepted, with Metrics holding exactly the primary and
//     the declared secondary metric.
//
// resultJSON and output are as for Extract (nil: no result file). A
// contract that fails ValidateMetric yields agora.ResultError; tasks are
// validated when they are posted, so a replay spec frozen from one passes.
func Observe(spec agora.MetricContract, resultJSON []byte, output string, exitCode int) Observation {
	if err := spec.ValidateMetric(); err != nil {
		return Observation{Status: agora.ResultError, Reason: agora.ErrorMessage(err)}
	}
	if exitCode != 0 {
		return failed(fmt.Sprintf("benchmark exited with code %d", exitCode), output)
	}
	v, src, err := Extract(resultJSON, output, spec.MetricName)
	if err != nil {
		return failed(agora.ErrorMessage(err), output)
	}
	obs := Observation{
		Status:  agora.ResultAccepted,
		Metrics: map[string]float64{spec.MetricName: v},
		Sources: map[string]Source{spec.MetricName: src},
	}
	if spec.SecondaryMetricName != "" {
		v, src, err := Extract(resultJSON, output, spec.SecondaryMetricName)
		if err != nil {
			return Observation{Status: agora.ResultError, Reason: "secondary metric: " + agora.ErrorMessage(err)}
		}
		obs.Metrics[spec.SecondaryMetricName] = v
		obs.Sources[spec.SecondaryMetricName] = src
	}
	return obs
}

// failed is the Observation of a run without a usable primary metric.
func failed(reason, output string) Observation {
	i := strings.LastIndex(output, RejectionMarker)
	if i < 0 {
		return Observation{Status: agora.ResultError, Reason: reason}
	}
	return Observation{Status: agora.ResultRejected, Reason: rejectionToken(output[i:]) + " (" + reason + ")"}
}

// rejectionToken returns "validator_rejection=<reason>" from the start of s,
// cut at the first space or control character and at maxReasonToken bytes,
// so that hostile output cannot fill the stored reason.
func rejectionToken(s string) string {
	s = strings.ToValidUTF8(clip.String(s, maxReasonToken), "")
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }); i >= 0 {
		s = s[:i]
	}
	return s
}
