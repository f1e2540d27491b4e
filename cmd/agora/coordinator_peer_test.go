package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/chain/chaintest"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
)

// TestCoordinatorChainMiners: with --chain, every hotkey registered in the
// metagraph may be assigned peer evaluations; other keys may not.
func TestCoordinatorChainMiners(t *testing.T) {
	node := chaintest.New(t)
	bob, dave, mallory := devKey(t, "//Bob"), devKey(t, "//Dave"), devKey(t, "//Mallory")
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
	assignments := func(s *hotkey.Signer) error {
		_, err := agorahttp.NewClient(c.Server.URL(), s).PeerAssignments(context.Background(), nil)
		return err
	}
	// The metagraph is read once the sweeper starts.
	deadline := time.Now().Add(10 * time.Second)
	for assignments(dave) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := assignments(dave); err != nil {
		t.Fatalf("a registered miner cannot list its assignments: %v", err)
	}
	if err := assignments(mallory); agora.ErrorCode(err) != agora.EFORBIDDEN {
		t.Fatalf("an unregistered key listed assignments: %v", err)
	}
}
