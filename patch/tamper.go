package patch

// Tampering findings: the static scan of a patch's non-test part for code
// that reaches into the test runner's machinery instead of fixing the bug.
// The scan is one layer of several (the harness also owns the runner's
// configuration and runs a guard with canaries); a finding names the file,
// line and rule so an owner can judge it.

// Finding is one added line that matched a tampering rule.
type Finding struct {
	// Path is the file, as the patch names it.
	Path string `json:"path"`
	// Line is the line number in the patched file (new side).
	Line int `json:"line"`
	// Rule names what matched, e.g. "runner-internals", "atexit".
	Rule string `json:"rule"`
	// Text is the added line, clipped.
	Text string `json:"text"`
}

// ScanOptions tune a scan.
type ScanOptions struct {
	// Repo is the task's repository ("owner/name"); it tells the scan
	// which packages are the repository's own (pytest's fixes edit
	// _pytest legitimately).
	Repo string
	// OwnPackages adds top-level package names that are the
	// repository's own, beyond what Repo implies.
	OwnPackages []string
}

// Tamper policies: what a finding does to a submission.
const (
	TamperReject = "reject" // refused, naming the findings
	TamperHold   = "hold"   // held for the task owner to release or reject
)

// ScanTampering returns the findings of p's non-test files, in patch order.
// NOTE: being filled in (verdict-integrity issue); the signature is fixed.
func ScanTampering(p *Patch, opt ScanOptions) []Finding {
	return nil
}
