package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
)

// NOTE: these are the parts of `agora up` beyond the bounties: the agent
// league, the reward epoch and the replay hint. Run (up.go) calls them at
// fixed points; they are kept here so up.go stays short.

// upRewardPolicies pays both demo competitions winner takes all, so the
// epoch `agora up` closes has claims: the bounties' best miner and the
// league's crowned agent.
func upRewardPolicies() listFlag {
	return listFlag{demo.Competition + ":winner_takes_all:1000", demo.LeagueCompetition + ":winner_takes_all:1000"}
}

// startUpstream serves the demo's scripted OpenAI-compatible upstream on a
// loopback port and points the validator's inference proxy at it, so
// league agents run through the real proxy (metered, budgeted) with no
// provider and no key. The returned function stops it.
func (c *UpCommand) startUpstream(vc *ValidatorCommand) (stop func(), err error) {
	h, err := demo.Upstream()
	if err != nil {
		return func() {}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return func() {}, fmt.Errorf("demo upstream: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	// The proxy's flags, parsed: every default as `agora validator` has it.
	fs := flag.NewFlagSet("agora-up-proxy", flag.ContinueOnError)
	vc.Proxy.register(fs)
	if err := fs.Parse([]string{"--upstream", "demo=http://" + ln.Addr().String() + "/v1", "--price", demo.ModelPrice}); err != nil {
		srv.Close()
		return func() {}, err
	}
	return func() { srv.Close() }, nil
}

// upLeague is the demo league as `agora up` entered it.
type upLeague struct {
	competition string
	// agents are the uploaded versions' ids, and who uploaded each.
	agents []upAgent
}

type upAgent struct {
	id, name, file string
}

// startLeague posts the demo league (its hidden problems and rules) and
// has its miners upload the example agents; a second `agora up` on the
// same data directory finds them there and uploads nothing.
func (c *UpCommand) startLeague(ctx context.Context, url, dir string, ownerAPI *agorahttp.Client) (*upLeague, error) {
	lg, err := demo.InstallLeague(ctx, dir)
	if err != nil {
		return nil, err
	}
	for _, t := range lg.Tasks {
		if _, err := ensureTask(ctx, ownerAPI, t); err != nil {
			return nil, err
		}
	}
	if _, err := ownerAPI.League(ctx, lg.League.Competition); agora.ErrorCode(err) == agora.ENOTFOUND {
		if _, err := ownerAPI.PutLeague(ctx, lg.League); err != nil {
			return nil, fmt.Errorf("demo league: %s", message(err))
		}
	} else if err != nil {
		return nil, err
	}
	out := &upLeague{competition: lg.League.Competition}
	for _, e := range demo.LeagueMiners {
		key, _ := hotkey.FromURI(e.URI)
		code, err := e.Code()
		if err != nil {
			return nil, err
		}
		api := agorahttp.NewClient(url, key)
		mine, _, err := api.Agents(ctx, urlValues("competition", out.competition, "miner_hotkey", key.Address(), "limit", "1"))
		if err != nil {
			return nil, err
		}
		a := (*agora.Agent)(nil)
		version := 1
		if len(mine) > 0 {
			version = mine[0].Version + 1
			if mine[0].SHA256 == agora.SHA256Hex(code) {
				a = mine[0]
			}
		}
		if a == nil {
			if a, err = uploadAgent(ctx, api, key, out.competition, code, version); err != nil {
				return nil, fmt.Errorf("demo %s: upload %s: %s", e.Name, e.File, message(err))
			}
		}
		out.agents = append(out.agents, upAgent{id: a.ID, name: e.Name, file: e.File})
	}
	return out, nil
}

func urlValues(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// showLeague waits until every demo agent is final (or the deadline, with
// --once an error) and prints the league's standings.
func (c *UpCommand) showLeague(ctx context.Context, say func(string, ...any), anon *agorahttp.Client, lg *upLeague, deadline time.Time) error {
	final := map[string]*agora.Agent{}
	for len(final) < len(lg.agents) {
		for _, a := range lg.agents {
			if final[a.id] != nil {
				continue
			}
			if got, err := anon.Agent(ctx, a.id); err == nil && got.Final() {
				final[a.id] = got
			}
		}
		if len(final) == len(lg.agents) {
			break
		}
		if c.Once && time.Now().After(deadline) {
			return fmt.Errorf("league: %d of %d demo agents still running after %s", len(lg.agents)-len(final), len(lg.agents), c.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	say("\nleague %s (agents through the metered proxy, scripted upstream, no key):", lg.competition)
	for _, a := range lg.agents {
		g := final[a.id]
		score := "-"
		if g.Score != nil {
			score = fmt.Sprintf("%.2f", *g.Score)
		}
		crown := ""
		if g.Crowned {
			crown = "crowned"
		}
		say("    %-8s %-15s v%d  %-16s score %s (%d/%d resolved) %s", a.name, a.file, g.Version, g.Status, score, g.Resolved, g.Problems, crown)
	}
	return nil
}

// closeEpoch closes a reward epoch and prints its claims, each checked
// against the epoch's Merkle root with the proof the API serves.
func (c *UpCommand) closeEpoch(ctx context.Context, say func(string, ...any), ownerAPI, anon *agorahttp.Client) error {
	e, err := ownerAPI.CloseEpoch(ctx)
	if err != nil {
		return fmt.Errorf("close epoch: %s", message(err))
	}
	var snap agora.RewardSnapshot
	if err := json.Unmarshal(e.Snapshot, &snap); err != nil {
		return fmt.Errorf("epoch %d snapshot: %w", e.Number, err)
	}
	n := 0
	for _, p := range snap.Payouts {
		if p.Cumulative > 0 {
			n++
		}
	}
	say("\nepoch %d closed: %d claims, Merkle root %s", e.Number, n, firstN(e.Root, 20))
	for _, p := range snap.Payouts {
		if p.Cumulative == 0 {
			continue
		}
		check := "proof verified"
		proof, err := anon.ClaimProof(ctx, e.Number, p.Hotkey)
		if err == nil {
			err = verifyClaimProof(proof.Root, proof.Types, proof.Value, proof.Proof)
		}
		if err != nil {
			check = "proof FAILED: " + message(err)
		}
		say("    %-8s claims %d units (%d this epoch), %s", marketName(p.Hotkey), p.Cumulative, p.Amount, check)
	}
	return nil
}

// marketName shows a demo miner's or league miner's name, or the address.
func marketName(addr string) string {
	for _, m := range demo.LeagueMiners {
		if k, _ := hotkey.FromURI(m.URI); k.Address() == addr {
			return m.Name
		}
	}
	return minerName(addr)
}

// sayReplay tells how to re-run a verdict and check its signatures.
func (c *UpCommand) sayReplay(say func(string, ...any), url, submissionID string) {
	say("        agora replay %s --coordinator %s", submissionID, url)
}
