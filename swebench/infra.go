package swebench

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strings"
)

// Failure tiers of SWE-bench's post-hoc infrastructure classifier
// (harness/infra_failure.py).
const (
	// TierEnvironment: the log shows something no patch to the repository
	// could plausibly cause.
	TierEnvironment = "environment"
	// TierAmbiguous: a broken environment or a bad patch could both
	// cause it, so it is never counted as an environment fault.
	TierAmbiguous = "ambiguous"
)

// infraSignatures are SWE-bench's signatures, matched in order; the first
// hit wins. Python's re.MULTILINE is Go's (?m).
var infraSignatures = []struct {
	reason, tier string
	re           *regexp.Regexp
}{
	{"browser_launch_failed", TierEnvironment, regexp.MustCompile(`(?m)Failed to launch|Failed to connect to the bus`)},
	{"display_unavailable", TierEnvironment, regexp.MustCompile(`(?m)cannot open display|Missing X server|unable to open X display`)},
	{"out_of_memory", TierEnvironment, regexp.MustCompile(`(?m)Cannot allocate memory|OutOfMemoryError|^Killed$`)},
	{"container_unavailable", TierEnvironment, regexp.MustCompile(`(?m)Error response from daemon|Cannot connect to the Docker daemon`)},
	{"network_unreachable", TierEnvironment, regexp.MustCompile(`(?m)Could not resolve host|Temporary failure in name resolution`)},
	{"missing_module", TierAmbiguous, regexp.MustCompile(`(?m)Cannot find module|MODULE_NOT_FOUND|ModuleNotFoundError`)},
	{"no_tests_collected", TierAmbiguous, regexp.MustCompile(`(?m)no tests ran|collected 0 items`)},
	{"tests_timed_out", TierAmbiguous, regexp.MustCompile(`(?m)Timeout error: \d+ seconds exceeded`)},
}

// ClassifyText returns the reason and tier of the first signature text
// matches, as SWE-bench's classify_text does; ok is false when none does.
// The classification is advisory: it moves no instance between resolved,
// unresolved and error.
func ClassifyText(text string) (reason, tier string, ok bool) {
	if text == "" {
		return "", "", false
	}
	for _, s := range infraSignatures {
		if s.re.MatchString(text) {
			return s.reason, s.tier, true
		}
	}
	return "", "", false
}

// ClassifyLogs classifies the contents of whichever of paths exist, joined
// by newlines, as SWE-bench's classify_logs does. A file that exists but
// cannot be read is an error.
func ClassifyLogs(paths ...string) (reason, tier string, ok bool, err error) {
	var chunks []string
	for _, p := range paths {
		data, rerr := os.ReadFile(p)
		if errors.Is(rerr, fs.ErrNotExist) {
			continue
		} else if rerr != nil {
			return "", "", false, rerr
		}
		chunks = append(chunks, strings.ToValidUTF8(string(data), "\uFFFD"))
	}
	reason, tier, ok = ClassifyText(strings.Join(chunks, "\n"))
	return reason, tier, ok, nil
}

// Classify sets o's FailureReason and EnvironmentFault from the instance's
// test_output.txt and run_instance.log in dir, as make_run_report does for
// every unresolved or error instance. A resolved outcome is left alone.
func (o *Outcome) Classify(dir string) error {
	if o.HasReport && o.Valid && o.Resolved {
		return nil
	}
	reason, tier, ok, err := ClassifyLogs(dir+"/"+LogTestOutput, dir+"/"+LogInstance)
	if err != nil || !ok {
		return err
	}
	o.FailureReason, o.EnvironmentFault = reason, tier == TierEnvironment
	return nil
}
