package http_test

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/agoranet/agora"
)

func TestImportSWEbench(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		data, err := os.ReadFile("../swebench/testdata/instances.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.owner.ImportTasks(ctx, data, url.Values{"visibility": {"hidden"}, "competition": {"swe-bench"}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Created != 13 || len(resp.IDs) != 13 {
			t.Fatalf("created %d", resp.Created)
		}
		task, err := e.m1.Task(ctx, "psf__requests-6028")
		if err != nil {
			t.Fatal(err)
		}
		if task.Repository != "https://github.com/psf/requests.git" || task.Environment != "psf/requests" || !agora.IsCommit(task.BaseRef) {
			t.Fatalf("imported task: %+v", task)
		}
		if task.SWE.TestPatch != "" || task.SWE.FailToPass != nil || task.SWE.GoldPatch != "" || task.SWE.ProblemStatement == "" {
			t.Fatal("a hidden task showed its tests or gold patch to a miner")
		}
		if full, _ := e.v1.Task(ctx, task.ID); full.SWE.TestPatch == "" || len(full.SWE.FailToPass) == 0 {
			t.Fatal("validators must see the tests")
		}
		// A second import of the same instances is refused as a whole.
		_, err = e.owner.ImportTasks(ctx, data, nil)
		wantCode(t, err, agora.ECONFLICT)
		// A malformed instance names its line; nothing is stored.
		bad := strings.Replace(string(data), `"base_commit"`, `"base_commit_x"`, 1)
		_, err = e.owner.ImportTasks(ctx, []byte(bad), nil)
		wantCode(t, err, agora.EINVALID)
		if !strings.Contains(agora.ErrorMessage(err), "line 1") {
			t.Fatalf("message does not name the item: %s", agora.ErrorMessage(err))
		}
		_, err = e.m1.ImportTasks(ctx, data, nil)
		wantCode(t, err, agora.EFORBIDDEN)
	})
}
