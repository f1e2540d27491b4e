package http_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/coordinator"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/merkle"
)

func TestEpochs(t *testing.T) {
	for _, d := range testingutil.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := MustOpenServer(t, d, func(s *agorahttp.Server) {
				coordinatorOf(s).Rewards = []agora.RewardPolicy{{Competition: "c1", Mode: agora.RewardProportional, Budget: 1000}}
			})
			if status, body := raw(t, e, "GET", "/api/v1/reward-snapshot", nil, nil); status != 404 {
				t.Fatalf("snapshot before any epoch: %d %s", status, body)
			}
			scoreTwo(t, e)
			var resp agorahttp.EpochResponse
			if err := e.m1.CallJSON(ctx, "POST", "/api/v1/epochs/close", nil, &resp); agora.ErrorCode(err) != agora.EFORBIDDEN {
				t.Fatalf("a miner closed an epoch: %v", err)
			}
			if err := e.owner.CallJSON(ctx, "POST", "/api/v1/epochs/close", nil, &resp); err != nil {
				t.Fatal(err)
			}
			var snap agora.RewardSnapshot
			json.Unmarshal(resp.Snapshot, &snap)
			amounts := map[string]uint64{}
			for _, p := range snap.Payouts {
				amounts[p.Hotkey] = p.Amount
			}
			if resp.Number != 1 || amounts[e.k.m1.Address()] != 667 || amounts[e.k.m2.Address()] != 333 {
				t.Fatalf("epoch 1: %d %+v", resp.Number, snap.Payouts)
			}
			// The served snapshot is the stored bytes.
			if status, body := raw(t, e, "GET", "/api/v1/epochs/1/reward-snapshot", nil, nil); status != 200 || agora.SHA256Hex([]byte(body)) != resp.SnapshotHash {
				t.Fatalf("snapshot by epoch: %d", status)
			}
			// Epoch 2 has no new progress: nothing earned, claims stay cumulative.
			var resp2 agorahttp.EpochResponse
			if err := e.owner.CallJSON(ctx, "POST", "/api/v1/epochs/close", nil, &resp2); err != nil || resp2.Number != 2 {
				t.Fatalf("epoch 2: %v %d", err, resp2.Number)
			}
			var proof agorahttp.ProofResponse
			if err := e.anon.CallJSON(ctx, "GET", "/api/v1/epochs/2/proofs/"+e.k.m2.Address(), nil, &proof); err != nil {
				t.Fatal(err)
			}
			root, _ := merkle.ParseHash(proof.Root)
			var hs []merkle.Hash
			for _, p := range proof.Proof {
				h, _ := merkle.ParseHash(p)
				hs = append(hs, h)
			}
			pub := e.k.m2.PublicKey()
			if ok, err := merkle.VerifyValue(root, proof.Types, proof.Value, hs); !ok || err != nil || proof.Value[1] != "333" ||
				proof.Value[0] != fmt.Sprintf("0x%x", pub[:]) {
				t.Fatalf("proof does not verify: %v %+v", err, proof)
			}
			for path, code := range map[string]string{
				"/api/v1/epochs/3/proofs/" + e.k.m2.Address():       agora.ENOTFOUND, // not closed
				"/api/v1/epochs/1/proofs/" + e.k.stranger.Address(): agora.ENOTFOUND, // no claim
				"/api/v1/epochs/x/reward-snapshot":                  agora.EINVALID,
				"/api/v1/epochs/1/proofs/not-an-address":            agora.EINVALID,
			} {
				if err := e.anon.CallJSON(ctx, "GET", path, nil, nil); agora.ErrorCode(err) != code {
					t.Errorf("%s: %v, want %s", path, err, code)
				}
			}
		})
	}
}

// scoreTwo has m1 score 2.0 on a c1 metric task, then m2 halve it: gains 1
// and 0.5.
func scoreTwo(t *testing.T, e *env) {
	t.Helper()
	task := testingutil.MetricTask("bench", agora.Minimize)
	task.Competition = "c1"
	if _, err := e.owner.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	// m1 scores 2.0 first, then m2 halves it: gains 1 and 0.5.
	for _, x := range []struct {
		c *agorahttp.Client
		v float64
	}{{e.m1, 2.0}, {e.m2, 1.0}} {
		s, err := x.c.Submit(ctx, agorahttp.SubmitRequest{TaskID: "bench", Patch: fmt.Sprint(x.v)})
		if err != nil {
			t.Fatal(err)
		}
		leases, err := e.v1.LeaseJobs(ctx, agora.LeaseRequest{})
		if err != nil || len(leases) != 1 || leases[0].Submission.ID != s.ID {
			t.Fatalf("lease: %v %v", err, leases)
		}
		if _, _, err := e.v1.RecordResult(ctx, &agora.Result{JobID: leases[0].Job.ID, Status: agora.ResultAccepted, ObservedMetrics: map[string]float64{"loss": x.v}}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEpochClaimLeafAndMultiProof(t *testing.T) {
	wp := &agora.WeightPolicy{}
	for _, s := range []string{"uid:0=0.25", "miners=0.75"} {
		wt, _ := agora.ParseWeightTarget(s)
		wp.Targets = append(wp.Targets, wt)
	}
	e := MustOpenServer(t, "sqlite", func(s *agorahttp.Server) {
		c := coordinatorOf(s)
		c.Rewards = []agora.RewardPolicy{{Competition: "c1", Mode: agora.RewardProportional, Weight: 1}, {Competition: "c2", Mode: agora.RewardWinnerTakesAll, Weight: 1}}
		c.EpochBudget = 3000
		c.WeightPolicy = wp
		c.ClaimLeaf = coordinator.ClaimLeafAddress
	})
	scoreTwo(t, e)
	var resp agorahttp.EpochResponse
	if err := e.owner.CallJSON(ctx, "POST", "/api/v1/epochs/close", nil, &resp); err != nil {
		t.Fatal(err)
	}
	var snap agora.RewardSnapshot
	json.Unmarshal(resp.Snapshot, &snap)
	// c1 gets half of 3000 (c2 has nobody to pay), shared 2:1.
	if snap.Budget != 3000 || snap.WeightPolicy == nil || len(snap.WeightPolicy.Targets) != 2 || len(snap.Payouts) != 2 ||
		snap.Payouts[0].Amount+snap.Payouts[1].Amount != 1500 {
		t.Fatalf("snapshot: %s", resp.Snapshot)
	}
	var resp2 agorahttp.EpochResponse
	if err := e.owner.CallJSON(ctx, "POST", "/api/v1/epochs/close", nil, &resp2); err != nil {
		t.Fatal(err)
	}
	reproduce(t, e, 1)
	reproduce(t, e, 2)
	var one agorahttp.ProofResponse
	if err := e.anon.CallJSON(ctx, "GET", "/api/v1/epochs/1/proofs/"+e.k.m1.Address(), nil, &one); err != nil {
		t.Fatal(err)
	}
	pub := e.k.m1.PublicKey()
	if one.Types[0] != "address" || one.Value[0] != fmt.Sprintf("0x%x", pub[:20]) || one.Value[1] != "1000" {
		t.Fatalf("address leaf: %+v", one)
	}
	var mp agorahttp.MultiProofResponse
	path := "/api/v1/epochs/1/multiproof?hotkey=" + e.k.m1.Address() + "&hotkey=" + e.k.m2.Address()
	if err := e.anon.CallJSON(ctx, "GET", path, nil, &mp); err != nil {
		t.Fatal(err)
	}
	root, _ := merkle.ParseHash(mp.Root)
	m := merkle.MultiProof{Leaves: mp.Leaves, ProofFlags: mp.ProofFlags}
	for _, p := range mp.Proof {
		h, _ := merkle.ParseHash(p)
		m.Proof = append(m.Proof, h)
	}
	if ok, err := merkle.VerifyMultiProofValues(root, mp.Types, m); !ok || err != nil || len(mp.Leaves) != 2 {
		t.Fatalf("multiproof does not verify: %v %+v", err, mp)
	}
	// A tampered amount no longer verifies.
	m.Leaves[0] = []string{m.Leaves[0][0], "999999"}
	if ok, _ := merkle.VerifyMultiProofValues(root, mp.Types, m); ok {
		t.Fatal("tampered multiproof verifies")
	}
	for path, code := range map[string]string{
		"/api/v1/epochs/1/multiproof": agora.EINVALID,
		"/api/v1/epochs/1/multiproof?hotkey=" + e.k.m1.Address() + "&hotkey=" + e.k.m1.Address():       agora.EINVALID,
		"/api/v1/epochs/1/multiproof?hotkey=" + e.k.m1.Address() + "&hotkey=" + e.k.stranger.Address(): agora.ENOTFOUND,
		"/api/v1/epochs/1/multiproof?hotkey=nope":                                                      agora.EINVALID,
		"/api/v1/epochs/3/multiproof?hotkey=" + e.k.m1.Address():                                       agora.ENOTFOUND,
	} {
		if err := e.anon.CallJSON(ctx, "GET", path, nil, nil); agora.ErrorCode(err) != code {
			t.Errorf("%s: %v, want %s", path, err, code)
		}
	}
}

// reproduce recomputes epoch n from what it stored — its snapshot's
// inputs and the previous snapshot — and checks the snapshot bytes, the
// claim tree's root and every proof come out the same.
func reproduce(t *testing.T, e *env, n int) {
	t.Helper()
	get := func(n int) (agora.RewardSnapshot, []byte) {
		var b []byte
		if err := e.anon.CallJSON(ctx, "GET", fmt.Sprintf("/api/v1/epochs/%d/reward-snapshot", n), nil, &b); err != nil {
			t.Fatal(err)
		}
		var s agora.RewardSnapshot
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s, b
	}
	snap, stored := get(n)
	in := agora.EpochInput{Epoch: snap.Epoch, From: snap.From, To: snap.To, Budget: snap.Budget, WeightPolicy: snap.WeightPolicy,
		Crownings: map[string][]agora.Crowning{}}
	for _, c := range snap.Competitions {
		in.Policies = append(in.Policies, c.Policy)
		in.Crownings[c.Policy.Competition] = c.Crownings
	}
	if n > 1 {
		prev, _ := get(n - 1)
		in.Previous = &prev
	}
	again, err := agora.ComputeSnapshot(in)
	if err != nil {
		t.Fatal(err)
	}
	if b, _, _ := again.Encode(); string(b) != string(stored) {
		t.Fatalf("epoch %d does not reproduce:\n%s\n%s", n, b, stored)
	}
	var dump []byte
	if err := e.anon.CallJSON(ctx, "GET", fmt.Sprintf("/api/v1/epochs/%d/merkle.json", n), nil, &dump); err != nil {
		t.Fatal(err)
	}
	tree, err := merkle.Load(dump)
	if err != nil {
		t.Fatal(err)
	}
	var values [][]string
	for _, p := range again.Payouts {
		pub, _ := hotkey.SS58Decode(p.Hotkey)
		key := fmt.Sprintf("0x%x", pub[:])
		if tree.Types()[0] == "address" {
			key = fmt.Sprintf("0x%x", pub[:20])
		}
		values = append(values, []string{key, fmt.Sprint(p.Cumulative)})
	}
	rebuilt, err := merkle.New(tree.Types(), values)
	if err != nil || rebuilt.Root() != tree.Root() {
		t.Fatalf("epoch %d root: rebuilt %v, stored %v (%v)", n, rebuilt.Root(), tree.Root(), err)
	}
	for i := 0; i < rebuilt.Len(); i++ {
		v, _ := rebuilt.Value(i)
		j, ok := tree.IndexOf(v.Value)
		p1, _ := rebuilt.Proof(i)
		p2, _ := tree.Proof(j)
		if !ok || fmt.Sprint(p1) != fmt.Sprint(p2) {
			t.Fatalf("epoch %d: proof of %v differs", n, v.Value)
		}
	}
}
