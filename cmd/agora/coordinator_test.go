package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/chain/chaintest"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

// TestMain lets tests run this binary as the real agora program: with
// AGORA_TEST_MAIN=1 it is main().
func TestMain(m *testing.M) {
	if os.Getenv("AGORA_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// agoraProcess is the agora binary running as a separate process.
type agoraProcess struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startAgora(t *testing.T, args ...string) *agoraProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "AGORA_TEST_MAIN=1")
	p := &agoraProcess{cmd: cmd, out: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: p.out}, &lockedWriter{w: p.out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("agora %v output:\n%s", args, p.out.String())
		}
	})
	return p
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("coordinator at %s not ready after 20 s", url)
}

func devKey(t *testing.T, uri string) *hotkey.Signer {
	s, err := hotkey.FromURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCoordinatorSurvivesSIGKILL kills the coordinator with SIGKILL in the
// middle of a stream of signed submissions and restarts it on the same
// database: every acknowledged submission is there, retrying one returns
// the same record, and jobs leased before the kill are back in the queue
// once their lease runs out.
func TestCoordinatorSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the coordinator as a process")
	}
	for _, dialect := range testingutil.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			dsn := testingutil.DSN(t, dialect)
			owner, validator, miner := devKey(t, "//Alice"), devKey(t, "//Bob"), devKey(t, "//Dave")
			addr := freeAddr(t)
			url := "http://" + addr
			args := []string{"coordinator", "--listen", addr, "--db", dsn, "--data-dir", t.TempDir(), "--key-uri", "//Coordinator",
				"--owner", owner.Address(), "--validator", validator.Address(), "--rate", "100000", "--burst", "100000"}
			p := startAgora(t, args...)
			waitReady(t, url)

			own, val := agorahttp.NewClient(url, owner), agorahttp.NewClient(url, validator)
			task, err := own.CreateTask(ctx, testingutil.SWETask("calc-add"))
			if err != nil {
				t.Fatal(err)
			}
			// Three jobs leased for 3 s before the crash; one finished.
			var pre []string
			for i := 0; i < 3; i++ {
				s, err := agorahttp.NewClient(url, miner).Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: fmt.Sprintf("pre %d", i)})
				if err != nil {
					t.Fatal(err)
				}
				pre = append(pre, s.ID)
			}
			leases, err := val.LeaseJobs(ctx, agora.LeaseRequest{Max: 3, TTL: 3 * time.Second})
			if err != nil || len(leases) != 3 {
				t.Fatalf("lease: %v %d", err, len(leases))
			}
			if _, _, err := val.RecordResult(ctx, &agora.Result{JobID: leases[0].Job.ID, Status: agora.ResultAccepted}, nil); err != nil {
				t.Fatal(err)
			}

			// Four miners stream submissions; the coordinator dies mid-stream.
			var mu sync.Mutex
			acked := map[string]string{} // client key -> id
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					c := agorahttp.NewClient(url, devKey(t, fmt.Sprintf("//Miner%d", w)))
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						key := fmt.Sprintf("w%d-%d", w, i)
						s, err := c.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: "patch " + key, ClientKey: key})
						if err != nil {
							if agora.ErrorCode(err) == agora.EUNAVAILABLE {
								return // the coordinator is gone
							}
							t.Errorf("submit %s: %v", key, err)
							return
						}
						mu.Lock()
						acked[key] = s.ID
						mu.Unlock()
					}
				}(w)
			}
			time.Sleep(700 * time.Millisecond)
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.cmd.Wait()
			close(stop)
			wg.Wait()
			if len(acked) < 10 {
				t.Fatalf("only %d submissions acknowledged before the kill: the test did not exercise a stream", len(acked))
			}
			t.Logf("%d submissions acknowledged before SIGKILL", len(acked))

			startAgora(t, args...)
			waitReady(t, url)
			anon := agorahttp.NewClient(url, nil)
			for key, id := range acked {
				s, err := anon.Submission(ctx, id)
				if err != nil || s.ID != id {
					t.Fatalf("acknowledged submission %s (%s) lost: %v", id, key, err)
				}
			}
			// A retry of an acknowledged submission returns the same one.
			for key, id := range acked {
				var w int
				fmt.Sscanf(key, "w%d-", &w)
				s, err := agorahttp.NewClient(url, devKey(t, fmt.Sprintf("//Miner%d", w))).Submit(ctx,
					agorahttp.SubmitRequest{TaskID: task.ID, Patch: "patch " + key, ClientKey: key})
				if err != nil || s.ID != id {
					t.Fatalf("retry of %s: %v, id %s want %s", key, err, s.ID, id)
				}
				break
			}
			// The finished job kept its result; the two others are leased
			// again once their 3 s ran out, ahead of newer jobs.
			done, _ := anon.Submission(ctx, leases[0].Submission.ID)
			if done.Status != agora.SubmissionAccepted {
				t.Fatalf("finished job's verdict lost: %s", done.Status)
			}
			held := map[string]bool{leases[1].Job.ID: true, leases[2].Job.ID: true}
			if again, _ := val.LeaseJobs(ctx, agora.LeaseRequest{Max: 32, TTL: time.Minute}); len(again) > 0 {
				for _, l := range again {
					if held[l.Job.ID] {
						t.Fatalf("job %s leased again before its lease ran out", l.Job.ID)
					}
				}
			}
			time.Sleep(3 * time.Second)
			got := map[string]bool{}
			for {
				again, err := val.LeaseJobs(ctx, agora.LeaseRequest{Max: 32, TTL: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				if len(again) == 0 {
					break
				}
				for _, l := range again {
					got[l.Job.ID] = true
				}
			}
			for id := range held {
				if !got[id] {
					t.Fatalf("job %s leased before the crash did not come back to the queue", id)
				}
			}
		})
	}
}

func TestCoordinatorFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"BadOwner", []string{"--owner", "not-an-address"}, "--owner"},
		{"BadValidator", []string{"--validator", "5Grwva"}, "--validator"},
		{"LeaseTTL", []string{"--lease-ttl", "10ms"}, "--lease-ttl"},
		{"Attempts", []string{"--max-attempts", "0"}, "--max-attempts"},
		{"Stray", []string{"extra"}, "unexpected argument"},
		{"RewardPolicy", []string{"--reward-policy", "c1:lottery:5"}, "--reward-policy"},
		{"RewardBudget", []string{"--reward-policy", "c1:proportional:lots"}, "budget"},
		{"EpochWithoutPolicy", []string{"--epoch-every", "1h"}, "--reward-policy"},
		{"WeightWithoutBudget", []string{"--reward-policy", "c1:proportional:w=2"}, "--epoch-budget"},
		{"BadWeight", []string{"--epoch-budget", "9", "--reward-policy", "c1:proportional:w=-1"}, "weight"},
		{"SharesNotOne", []string{"--weight-target", "uid:0=0.5", "--weight-target", "miners=0.4"}, "shares sum to 0.9"},
		{"BadTarget", []string{"--weight-target", "validators=1"}, "--weight-target"},
		{"ClaimLeaf", []string{"--claim-leaf", "string,uint256"}, "--claim-leaf"},
		{"DatasetMaxAge", []string{"--dataset-max-age", "10ms"}, "--dataset-max-age: at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := (&CoordinatorCommand{Stdout: &stderr, Stderr: &stderr}).ParseFlags(tc.args)
			if err == nil || !strings.Contains(message(err), tc.want) {
				t.Fatalf("error %v does not name %q", err, tc.want)
			}
		})
	}
	t.Run("Defaults", func(t *testing.T) {
		c := &CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard}
		if err := c.ParseFlags(nil); err != nil {
			t.Fatal(err)
		}
		if c.Listen != DefaultCoordinatorListen || c.LeaseTTL != agora.DefaultLeaseTTL {
			t.Fatalf("defaults: %+v", c)
		}
	})
	t.Run("Weighted", func(t *testing.T) {
		c := &CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard}
		err := c.ParseFlags([]string{"--epoch-budget", "1000", "--reward-policy", "c1:proportional:w=2:carry", "--reward-policy", "c2:winner_takes_all:50",
			"--weight-target", "uid:0=0.5", "--weight-target", "miners=0.5", "--claim-leaf", "address,uint256"})
		if err != nil {
			t.Fatal(err)
		}
		ps, _ := c.rewardPolicies()
		wp, _ := c.weightPolicy()
		if len(ps) != 2 || ps[0].Weight != 2 || !ps[0].CarryForward || ps[1].Budget != 50 || len(wp.Targets) != 2 {
			t.Fatalf("parsed %+v %+v", ps, wp)
		}
	})
}

// TestCoordinatorZeroConfig starts the coordinator with nothing but a data
// directory: it creates its key and database and answers.
func TestCoordinatorZeroConfig(t *testing.T) {
	dir := t.TempDir()
	c := &CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard}
	if err := c.ParseFlags([]string{"--data-dir", dir, "--listen", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := c.Signer.Address()
	waitReady(t, c.Server.URL())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"coordinator.db", "coordinator-hotkey.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	// The key persists: a restart keeps the coordinator's address.
	c2 := &CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard}
	c2.ParseFlags([]string{"--data-dir", dir, "--listen", "127.0.0.1:0"})
	if err := c2.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Signer.Address() != addr {
		t.Fatal("the coordinator's address changed across restarts")
	}
}

// TestCoordinatorChainPermits: a hotkey with a validator permit in the
// metagraph may lease jobs without being on --validator; one without may
// not, and a node going down keeps the last list.
func TestCoordinatorChainPermits(t *testing.T) {
	node := chaintest.New(t)
	bob, dave := devKey(t, "//Bob"), devKey(t, "//Dave")
	node.SetNeurons(1, []chain.NeuronInfoLite{
		{Hotkey: bob.PublicKey(), Coldkey: bob.PublicKey(), UID: 0, Netuid: 1, ValidatorPermit: true},
		{Hotkey: dave.PublicKey(), Coldkey: dave.PublicKey(), UID: 1, Netuid: 1},
	})
	c := &CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard}
	if err := c.ParseFlags([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--chain", node.URL(), "--netuid", "1", "--permits-every", "10s"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitReady(t, c.Server.URL())
	scan := func(s *hotkey.Signer) error {
		_, err := agorahttp.NewClient(c.Server.URL(), s).LeaseJobs(context.Background(), agora.LeaseRequest{})
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for scan(bob) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := scan(bob); err != nil {
		t.Fatalf("permitted validator refused: %v", err)
	}
	if err := scan(dave); agora.ErrorCode(err) != agora.EFORBIDDEN {
		t.Fatalf("a neuron without a permit leased: %v", err)
	}
	if err := (&CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard}).ParseFlags([]string{"--chain", "ftp://x"}); err == nil || !strings.Contains(message(err), "--chain") {
		t.Fatalf("bad --chain: %v", err)
	}
}
