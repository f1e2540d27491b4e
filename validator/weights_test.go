package validator_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/chain/chaintest"
	"github.com/agoranet/agora/hotkey"
	"github.com/agoranet/agora/validator"
)

type snapshots struct{ snap *agora.RewardSnapshot }

func (s *snapshots) LatestSnapshot(context.Context) (*agora.RewardSnapshot, error) {
	if s.snap == nil {
		return nil, agora.Errorf(agora.ENOTFOUND, "no epoch")
	}
	return s.snap, nil
}

func devSigner(t *testing.T, uri string) *hotkey.Signer {
	t.Helper()
	s, err := hotkey.FromURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// weightsFixture: a subnet with an owner at uid 0, the validator at 1, a
// miner at 2 and the claim contract's hotkey at 3.
func weightsFixture(t *testing.T) (*chaintest.Node, *validator.WeightSetter, *snapshots, map[string]*hotkey.Signer) {
	node := chaintest.New(t)
	keys := map[string]*hotkey.Signer{}
	var ns []chain.NeuronInfoLite
	for uid, name := range []string{"//Owner", "//Bob", "//Alice", "//Contract"} {
		k := devSigner(t, name)
		keys[name] = k
		ns = append(ns, chain.NeuronInfoLite{Hotkey: k.PublicKey(), Coldkey: k.PublicKey(), UID: uint16(uid), Netuid: 1, Active: true, ValidatorPermit: uid == 1})
	}
	node.SetNeurons(1, ns)
	node.SetHyperparams(1, chain.Hyperparams{Tempo: 10, CommitRevealEnabled: false, WeightsSetRateLimit: 5})
	cl, err := chain.New(node.URL(), chain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	targets := &agora.WeightPolicy{}
	for _, s := range []string{"uid:0=0.5", "hotkey:" + keys["//Contract"].Address() + "=0.2", "miners=0.3"} {
		wt, err := agora.ParseWeightTarget(s)
		if err != nil {
			t.Fatal(err)
		}
		targets.Targets = append(targets.Targets, wt)
	}
	src := &snapshots{&agora.RewardSnapshot{Epoch: 3, WeightPolicy: targets, Payouts: []agora.Payout{
		{Hotkey: keys["//Alice"].Address(), Amount: 300}, {Hotkey: devSigner(t, "//Unregistered").Address(), Amount: 100}}}}
	w := &validator.WeightSetter{Chain: cl, Signer: keys["//Bob"], Netuid: 1, VersionKey: 7, Snapshots: src, BlockTime: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	return node, w, src, keys
}

func TestWeightSetterDirect(t *testing.T) {
	ctx := context.Background()
	node, w, _, _ := weightsFixture(t)
	d, err := w.Step(ctx)
	if err != nil || d.Action != "set" {
		t.Fatalf("first step: %v %+v", err, d)
	}
	wantU, wantV, _ := chain.ConvertWeights([]uint16{0, 2, 3}, []float64{0.5, 0.3, 0.2})
	xs := node.Extrinsics()
	if len(xs) != 1 || xs[0].Call != "set_weights" || xs[0].DispatchError != "" || xs[0].Args.Netuid != 1 ||
		!equal(xs[0].Args.UIDs, wantU) || !equal(xs[0].Args.Values, wantV) || xs[0].Args.VersionKey != 7 {
		t.Fatalf("extrinsics: %+v, want uids %v values %v", xs, wantU, wantV)
	}
	if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "not registered") {
		t.Errorf("the unregistered miner is not noted: %q", d.Notes)
	}
	// Within the tempo: wait, for the blocks that are left.
	node.Advance(4)
	if d, err := w.Step(ctx); err != nil || d.Action != "wait" || d.Next != 6*time.Millisecond {
		t.Fatalf("within the tempo: %v %+v", err, d)
	}
	node.Advance(6)
	if d, err := w.Step(ctx); err != nil || d.Action != "set" || len(node.Extrinsics()) != 2 {
		t.Fatalf("next tempo: %v %+v", err, d)
	}
}

func TestWeightSetterCommitReveal(t *testing.T) {
	ctx := context.Background()
	node, w, _, _ := weightsFixture(t)
	node.SetCommitReveal(1, true)
	d, err := w.Step(ctx)
	if err != nil || d.Action != "commit" {
		t.Fatalf("commit: %v %+v", err, d)
	}
	if d, err := w.Step(ctx); err != nil || d.Action != "wait" {
		t.Fatalf("same epoch: %v %+v", err, d)
	}
	node.Advance(11)
	d, err = w.Step(ctx)
	if err != nil || d.Action != "reveal" {
		t.Fatalf("reveal: %v %+v", err, d)
	}
	xs := node.Extrinsics()
	if len(xs) != 2 || xs[0].Call != "commit_weights" || xs[1].Call != "reveal_weights" || xs[1].DispatchError != "" {
		t.Fatalf("extrinsics: %+v", xs)
	}
	r := xs[1].Args
	if chain.CommitHash(xs[1].Signer, 1, r.UIDs, r.Values, r.Salt, r.VersionKey) != xs[0].Args.CommitHash {
		t.Fatal("the reveal does not match the commit")
	}
	// Forcing direct setting on a commit-reveal subnet is refused before
	// anything is sent.
	w.CommitReveal = validator.CommitRevealOff
	node.Advance(11)
	if _, err := w.Step(ctx); err == nil || len(node.Extrinsics()) != 2 {
		t.Fatalf("set_weights under commit-reveal: %v, %d extrinsics", err, len(node.Extrinsics()))
	}
}

func TestWeightSetterRefusals(t *testing.T) {
	ctx := context.Background()
	node, w, src, keys := weightsFixture(t)
	// The contract's hotkey deregistered: no weights, an error naming it.
	wp := *src.snap.WeightPolicy
	wp.Targets = append([]agora.WeightTarget(nil), wp.Targets...)
	wp.Targets[1].Hotkey = devSigner(t, "//Gone").Address()
	src.snap.WeightPolicy = &wp
	if _, err := w.Step(ctx); agora.ErrorCode(err) != agora.ENOTFOUND || !strings.Contains(err.Error(), wp.Targets[1].Hotkey) || len(node.Extrinsics()) != 0 {
		t.Fatalf("unregistered target: %v", err)
	}
	// A validator that is not registered is told so.
	w.Signer = devSigner(t, "//Stranger")
	if _, err := w.Step(ctx); agora.ErrorCode(err) != agora.ENOTFOUND || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("unregistered validator: %v", err)
	}
	// No epoch yet: nothing to set.
	w.Signer = keys["//Bob"]
	src.snap = nil
	if d, err := w.Step(ctx); err != nil || d.Action != "skip" {
		t.Fatalf("no epoch: %v %+v", err, d)
	}
	// The node is down: a clear, retryable error.
	node.SetDown(true)
	if _, err := w.Step(ctx); agora.ErrorCode(err) != agora.EUNAVAILABLE {
		t.Fatalf("node down: %v", err)
	}
}

func TestWeightSetterWithoutChain(t *testing.T) {
	var logs bytes.Buffer
	src := &snapshots{&agora.RewardSnapshot{Epoch: 1, Payouts: []agora.Payout{{Hotkey: "5Alice", Amount: 10}}}}
	w := &validator.WeightSetter{Snapshots: src, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	d, err := w.Step(context.Background())
	if err != nil || d.Action != "log" || !strings.Contains(logs.String(), "5Alice earned 10") {
		t.Fatalf("%v %+v %s", err, d, logs.String())
	}
	if d, _ := w.Step(context.Background()); d.Action != "skip" {
		t.Fatalf("logged the same epoch twice: %+v", d)
	}
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
