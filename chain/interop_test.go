package chain_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/chain/chaintest"
	"github.com/agoranet/agora/internal/testingutil"
)

// The pinned polkadot-js versions: @polkadot/types as bittensor_interop.md
// §3 lists it, and util, util-crypto and keyring at the version hotkey's
// cross-check uses (hotkey.polkadotVersion). NPMPackages pins one version
// per call, so the 14.0.3 packages are pinned through package.json
// (dependencies and overrides, so @polkadot/types' ^14.0.3 ranges resolve
// to exactly that).
const (
	polkadotTypesVersion = "16.5.6"
	polkadotUtilVersion  = "14.0.3"
)

var polkadotPackageJSON = fmt.Sprintf(`{"private":true,"type":"module",`+
	`"dependencies":{"@polkadot/util":%[1]q,"@polkadot/util-crypto":%[1]q,"@polkadot/keyring":%[1]q},`+
	`"overrides":{"@polkadot/util":%[1]q,"@polkadot/util-crypto":%[1]q,"@polkadot/keyring":%[1]q}}`, polkadotUtilVersion)

func polkadotTypesDir(tb testing.TB) string {
	dir := testingutil.NPMPackages(tb, "polkadot-types-"+polkadotTypesVersion, polkadotPackageJSON, polkadotTypesVersion,
		"@polkadot/types", "@polkadot/types-support")
	// NPMPackages checks the versions of the packages it installs only.
	for _, p := range []string{"util", "util-crypto", "keyring"} {
		data, err := os.ReadFile(filepath.Join(dir, "node_modules", "@polkadot", p, "package.json"))
		if err != nil {
			tb.Fatal(err)
		}
		var pkg struct{ Version string }
		if json.Unmarshal(data, &pkg) != nil || pkg.Version != polkadotUtilVersion {
			tb.Fatalf("@polkadot/%s is %q, want %s", p, pkg.Version, polkadotUtilVersion)
		}
	}
	return dir
}

type jsCase struct {
	Call               string `json:"call"`
	Current            uint64 `json:"current,omitempty"`
	Period             uint64 `json:"period,omitempty"`
	Nonce              string `json:"nonce"`
	Tip                string `json:"tip"`
	SpecVersion        uint32 `json:"specVersion"`
	TransactionVersion uint32 `json:"transactionVersion"`
	GenesisHash        string `json:"genesisHash"`
	BlockHash          string `json:"blockHash"`
	Signer             string `json:"signer"`
	Signature          string `json:"signature"`
}

type jsNeuron struct {
	Hotkey          string      `json:"hotkey"`
	Coldkey         string      `json:"coldkey"`
	UID             uint16      `json:"uid"`
	Netuid          uint16      `json:"netuid"`
	Active          bool        `json:"active"`
	AxonInfo        jsAxon      `json:"axon_info"`
	PrometheusInfo  jsAxon      `json:"prometheus_info"`
	Stake           [][2]string `json:"stake"`
	Rank            uint16      `json:"rank"`
	Emission        string      `json:"emission"`
	Incentive       uint16      `json:"incentive"`
	Consensus       uint16      `json:"consensus"`
	Trust           uint16      `json:"trust"`
	ValidatorTrust  uint16      `json:"validator_trust"`
	Dividends       uint16      `json:"dividends"`
	LastUpdate      string      `json:"last_update"`
	ValidatorPermit bool        `json:"validator_permit"`
	PruningScore    uint16      `json:"pruning_score"`
}

type jsAxon struct {
	Block        string `json:"block"`
	Version      uint32 `json:"version"`
	IP           string `json:"ip"`
	Port         uint16 `json:"port"`
	IPType       uint8  `json:"ip_type"`
	Protocol     uint8  `json:"protocol,omitempty"`
	Placeholder1 uint8  `json:"placeholder1,omitempty"`
	Placeholder2 uint8  `json:"placeholder2,omitempty"`
}

func hx(b []byte) string { return "0x" + hex.EncodeToString(b) }

func u128String(v chain.Uint128) string {
	x := new(big.Int).SetUint64(v.Hi)
	x.Lsh(x, 64)
	return x.Or(x, new(big.Int).SetUint64(v.Lo)).String()
}

func toJSNeuron(n chain.NeuronInfoLite) jsNeuron {
	j := jsNeuron{
		Hotkey: hx(n.Hotkey[:]), Coldkey: hx(n.Coldkey[:]), UID: n.UID, Netuid: n.Netuid, Active: n.Active,
		AxonInfo: jsAxon{Block: strconv.FormatUint(n.Axon.Block, 10), Version: n.Axon.Version, IP: u128String(n.Axon.IP),
			Port: n.Axon.Port, IPType: n.Axon.IPType, Protocol: n.Axon.Protocol, Placeholder1: n.Axon.Placeholder1, Placeholder2: n.Axon.Placeholder2},
		PrometheusInfo: jsAxon{Block: strconv.FormatUint(n.Prometheus.Block, 10), Version: n.Prometheus.Version,
			IP: u128String(n.Prometheus.IP), Port: n.Prometheus.Port, IPType: n.Prometheus.IPType},
		Stake: [][2]string{}, Rank: n.Rank, Emission: strconv.FormatUint(n.Emission, 10), Incentive: n.Incentive,
		Consensus: n.Consensus, Trust: n.Trust, ValidatorTrust: n.ValidatorTrust, Dividends: n.Dividends,
		LastUpdate: strconv.FormatUint(n.LastUpdate, 10), ValidatorPermit: n.ValidatorPermit, PruningScore: n.PruningScore,
	}
	for _, s := range n.Stake {
		j.Stake = append(j.Stake, [2]string{hx(s.Coldkey[:]), strconv.FormatUint(s.Alpha, 10)})
	}
	return j
}

// TestPolkadotCrossCheck compares this package with @polkadot/types, an
// independent implementation: for random transactions (immortal and
// mortal eras of every size, nonces and tips across the compact modes,
// payloads either side of the 256-byte hashing threshold), polkadot-js
// builds the signing payload from the field values and the subtensor
// extension list, verifies Go's signature over it with sr25519Verify, and
// assembles the signed extrinsic around Go's signature; each must equal
// Go's bytes. It also checks twox128 against xxhashAsHex,
// Vec<NeuronInfoLite> both ways, and MetadataExtensions against
// polkadot-js on real V14 and V15 metadata (@polkadot/types-support's
// Substrate node). It needs node and npm (and, on the first
// run, the npm registry); it is skipped under -short.
func TestPolkadotCrossCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("polkadot-js cross-check skipped in -short mode")
	}
	dir := polkadotTypesDir(t)
	scriptPath := testingutil.NPMScript(t, dir, filepath.Join("testdata", "polkadot", "extrinsic.mjs"))

	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	s := signer(t, "//Alice")
	pub := s.PublicKey()
	compactEdges := []uint64{0, 1, 63, 64, 16383, 16384, 1<<30 - 1, 1 << 30, 1<<32 - 1}

	type goCase struct {
		payload, ext []byte
		era          chain.Era
	}
	var cases []jsCase
	var want []goCase
	for i := range 60 {
		var call []byte
		switch i % 3 {
		case 0:
			call = chain.SetWeightsCall(uint16(rng.Uint32()), refUIDs, refVals, rng.Uint64())
		case 1:
			call = chain.CommitWeightsCall(uint16(rng.Uint32()), randKey(rng))
		case 2:
			n := rng.IntN(200) // straddles the 256-byte payload threshold
			uids := make([]uint16, n)
			for j := range uids {
				uids[j] = uint16(rng.Uint32())
			}
			call = chain.RevealWeightsCall(1, uids, uids, refSalt, rng.Uint64())
		}
		p := chain.TxParams{
			SpecVersion: rng.Uint32(), TxVersion: rng.Uint32(),
			Genesis: randKey(rng), Nonce: compactEdges[i%len(compactEdges)], Tip: rng.Uint64() >> rng.IntN(64),
		}
		if i%4 == 1 {
			p.Nonce = uint64(rng.Uint32())
		}
		c := jsCase{Call: hx(call), Nonce: strconv.FormatUint(p.Nonce, 10), Tip: strconv.FormatUint(p.Tip, 10),
			SpecVersion: p.SpecVersion, TransactionVersion: p.TxVersion, GenesisHash: hx(p.Genesis[:]), Signer: hx(pub[:])}
		if i%5 == 0 {
			p.EraBlock = p.Genesis
		} else {
			// Periods of every size, rounding and quantization included.
			c.Period = 1 + rng.Uint64N(1<<uint(rng.IntN(18)))
			c.Current = rng.Uint64N(1 << 40)
			p.Era = chain.MortalEra(c.Period, c.Current)
			p.EraBlock = randKey(rng)
		}
		c.BlockHash = hx(p.EraBlock[:])
		ext, err := chain.SignedExtrinsic(s, call, chain.SubtensorExtensions(), &p)
		if err != nil {
			t.Fatal(err)
		}
		_, n, _ := chain.DecodeCompact(ext)
		c.Signature = hx(ext[n+35 : n+99])
		cases = append(cases, c)
		want = append(want, goCase{payload: chain.SigningPayload(call, chain.SubtensorExtensions(), &p), ext: ext, era: p.Era})
	}

	neurons := randNeurons(rng, 12)
	var jsNeurons []jsNeuron
	for _, n := range neurons {
		jsNeurons = append(jsNeurons, toJSNeuron(n))
	}
	xxInputs := []string{"System", "Account", "Timestamp", "Now", "SubtensorModule", "Tempo", "CommitRevealWeightsEnabled",
		"WeightsVersionKey", "WeightsSetRateLimit", "LastUpdate", "", "a much longer input than thirty-two bytes, to cover xxhash's stripe loop"}

	in, _ := json.Marshal(map[string]any{
		"extensions": chain.SubtensorExtensionNames(),
		"cases":      cases,
		"xxhash":     xxInputs,
		"neurons":    jsNeurons,
		"neuronsGo":  hx(chaintest.EncodeNeuronInfoLiteVec(neurons)),
	})
	out, stderr := testingutil.RunNode(t, scriptPath, in, time.Minute)
	if len(stderr) > 0 {
		// polkadot-js warns about extensions it treats as no-effect; there
		// must be none, since every one is declared.
		t.Errorf("node stderr: %s", stderr)
	}
	var rep struct {
		XXHash map[string]string `json:"xxhash"`
		Cases  []struct {
			Era, Payload, Extrinsic string
			SR25519Verify           bool `json:"sr25519Verify"`
		} `json:"cases"`
		NeuronsEncoded     string `json:"neuronsEncoded"`
		NeuronsGoReencoded string `json:"neuronsGoReencoded"`
		NeuronsGoCount     int    `json:"neuronsGoCount"`
		Metadata           []struct {
			Version    int      `json:"version"`
			Hex        string   `json:"hex"`
			Extensions []string `json:"extensions"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("node reply: %v\n%s", err, out)
	}

	t.Run("Twox128", func(t *testing.T) {
		for _, in := range xxInputs {
			got := chain.Twox128([]byte(in))
			if hx(got[:]) != rep.XXHash[in] {
				t.Errorf("twox128(%q): Go %x, polkadot-js %s", in, got, rep.XXHash[in])
			}
		}
	})
	t.Run("Transactions", func(t *testing.T) {
		if len(rep.Cases) != len(want) {
			t.Fatalf("%d results for %d cases", len(rep.Cases), len(want))
		}
		long := 0
		for i, r := range rep.Cases {
			w := want[i]
			if len(w.payload) > 256 {
				long++
			}
			if r.Era != hx(chain.AppendEra(nil, w.era)) {
				t.Errorf("case %d: era Go %x (%+v), JS %s (period %d, current %d)", i, chain.AppendEra(nil, w.era), w.era, r.Era, cases[i].Period, cases[i].Current)
			}
			if r.Payload != hx(w.payload) {
				t.Errorf("case %d: signing payload\n Go %x\n JS %s", i, w.payload, r.Payload)
			}
			if !r.SR25519Verify {
				t.Errorf("case %d (%d-byte payload): polkadot-js rejects Go's signature", i, len(w.payload))
			}
			if r.Extrinsic != hx(w.ext) {
				t.Errorf("case %d: extrinsic\n Go %x\n JS %s", i, w.ext, r.Extrinsic)
			}
		}
		if long == 0 || long == len(want) {
			t.Errorf("%d of %d payloads over 256 bytes: the threshold is not straddled", long, len(want))
		}
	})
	t.Run("Metadata", func(t *testing.T) {
		if len(rep.Metadata) != 2 {
			t.Fatalf("%d metadata blobs", len(rep.Metadata))
		}
		for _, m := range rep.Metadata {
			b, err := hex.DecodeString(strings.TrimPrefix(m.Hex, "0x"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := chain.MetadataExtensions(b)
			if err != nil {
				t.Errorf("v%d: %v", m.Version, err)
				continue
			}
			if len(m.Extensions) == 0 || !reflect.DeepEqual(got, m.Extensions) {
				t.Errorf("v%d (%d bytes): Go reads %v, polkadot-js %v", m.Version, len(b), got, m.Extensions)
			}
		}
	})
	t.Run("NeuronInfoLite", func(t *testing.T) {
		b, err := hex.DecodeString(rep.NeuronsEncoded[2:])
		if err != nil {
			t.Fatal(err)
		}
		got, err := chain.DecodeNeuronInfoLiteVec(b)
		if err != nil {
			t.Fatalf("decoding polkadot-js's encoding: %v", err)
		}
		if !reflect.DeepEqual(got, neurons) {
			t.Errorf("polkadot-js encoding decodes to\n%+v\nwant\n%+v", got[0], neurons[0])
		}
		goEnc := hx(chaintest.EncodeNeuronInfoLiteVec(neurons))
		if rep.NeuronsEncoded != goEnc || rep.NeuronsGoReencoded != goEnc || rep.NeuronsGoCount != len(neurons) {
			t.Errorf("encodings differ:\n Go %s\n JS %s\n JS(Go) %s (%d neurons)", goEnc, rep.NeuronsEncoded, rep.NeuronsGoReencoded, rep.NeuronsGoCount)
		}
	})
}
