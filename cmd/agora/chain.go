package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/chain"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/merkle"
	"github.com/agoranet/agora/validator"
)

// ChainCommand groups the chain tools: what weights would be set, and
// offline verification of Merkle claim proofs.
type ChainCommand struct {
	Stdout, Stderr io.Writer
}

const chainUsage = `Usage: agora chain <command> [flags]

Commands:
  weights        the weights a validator would set: from a reward snapshot's weight policy resolved through
                 the metagraph (--snapshot or --coordinator, with --chain), or from --uids/--weights
  verify-proof   check a Merkle claim proof (OpenZeppelin StandardMerkleTree) offline
`

// Run dispatches.
func (c *ChainCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, chainUsage)
		return &usageError{msg: "chain: no command given"}
	}
	switch args[0] {
	case "weights":
		return c.weights(ctx, args[1:])
	case "verify-proof":
		return c.verifyProof(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(c.Stdout, chainUsage)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("chain: unknown command %q (run 'agora chain -h')", args[0])}
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// weights prints what a validator would set and why.
func (c *ChainCommand) weights(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agora-chain-weights", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	uidsFlag := fs.String("uids", "", "comma-separated `uids`")
	weightsFlag := fs.String("weights", "", "comma-separated float `weights`, one per uid")
	netuid := fs.Uint("netuid", 1, "subnet `id`")
	version := fs.String("version-key", "10.2.0", "version key: an integer, or an SDK version string")
	asJSON := fs.Bool("json", false, "print JSON")
	snapFile := fs.String("snapshot", "", "a reward snapshot JSON `file` (GET /api/v1/reward-snapshot) whose weight policy to resolve")
	coord := fs.String("coordinator", "", "take the latest reward snapshot from this coordinator `URL`")
	chainURL := fs.String("chain", os.Getenv("AGORA_CHAIN"), "subtensor node JSON-RPC `URL` for the metagraph [$AGORA_CHAIN]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var why []string
	if *snapFile != "" || *coord != "" {
		if *uidsFlag != "" || *weightsFlag != "" {
			return agora.Errorf(agora.EINVALID, "--uids/--weights: not with --snapshot or --coordinator")
		}
		resolved, notes, err := c.resolveSnapshot(ctx, *snapFile, *coord, *chainURL, uint16(min(*netuid, 65535)))
		if err != nil {
			return err
		}
		var us, ws []string
		for _, r := range resolved {
			us, ws = append(us, strconv.Itoa(int(r.UID))), append(ws, strconv.FormatFloat(r.Weight, 'g', -1, 64))
			why = append(why, fmt.Sprintf("uid %d: %s", r.UID, r.Why))
		}
		*uidsFlag, *weightsFlag = strings.Join(us, ","), strings.Join(ws, ",")
		why = append(why, notes...)
	}
	var uids []int
	for i, s := range splitList(*uidsFlag) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "--uids: item %d %q is not an integer", i, s)
		}
		uids = append(uids, n)
	}
	var ws []float64
	for i, s := range splitList(*weightsFlag) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "--weights: item %d %q is not a number", i, s)
		}
		ws = append(ws, f)
	}
	if len(uids) == 0 {
		return agora.Errorf(agora.EINVALID, "--uids: required")
	}
	if *netuid > 65535 {
		return agora.Errorf(agora.EINVALID, "--netuid: at most 65535")
	}
	vk, err := strconv.ParseUint(*version, 10, 64)
	if err != nil {
		if vk, err = chain.VersionAsInt(*version); err != nil {
			return agora.Errorf(agora.EINVALID, "--version-key: %v", err)
		}
	}
	u, v, err := chain.ConvertWeights(uids, ws)
	if err != nil {
		return agora.Errorf(agora.EINVALID, "weights: %v", err)
	}
	call := chain.SetWeightsCall(uint16(*netuid), u, v, vk)
	if *asJSON {
		return json.NewEncoder(c.Stdout).Encode(map[string]any{"netuid": *netuid, "uids": u, "weights": v, "version_key": vk,
			"call": "0x" + hex.EncodeToString(call), "why": why})
	}
	fmt.Fprintf(c.Stdout, "SubtensorModule.set_weights(netuid=%d, version_key=%d)\n", *netuid, vk)
	fmt.Fprintf(c.Stdout, "  %-6s %-12s %s\n", "uid", "weight", "u16 (largest scaled to 65535, half to even, zeros dropped)")
	kept := map[uint16]uint16{}
	for i := range u {
		kept[u[i]] = v[i]
	}
	for i, uid := range uids {
		w := 0.0
		if i < len(ws) {
			w = ws[i]
		}
		val, ok := kept[uint16(uid)]
		note := strconv.Itoa(int(val))
		if !ok {
			note = "dropped (0)"
		}
		fmt.Fprintf(c.Stdout, "  %-6d %-12.6g %s\n", uid, w, note)
	}
	for _, w := range why {
		fmt.Fprintf(c.Stdout, "  why: %s\n", w)
	}
	fmt.Fprintf(c.Stdout, "call: 0x%s\n(nothing is submitted: 'agora validator --chain URL' sets weights on the subnet's tempo)\n", hex.EncodeToString(call))
	return nil
}

// resolveSnapshot resolves a snapshot's weight policy through the
// metagraph (uid targets alone resolve without one), as a validator does.
func (c *ChainCommand) resolveSnapshot(ctx context.Context, file, coord, chainURL string, netuid uint16) ([]agora.ResolvedWeight, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var data []byte
	var err error
	if file != "" {
		if data, err = os.ReadFile(file); err != nil {
			return nil, nil, agora.Errorf(agora.EINVALID, "--snapshot: %v", err)
		}
	} else if data, err = agorahttp.NewClient(coord, nil).RewardSnapshot(ctx, 0); err != nil {
		return nil, nil, err
	}
	var snap agora.RewardSnapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return nil, nil, agora.Errorf(agora.EINVALID, "snapshot: %v", err)
	}
	var neurons []chain.Neuron
	if chainURL != "" {
		cl, err := chain.New(chainURL, chain.Options{})
		if err != nil {
			return nil, nil, agora.Errorf(agora.EINVALID, "--chain: %s", agora.ErrorMessage(err))
		}
		if neurons, err = cl.Metagraph(ctx, netuid); err != nil {
			return nil, nil, err
		}
	} else {
		for _, t := range validator.SnapshotPolicy(&snap).Targets {
			if t.Kind != agora.TargetUID {
				return nil, nil, agora.Errorf(agora.EINVALID, "--chain: needed to resolve %s to a uid through the metagraph", t)
			}
		}
	}
	return validator.ResolveSnapshot(&snap, neurons)
}

// verifyProof checks a value's proof against a root, reading the value and
// proof from flags or from a claim JSON file.
func (c *ChainCommand) verifyProof(args []string) error {
	fs := flag.NewFlagSet("agora-chain-verify-proof", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	root := fs.String("root", "", "the tree's 0x `root`")
	types := fs.String("types", "address,uint256", "leaf `types`, comma-separated")
	value := fs.String("value", "", "the leaf's `fields`, comma-separated")
	proof := fs.String("proof", "", "the proof's 0x `hashes`, comma-separated")
	file := fs.String("claim", "", "a claim JSON `file` with root, types, value and proof (instead of the flags)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in := struct {
		Root  string   `json:"root"`
		Types []string `json:"types"`
		Value []string `json:"value"`
		Proof []string `json:"proof"`
	}{*root, splitList(*types), splitList(*value), splitList(*proof)}
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "--claim: %v", err)
		}
		if err := json.Unmarshal(data, &in); err != nil {
			return agora.Errorf(agora.EINVALID, "--claim %s: %v", *file, err)
		}
	}
	if err := verifyClaimProof(in.Root, in.Types, in.Value, in.Proof); err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "proof verifies: %v is in the tree with root %s\n", in.Value, in.Root)
	return nil
}

// verifyClaimProof checks that value (under types) is in the tree with the
// 0x root, by proof: EINVALID naming what is malformed, or saying it does
// not verify.
func verifyClaimProof(root string, types, value, proof []string) error {
	r, err := merkle.ParseHash(root)
	if err != nil {
		return agora.Errorf(agora.EINVALID, "root: %v", err)
	}
	var hashes []merkle.Hash
	for i, p := range proof {
		h, err := merkle.ParseHash(p)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "proof[%d]: %v", i, err)
		}
		hashes = append(hashes, h)
	}
	ok, err := merkle.VerifyValue(r, types, value, hashes)
	if err != nil {
		return agora.Errorf(agora.EINVALID, "value: %v", err)
	}
	if !ok {
		return agora.Errorf(agora.EINVALID, "proof does NOT verify against root %s", root)
	}
	return nil
}
