package chain_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/chain/chaintest"
)

func randKey(rng *rand.Rand) [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = byte(rng.Uint32())
	}
	return k
}

// randNeuron returns a neuron with every field set, values spread over
// each compact mode.
func randNeuron(rng *rand.Rand, uid uint16) chain.NeuronInfoLite {
	wide := func() uint64 { return rng.Uint64() >> rng.IntN(64) }
	n := chain.NeuronInfoLite{
		Hotkey: randKey(rng), Coldkey: randKey(rng), UID: uid, Netuid: uint16(rng.IntN(1 << 16)),
		Active: rng.IntN(2) == 1,
		Axon: chain.AxonInfo{Block: wide(), Version: rng.Uint32(), IP: chain.Uint128{Lo: rng.Uint64(), Hi: rng.Uint64()},
			Port: uint16(rng.Uint32()), IPType: 4, Protocol: 4, Placeholder1: 1, Placeholder2: 2},
		Prometheus: chain.PrometheusInfo{Block: wide(), Version: rng.Uint32(), IP: chain.Uint128{Lo: rng.Uint64()}, Port: 9090, IPType: 6},
		Rank:       uint16(rng.Uint32()), Emission: wide(), Incentive: uint16(rng.Uint32()), Consensus: uint16(rng.Uint32()),
		Trust: uint16(rng.Uint32()), ValidatorTrust: uint16(rng.Uint32()), Dividends: uint16(rng.Uint32()),
		LastUpdate: wide(), ValidatorPermit: rng.IntN(2) == 1, PruningScore: math.MaxUint16,
	}
	for range rng.IntN(4) {
		n.Stake = append(n.Stake, chain.StakeEntry{Coldkey: randKey(rng), Alpha: wide()})
	}
	return n
}

func randNeurons(rng *rand.Rand, k int) []chain.NeuronInfoLite {
	ns := make([]chain.NeuronInfoLite, k)
	for i := range ns {
		ns[i] = randNeuron(rng, uint16(i))
	}
	return ns
}

func TestNeuronInfoLiteRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{0, 1, 5, 70} {
		ns := randNeurons(rng, k)
		b := chaintest.EncodeNeuronInfoLiteVec(ns)
		got, err := chain.DecodeNeuronInfoLiteVec(b)
		if err != nil {
			t.Fatalf("%d neurons: %v", k, err)
		}
		if k == 0 {
			if len(got) != 0 {
				t.Fatalf("decoded %d neurons from an empty vector", len(got))
			}
			continue
		}
		if !reflect.DeepEqual(got, ns) {
			t.Fatalf("%d neurons: round trip differs\n got %+v\nwant %+v", k, got[0], ns[0])
		}
	}
}

// Every truncation of a valid encoding fails cleanly, and so does every
// extension by one byte.
func TestNeuronInfoLiteTruncated(t *testing.T) {
	b := chaintest.EncodeNeuronInfoLiteVec(randNeurons(rand.New(rand.NewPCG(3, 4)), 3))
	for i := range b {
		if _, err := chain.DecodeNeuronInfoLiteVec(b[:i]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", i, len(b))
		}
	}
	if _, err := chain.DecodeNeuronInfoLiteVec(append(b, 0)); !errors.Is(err, chain.ErrTrailingBytes) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func TestNeuronInfoLiteHostile(t *testing.T) {
	one := chaintest.EncodeNeuronInfoLiteVec(randNeurons(rand.New(rand.NewPCG(5, 6)), 1))
	body := one[1:]
	for name, b := range map[string][]byte{
		// a length prefix of 2^62-1 elements over a few bytes
		"huge vec":             append(chain.AppendCompact(nil, 1<<62-1), body...),
		"u64 max":              append(chain.AppendCompact(nil, math.MaxUint64), body...),
		"non-canonical length": append([]byte{0x05, 0x00}, body...),
	} {
		if _, err := chain.DecodeNeuronInfoLiteVec(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// bool bytes other than 0/1: active sits after hotkey, coldkey and two
	// one-byte compacts (uid 0, a netuid below 64 is not guaranteed, so
	// rebuild with a small one).
	n := randNeuron(rand.New(rand.NewPCG(7, 8)), 0)
	n.Netuid = 1
	b := chaintest.EncodeNeuronInfoLiteVec([]chain.NeuronInfoLite{n})
	active := 1 + 32 + 32 + 1 + 1
	b[active] = 2
	if _, err := chain.DecodeNeuronInfoLiteVec(b); !errors.Is(err, chain.ErrInvalidValue) {
		t.Errorf("bool 2: %v", err)
	}
	// a uid compact above u16
	b = chaintest.EncodeNeuronInfoLiteVec([]chain.NeuronInfoLite{n})
	hostile := append(append(append([]byte{}, b[:65]...), chain.AppendCompact(nil, 1<<16)...), b[66:]...)
	if _, err := chain.DecodeNeuronInfoLiteVec(hostile); !errors.Is(err, chain.ErrInvalidValue) {
		t.Errorf("uid 65536: %v", err)
	}
	// a stake vector claiming more entries than bytes remain
	n.Stake = nil
	b = chaintest.EncodeNeuronInfoLiteVec([]chain.NeuronInfoLite{n})
	stakeAt := 1 + 32 + 32 + 1 + 1 + 1 + 34 + 31
	if b[stakeAt] != 0 {
		t.Fatalf("layout assumption: byte %d is %x", stakeAt, b[stakeAt])
	}
	b[stakeAt] = 0xfc // 63 entries
	if _, err := chain.DecodeNeuronInfoLiteVec(b); !errors.Is(err, chain.ErrShortInput) {
		t.Errorf("stake vec: %v", err)
	}
}

func TestAxonAddr(t *testing.T) {
	a := chain.AxonInfo{IP: chain.Uint128{Lo: 0xC0A80001}, IPType: 4}
	if got := a.Addr(); got != netip.MustParseAddr("192.168.0.1") {
		t.Errorf("v4 %v", got)
	}
	a = chain.AxonInfo{IP: chain.Uint128{Hi: 0x20010db800000000, Lo: 1}, IPType: 6}
	if got := a.Addr(); got != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("v6 %v", got)
	}
	if (chain.AxonInfo{IPType: 0}).Addr().IsValid() {
		t.Error("ip_type 0 gave an address")
	}
}

// FuzzDecodeNeuronInfoLiteVec: hostile bytes never panic, and anything that
// decodes re-encodes to exactly the input (the decoder accepts canonical
// encodings only).
func FuzzDecodeNeuronInfoLiteVec(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, k := range []int{0, 1, 2} {
		f.Add(chaintest.EncodeNeuronInfoLiteVec(randNeurons(rng, k)))
	}
	f.Add([]byte{0x04})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, err := chain.DecodeNeuronInfoLiteVec(b)
		if err != nil {
			return
		}
		if again := chaintest.EncodeNeuronInfoLiteVec(ns); !bytes.Equal(again, b) {
			t.Fatalf("%x decodes but re-encodes to %x", b, again)
		}
	})
}
