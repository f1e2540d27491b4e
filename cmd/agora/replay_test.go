package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
)

// upCoordinator reopens the coordinator `agora up` ran on dir, so a test
// can replay its verdicts after `agora up --once` returned.
func upCoordinator(t *testing.T, dir string) *CoordinatorCommand {
	t.Helper()
	owner, _ := hotkey.FromURI(upOwnerURI)
	val, _ := hotkey.FromURI(upValidatorURI)
	coord := &CoordinatorCommand{Stdout: discard{}, Stderr: discard{}, Listen: "127.0.0.1:0", DataDir: dir,
		DB: filepath.Join(dir, "coordinator.db"), Owners: listFlag{owner.Address()}, Validators: listFlag{val.Address()},
		LeaseTTL: 2 * time.Minute, MaxAttempts: 3, Rate: 200, Burst: 400, RepoSource: agora.DefaultRepoSource}
	coord.Key.uri = upCoordinatorURI
	if err := coord.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { coord.Close() })
	return coord
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// replay runs `agora replay` and returns its output and error.
func runReplay(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), append([]string{"replay"}, args...))
	return out.String(), err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if code, ok := exitStatus(err); ok {
		return code
	}
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// TestReplayDemo runs `agora up --once`, then replays every demo verdict
// from its public replay record in a local sandbox: each agrees and each
// signature checks. Then it tampers with the database directly: a result
// whose status was changed is a bad signature, one re-signed with another
// key is a bad signature, and one re-signed by a key posing as its
// validator disagrees with the re-run (and is a bad signature once only
// the real validator is trusted).
func TestReplayDemo(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	var out strings.Builder
	if err := (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), []string{"up", "--once", "--data-dir", dir, "--listen", "127.0.0.1:0", "--timeout", "2m"}); err != nil {
		t.Fatalf("up: %v\n%s", err, out.String())
	}
	coord := upCoordinator(t, dir)
	u := coord.Server.URL()
	ctx := context.Background()
	subs, err := agorahttp.NewClient(u, nil).Submissions(ctx, url.Values{"limit": {"100"}})
	// Six bounty submissions and the league's three agent runs.
	if err != nil || len(subs.Items) != 9 {
		t.Fatalf("demo submissions: %v %d", err, len(subs.Items))
	}
	cache := filepath.Join(dir, "replay-cache")
	common := []string{"--coordinator", u, "--cache-dir", cache}
	owner := append([]string{"--key-uri", upOwnerURI}, common...)

	byWhat := map[string]*agora.Submission{}
	var agentRun *agora.Submission
	for _, s := range subs.Items {
		byWhat[strings.TrimPrefix(s.Summary, "demo: ")] = s
		if s.AgentID != "" {
			agentRun = s
		}
		// The demo owner's key reads the metric task's validator-only
		// values, so every demo verdict can be re-run.
		got, err := runReplay(t, append([]string{s.ID}, owner...)...)
		if err != nil {
			t.Fatalf("replay %s (%s): %v\n%s", s.ID, s.Summary, err, got)
		}
		if !strings.Contains(got, "verdict   "+s.Status+": agreement") || !strings.Contains(got, "signature ok; agrees") {
			t.Fatalf("replay %s (%s):\n%s", s.ID, s.Summary, got)
		}
		if s.AgentID != "" && !strings.Contains(got, "an agent run: the agent's returned patch is graded again") {
			t.Fatalf("league job %s not regraded:\n%s", s.ID, got)
		}
	}

	t.Run("PublicSpec", func(t *testing.T) {
		// Unsigned: the swe task's spec is public whole and hashes right;
		// by spec hash as well as by submission.
		s := byWhat["gold"]
		got, err := runReplay(t, append([]string{s.ReplaySpecHash}, common...)...)
		if err != nil || !strings.Contains(got, "matches its hash") {
			t.Fatalf("public replay by spec hash: %v\n%s", err, got)
		}
		// A league problem is hidden and open: its spec is withheld.
		got, err = runReplay(t, append([]string{agentRun.ID}, common...)...)
		if exitCode(err) != 1 || !strings.Contains(message(err), "withheld") {
			t.Fatalf("hidden league problem: %v\n%s", err, got)
		}
		// The metric task's spec leaves out its validator-only values.
		got, err = runReplay(t, append([]string{byWhat["fit-good"].ID}, common...)...)
		if exitCode(err) != 1 || !strings.Contains(message(err), "leaves out validator_benchmark_env") {
			t.Fatalf("elided spec: %v\n%s", err, got)
		}
	})

	db := coord.Store.SQL()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	result := func(subID string) *agora.Result {
		rs, err := coord.Store.FindResults(ctx, subID)
		if err != nil || len(rs) != 1 {
			t.Fatal(err, rs)
		}
		return rs[0]
	}

	t.Run("TamperedStatus", func(t *testing.T) {
		s := byWhat["demo-wrong"]
		r := result(s.ID)
		var body string
		if err := db.QueryRowContext(ctx, `SELECT body FROM results WHERE id = ?`, r.JobID).Scan(&body); err != nil {
			t.Fatal(err)
		}
		exec(`UPDATE results SET body = ? WHERE id = ?`, strings.Replace(body, `"status":"rejected"`, `"status":"accepted"`, 1), r.JobID)
		got, err := runReplay(t, append([]string{s.ID}, common...)...)
		if exitCode(err) != exitBadSignature || !strings.Contains(got, "BAD SIGNATURE") || !strings.Contains(got, "bad signature") {
			t.Fatalf("tampered status: exit %d (%v)\n%s", exitCode(err), err, got)
		}
	})

	t.Run("ResignedByAnotherKey", func(t *testing.T) {
		s := byWhat["demo-conftest-hack"]
		r := result(s.ID)
		forger, _ := hotkey.FromURI("//Forger")
		r.Status = agora.ResultAccepted
		// Signed by a key that is not the result's validator.
		d := r.SigningDigest(s.ReplaySpecHash)
		sig, _ := forger.Sign(d[:])
		exec(`UPDATE results SET body = replace(body, '"status":"rejected"', '"status":"accepted"'), signer = ?, signature = ? WHERE id = ?`,
			forger.Address(), hotkey.FormatSignature(sig), r.JobID)
		got, err := runReplay(t, append([]string{s.ID}, common...)...)
		if exitCode(err) != exitBadSignature || !strings.Contains(got, "is not the result's validator") {
			t.Fatalf("re-signed by another key: exit %d (%v)\n%s", exitCode(err), err, got)
		}
	})

	t.Run("ForgedValidator", func(t *testing.T) {
		// The forger rewrites the validator too and signs it all: the
		// signature checks, the re-run disagrees, and the stored verdict
		// no longer follows from the results.
		s := byWhat["gold"]
		r := result(s.ID)
		forger, _ := hotkey.FromURI("//Forger")
		val, _ := hotkey.FromURI(upValidatorURI)
		r.Validator, r.Status = forger.Address(), agora.ResultRejected
		if err := hotkey.SignResult(forger, s.ReplaySpecHash, r); err != nil {
			t.Fatal(err)
		}
		exec(`UPDATE results SET body = replace(replace(body, '"status":"accepted"', '"status":"rejected"'), ?, ?), validator = ?, signer = ?, signature = ? WHERE id = ?`,
			val.Address(), forger.Address(), forger.Address(), r.Signer, r.Signature, r.JobID)
		got, err := runReplay(t, append([]string{s.ID}, common...)...)
		if exitCode(err) != exitDisagreement || !strings.Contains(got, "status: stored rejected, replay accepted") ||
			!strings.Contains(got, "the stored verdict is accepted, but its results give rejected") {
			t.Fatalf("forged validator: exit %d (%v)\n%s", exitCode(err), err, got)
		}
		got, err = runReplay(t, append([]string{s.ID, "--trust", val.Address(), "--json"}, common...)...)
		var docs []replayJSON
		if exitCode(err) != exitBadSignature || json.Unmarshal([]byte(got[:strings.LastIndex(got, "]")+1]), &docs) != nil || len(docs) != 1 {
			t.Fatalf("forged validator, --trust --json: exit %d (%v)\n%s", exitCode(err), err, got)
		}
		if d := docs[0]; d.Outcome != "bad signature" || d.Verdict != agora.SubmissionAccepted || d.Local.Status != agora.ResultAccepted ||
			len(d.Results) != 1 || !strings.Contains(d.Results[0].Signature, "bad: signer "+forger.Address()+" is not a trusted validator") {
			t.Fatalf("--json: %+v", d)
		}
	})
}

func TestReplayFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		target string
		usage  bool
	}{
		{"TargetFirst", []string{"sub-1", "--coordinator", "http://x"}, "sub-1", false},
		{"FlagsFirst", []string{"--coordinator", "http://x", "--json", "sub-1"}, "sub-1", false},
		{"FlagsAround", []string{"--json", "sub-1", "--trust", "5abc"}, "sub-1", false},
		{"NoTarget", []string{"--coordinator", "http://x"}, "", true},
		{"TwoTargets", []string{"sub-1", "sub-2"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ReplayCommand{Stdout: discard{}, Stderr: discard{}}
			err := c.ParseFlags(tc.args)
			var u *usageError
			if tc.usage != errors.As(err, &u) {
				t.Fatalf("ParseFlags(%q) = %v, want usage error %v", tc.args, err, tc.usage)
			}
			if !tc.usage && c.Target != tc.target {
				t.Fatalf("Target = %q, want %q", c.Target, tc.target)
			}
		})
	}
}
