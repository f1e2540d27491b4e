// Command merkle is the Go side of bench/merkle.sh: it writes the
// benchmark's claims and times building a merkle.Tree of them and producing
// every proof, the same work bench/merkle/oz.mjs times with
// @openzeppelin/merkle-tree.
//
//	go run ./bench/merkle gen -n 1000000 -o claims.json
//	go run ./bench/merkle run -in claims.json
//
// run prints one line of key=value fields for bench/merkle.sh.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/agoranet/agora/merkle"
)

// claims is the benchmark input, read the same way by both sides.
type claims struct {
	Types  []string   `json:"types"`
	Values [][]string `json:"values"`
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "merkle bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: merkle gen -n N -o FILE | merkle run -in FILE [-verify-all]")
	os.Exit(2)
}

// gen writes n claims (bytes32 public key, uint256 amount in decimal),
// the same for the same n and seed.
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	n := fs.Int("n", 1000000, "number of claims")
	seed := fs.Uint64("seed", 1, "PRNG seed")
	out := fs.String("o", "", "output file")
	fs.Parse(args)
	if *n < 1 || *out == "" {
		return fmt.Errorf("gen needs -n >= 1 and -o")
	}
	var key, seedBytes [32]byte
	for i := range 8 {
		seedBytes[i] = byte(*seed >> (8 * i))
	}
	src := rand.NewChaCha8(seedBytes)
	rng := rand.New(src)
	var b strings.Builder
	b.Grow(*n * 110)
	b.WriteString(`{"types":["bytes32","uint256"],"values":[`)
	amount := new(big.Int)
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(9), nil) // rao per TAO
	for i := range *n {
		if i > 0 {
			b.WriteByte(',')
		}
		src.Read(key[:])
		// Amounts in rao (1e-9 TAO): a quarter below 1000, a quarter
		// any uint64, half any uint64 number of TAO (up to ~1.8e28 rao,
		// past 64 bits).
		switch rng.IntN(4) {
		case 0:
			amount.SetUint64(rng.Uint64N(1000))
		case 1:
			amount.SetUint64(rng.Uint64())
		default:
			amount.SetUint64(rng.Uint64())
			amount.Mul(amount, scale)
			amount.Add(amount, new(big.Int).SetUint64(rng.Uint64N(1e9)))
		}
		fmt.Fprintf(&b, `["0x%s","%s"]`, hex.EncodeToString(key[:]), amount.String())
	}
	b.WriteString("]}\n")
	return os.WriteFile(*out, []byte(b.String()), 0o644)
}

// sample returns the indices whose proofs both sides digest and Go
// verifies: every n/1000th and the last.
func sample(n int) []int {
	step := max(1, n/1000)
	var ix []int
	for i := 0; i < n; i += step {
		ix = append(ix, i)
	}
	if ix[len(ix)-1] != n-1 {
		ix = append(ix, n-1)
	}
	return ix
}

// proofDigest is sha256 over "i:hash,hash,...\n" for the sampled indices,
// as oz.mjs computes it, so the two sides' proofs can be compared.
func proofDigest(ix []int, proofs [][]merkle.Hash) string {
	d := sha256.New()
	for _, i := range ix {
		fmt.Fprintf(d, "%d:", i)
		for k, h := range proofs[i] {
			if k > 0 {
				d.Write([]byte{','})
			}
			d.Write([]byte(h.String()))
		}
		d.Write([]byte{'\n'})
	}
	return hex.EncodeToString(d.Sum(nil))
}

func readClaims(path string) (claims, error) {
	var c claims
	data, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	in := fs.String("in", "", "claims file from gen")
	verifyAll := fs.Bool("verify-all", false, "also time verifying every proof against the root (what @openzeppelin's getProof does for each proof it returns)")
	fs.Parse(args)
	c, err := readClaims(*in)
	if err != nil {
		return err
	}

	t0 := time.Now()
	tree, err := merkle.New(c.Types, c.Values)
	if err != nil {
		return err
	}
	t1 := time.Now()
	proofs := tree.Proofs()
	t2 := time.Now()

	// Not timed: the output must be right for the timing to mean anything.
	root := tree.Root()
	if len(proofs) != len(c.Values) {
		return fmt.Errorf("%d proofs for %d values", len(proofs), len(c.Values))
	}
	ix := sample(len(c.Values))
	for _, i := range ix {
		ok, err := merkle.VerifyValue(root, c.Types, c.Values[i], proofs[i])
		if err != nil || !ok {
			return fmt.Errorf("proof of value %d does not verify (%v)", i, err)
		}
		if p, _ := tree.Proof(i); !slices.Equal(p, proofs[i]) {
			return fmt.Errorf("proof of value %d differs from Proof(%d)", i, i)
		}
	}

	extra := ""
	if *verifyAll {
		t3 := time.Now()
		for i, v := range c.Values {
			leaf, err := tree.LeafHash(v)
			if err != nil || !merkle.Verify(root, leaf, proofs[i]) {
				return fmt.Errorf("proof of value %d does not verify (%v)", i, err)
			}
		}
		extra = fmt.Sprintf(" verify_all=%.6f", time.Since(t3).Seconds())
	}

	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("impl=go n=%d build=%.6f proofs=%.6f rss_mb=%d root=%s digest=%s sampled=%d%s\n",
		tree.Len(), t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), ru.Maxrss/1024, root, proofDigest(ix, proofs), len(ix), extra)
	return nil
}
