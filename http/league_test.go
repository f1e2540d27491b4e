package http_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

// Agents different enough from each other to pass the copy check.
var leagueAgents = map[string]string{
	"a": `import json


def agent_main(input_dict):
    statement = input_dict.get("problem_statement", "")
    return {"patch": "" if not statement else ""}
`,
	"b": `import os
import re

PATTERN = re.compile(r"[a-z_]+\(\)")


class Planner:
    def __init__(self, text):
        self.names = PATTERN.findall(text)

    def files(self):
        out = []
        for root, _, names in os.walk("/repo"):
            for n in names:
                if n.endswith(".py"):
                    out.append(os.path.join(root, n))
        return sorted(out)[:10]


def agent_main(input_dict):
    p = Planner(input_dict["problem_statement"])
    return {"patch": "\n".join(p.files()) and ""}
`,
	"c": `import urllib.request
import hashlib
import sys


def ask(url, payload):
    req = urllib.request.Request(url, data=payload, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read()
    except OSError as e:
        print("proxy unreachable:", e, file=sys.stderr)
        return b""


def agent_main(input_dict):
    digest = hashlib.sha256(input_dict["run_id"].encode()).hexdigest()
    while len(digest) > 8:
        digest = digest[: len(digest) // 2]
    reply = ask("http://127.0.0.1:8000/v1/chat/completions", digest.encode())
    return {"patch": reply.decode(errors="replace") if reply.startswith(b"diff") else ""}
`,
}

// copyOfC is agent c with names changed and comments added: a near-copy.
var copyOfC = strings.NewReplacer("ask", "query", "payload", "body", "digest", "h", "reply", "answer").Replace(leagueAgents["c"]) + "# my own work\n"

func upload(t *testing.T, c *agorahttp.Client, s *hotkey.Signer, comp, code string, version int) (*agora.Agent, error) {
	t.Helper()
	sum := agora.SHA256Hex([]byte(code))
	sig, err := s.Sign([]byte(agora.AgentUploadMessage(s.Address(), sum, version)))
	if err != nil {
		t.Fatal(err)
	}
	return c.UploadAgent(ctx, comp, agorahttp.AgentUploadRequest{Version: version, Code: code, SHA256: sum, Signature: hex.EncodeToString(sig)})
}

// TestLeague runs the league's stages and crowning rule over the API, with
// a validator answering the jobs: 200 problems so 1% and 2% gains exist.
func TestLeague(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		e.coord.Rewards = []agora.RewardPolicy{{Competition: "lg", Mode: agora.RewardWinnerTakesAll, Budget: 1000}}
		const problems = 200
		var screening []string
		for i := 0; i < problems; i++ {
			task := testingutil.SWETask(fmt.Sprintf("lg-%03d", i))
			task.Competition = "lg"
			task.Visibility = agora.VisibilityHidden
			if _, err := e.owner.CreateTask(ctx, task); err != nil {
				t.Fatal(err)
			}
			if i < 2 {
				screening = append(screening, task.Slug)
			}
		}
		l := &agora.League{Competition: "lg", ScreeningTasks: screening, ScreeningMinScore: 0.5}
		if _, err := e.m1.PutLeague(ctx, l); agora.ErrorCode(err) != agora.EFORBIDDEN {
			t.Fatalf("a miner configured a league: %v", err)
		}
		if _, err := e.owner.PutLeague(ctx, &agora.League{Competition: "lg", ScreeningTasks: []string{"nope"}}); agora.ErrorCode(err) != agora.EINVALID {
			t.Fatalf("unknown screening task: %v", err)
		}
		if _, err := e.owner.PutLeague(ctx, l); err != nil {
			t.Fatal(err)
		}

		miners := map[string]*hotkey.Signer{}
		clients := map[string]*agorahttp.Client{}
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			miners[name] = mustKey(t, "//LeagueMiner"+name)
			clients[name] = agorahttp.NewClient(e.srv.URL(), miners[name])
		}
		// solve answers every queued job: resolved for the first n problems
		// of each agent (screening first), unresolved for the rest.
		solved := map[string]int{}
		solve := func(quota map[string]int) {
			replay(t, e.v1, func(ls *agora.Lease) (*agora.Result, string) {
				id := ls.Submission.AgentID
				if id == "" {
					t.Fatalf("not an agent job: %+v", ls.Submission)
				}
				if solved[id] < quota[id] {
					solved[id]++
					return &agora.Result{Status: agora.ResultAccepted, Agent: &agora.AgentReport{Patch: "diff", InferenceMicroUSD: 1234, Calls: 1}}, ""
				}
				return &agora.Result{Status: agora.ResultRejected, Reason: "not resolved", Agent: &agora.AgentReport{ErrorKind: "crash", Error: "boom"}}, ""
			})
		}
		run := func(name, code string, resolved int) *agora.Agent {
			t.Helper()
			a, err := upload(t, clients[name], miners[name], "lg", code, 1)
			if err != nil {
				t.Fatalf("upload %s: %v", name, err)
			}
			solve(map[string]int{a.ID: resolved})
			got, err := e.anon.Agent(ctx, a.ID)
			if err != nil || !got.Final() {
				t.Fatalf("%s not final: %v %+v", name, err, got)
			}
			return got
		}

		// A fails screening: 0 of 2.
		if a := run("a", leagueAgents["a"], 0); a.Status != agora.AgentFailedScreening || a.Crowned || *a.Score != 0 || !strings.Contains(a.Decision, "screening") {
			t.Fatalf("a: %+v", a)
		}
		// B passes screening and resolves 100 of 200: the first crown.
		b := run("b", leagueAgents["b"], 100)
		if b.Status != agora.AgentScored || *b.Score != 0.5 || !b.Crowned || b.Problems != problems {
			t.Fatalf("b: %+v", b)
		}
		// C: 101/200 is 1% better, under the 1.5% margin: B keeps the crown.
		c1 := run("c", leagueAgents["c"], 101)
		if c1.Crowned || *c1.Score != 0.505 {
			t.Fatalf("c v1 took the crown with 1%%: %+v", c1)
		}
		// C v2: 102/200 is 2% better: crowned.
		v2 := strings.Replace(leagueAgents["c"], "timeout=5", "timeout=7", 1)
		c2, err := upload(t, clients["c"], miners["c"], "lg", v2, 2)
		if err != nil {
			t.Fatal(err)
		}
		solve(map[string]int{c2.ID: 102})
		if c2, _ = e.anon.Agent(ctx, c2.ID); !c2.Crowned || *c2.Score != 0.51 {
			t.Fatalf("c v2 not crowned with 2%%: %+v", c2)
		}
		// D copies C and gets the same score: flagged, not crowned.
		d := run("d", copyOfC, 102)
		if d.Crowned || d.SimilarTo == "" || d.Similarity <= 0.9 {
			t.Fatalf("copy: %+v", d)
		}
		lg, err := e.anon.League(ctx, "lg")
		if err != nil || lg.CrownAgent != c2.ID || lg.CrownScore != 0.51 || len(lg.Standings) != 5 || lg.Standings[0].ID != c2.ID {
			t.Fatalf("league: %v %+v", err, lg)
		}

		// Winner takes all: the crown holder's miner is paid.
		var resp agorahttp.EpochResponse
		if err := e.owner.CallJSON(ctx, "POST", "/api/v1/epochs/close", nil, &resp); err != nil {
			t.Fatal(err)
		}
		var snap agora.RewardSnapshot
		json.Unmarshal(resp.Snapshot, &snap)
		if len(snap.Payouts) != 1 || snap.Payouts[0].Hotkey != miners["c"].Address() || snap.Payouts[0].Amount != 1000 {
			t.Fatalf("payouts: %+v", snap.Payouts)
		}

		// Code is public once final; the validator fetches it by hash.
		if code, err := getRaw(e.anon, "/api/v1/agents/"+b.ID+"/code"); err != nil || code != leagueAgents["b"] {
			t.Fatalf("public code: %v", err)
		}
		if code, err := e.v1.AgentCode(ctx, b.SHA256); err != nil || string(code) != leagueAgents["b"] {
			t.Fatalf("validator code: %v", err)
		}
		if _, err := e.m1.AgentCode(ctx, b.SHA256); agora.ErrorCode(err) != agora.EFORBIDDEN {
			t.Fatalf("a miner used the validator code route: %v", err)
		}
	})
}

// TestAgentUploadRefusals checks every way an upload is refused.
func TestAgentUploadRefusals(t *testing.T) {
	e := MustOpenServer(t, "sqlite")
	task := testingutil.SWETask("lg-one")
	task.Competition = "lg"
	if _, err := e.owner.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if _, err := e.owner.PutLeague(ctx, &agora.League{Competition: "lg", ScreeningTasks: []string{"lg-one"}, PrivateCode: true}); err != nil {
		t.Fatal(err)
	}
	code := leagueAgents["a"]
	sum := agora.SHA256Hex([]byte(code))
	sign := func(s *hotkey.Signer, msg string) string {
		sig, _ := s.Sign([]byte(msg))
		return hex.EncodeToString(sig)
	}
	good := agorahttp.AgentUploadRequest{Version: 1, Code: code, SHA256: sum, Signature: sign(e.k.m1, agora.AgentUploadMessage(e.k.m1.Address(), sum, 1))}
	for name, tc := range map[string]struct {
		mut  func(r *agorahttp.AgentUploadRequest)
		code string
		msg  string
	}{
		"hash of other bytes": {func(r *agorahttp.AgentUploadRequest) { r.Code += "\n" }, agora.EINVALID, "does not match"},
		"signed other hash": {func(r *agorahttp.AgentUploadRequest) {
			other := agora.SHA256Hex([]byte("x"))
			r.SHA256, r.Code = other, "x"
		}, agora.EINVALID, "signature"},
		"signed by another": {func(r *agorahttp.AgentUploadRequest) {
			r.Signature = sign(e.k.m2, agora.AgentUploadMessage(e.k.m1.Address(), sum, 1))
		}, agora.EINVALID, "signature"},
		"signed other version": {func(r *agorahttp.AgentUploadRequest) { r.Version = 2 }, agora.EINVALID, "signature"},
		"stale version": {func(r *agorahttp.AgentUploadRequest) {
			r.Version = 3
			r.Signature = sign(e.k.m1, agora.AgentUploadMessage(e.k.m1.Address(), sum, 3))
		}, agora.ECONFLICT, "next version is 1"},
		"not python": {func(r *agorahttp.AgentUploadRequest) {
			r.Code = "def agent_main(:\n"
			r.SHA256 = agora.SHA256Hex([]byte(r.Code))
			r.Signature = sign(e.k.m1, agora.AgentUploadMessage(e.k.m1.Address(), r.SHA256, 1))
		}, agora.EUNPROCESSABLE, ""},
		"no agent_main": {func(r *agorahttp.AgentUploadRequest) {
			r.Code = "def main(x):\n    return {}\n"
			r.SHA256 = agora.SHA256Hex([]byte(r.Code))
			r.Signature = sign(e.k.m1, agora.AgentUploadMessage(e.k.m1.Address(), r.SHA256, 1))
		}, agora.EUNPROCESSABLE, "agent_main"},
		"too large": {func(r *agorahttp.AgentUploadRequest) {
			r.Code = strings.Repeat("#", agora.MaxAgentBytes+1)
		}, agora.ETOOLARGE, ""},
	} {
		t.Run(name, func(t *testing.T) {
			req := good
			tc.mut(&req)
			_, err := e.m1.UploadAgent(ctx, "lg", req)
			if agora.ErrorCode(err) != tc.code || !strings.Contains(agora.ErrorMessage(err), tc.msg) {
				t.Fatalf("got %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
	if _, err := e.m1.UploadAgent(ctx, "no-league", good); agora.ErrorCode(err) != agora.ENOTFOUND {
		t.Fatalf("unknown league: %v", err)
	}
	a, err := e.m1.UploadAgent(ctx, "lg", good)
	if err != nil {
		t.Fatal(err)
	}
	// During evaluation: 409, even for the right next version.
	next := agorahttp.AgentUploadRequest{Version: 2, Code: code, SHA256: sum, Signature: sign(e.k.m1, agora.AgentUploadMessage(e.k.m1.Address(), sum, 2))}
	status, body := raw(t, e, "GET", "/api/v1/agents/"+a.ID, nil, nil)
	if status != 200 || !strings.Contains(body, agora.AgentScreening) {
		t.Fatalf("agent: %d %s", status, body)
	}
	if _, err := e.m1.UploadAgent(ctx, "lg", next); agora.ErrorCode(err) != agora.ECONFLICT || !strings.Contains(err.Error(), "under evaluation") {
		t.Fatalf("upload during evaluation: %v", err)
	}
	// Private code: not for strangers, even once final; for its miner, yes.
	replay(t, e.v1, func(l *agora.Lease) (*agora.Result, string) {
		return &agora.Result{Status: agora.ResultRejected, Reason: "no"}, ""
	})
	if _, err := getRaw(e.anon, "/api/v1/agents/"+a.ID+"/code"); agora.ErrorCode(err) != agora.EFORBIDDEN {
		t.Fatalf("private code served: %v", err)
	}
	var mine []byte
	if err := e.m1.CallJSON(ctx, "GET", "/api/v1/agents/"+a.ID+"/code", nil, &mine); err != nil || string(mine) != code {
		t.Fatalf("own code: %v", err)
	}
	// Final now: version 2 is welcome.
	if _, err := e.m1.UploadAgent(ctx, "lg", next); err != nil {
		t.Fatal(err)
	}
	list, total, err := e.anon.Agents(ctx, url.Values{"competition": {"lg"}})
	if err != nil || total != 2 || list[0].Version != 2 {
		t.Fatalf("list: %v %d", err, total)
	}
}

func getRaw(c *agorahttp.Client, path string) (string, error) {
	var b []byte
	err := c.CallJSON(ctx, "GET", path, nil, &b)
	return string(b), err
}
