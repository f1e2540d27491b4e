package coordinator

import (
	"context"
	"fmt"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/clip"
	"github.com/agoranet/agora/swebench"
)

// ImportTasks turns SWE-bench instances (a JSON list, an object keyed by
// instance id, or JSONL) into swe tasks, all or none. Each task takes
// Visibility, Competition, Quorum and CreatedBy from tmpl; its repository
// is RepoSource expanded for the instance's repository
// (agora.ExpandRepoSource). EINVALID naming the first bad instance, or the
// store's (agora.TaskService.ImportTasks).
func (c *Coordinator) ImportTasks(ctx context.Context, data []byte, tmpl *agora.Task) ([]*agora.Task, error) {
	instances, itemErrs, err := swebench.ParseInstances("body", data)
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "body: %v", err)
	}
	if len(itemErrs) > 0 {
		e := itemErrs[0]
		return nil, agora.Errorf(agora.EINVALID, "%s: %s (and %d more problems)", e.Item, e.Error(), len(itemErrs)-1)
	}
	if len(instances) == 0 {
		return nil, agora.Errorf(agora.EINVALID, "body: no instances")
	}
	tasks := make([]*agora.Task, 0, len(instances))
	for _, in := range instances {
		t := in.Task(c.RepoSource)
		t.Title = fmt.Sprintf("%s: %s", in.InstanceID, firstLine(in.ProblemStatement, 200))
		t.Visibility, t.Competition, t.Source, t.Quorum, t.CreatedBy = tmpl.Visibility, tmpl.Competition, "swe-bench", tmpl.Quorum, tmpl.CreatedBy
		if _, forged := in.Extra["forge"]; forged {
			t.Source = "forge" // agora forge's record: mined or synthesized, validated by execution
		}
		tasks = append(tasks, t)
	}
	if err := c.Store.ImportTasks(ctx, tasks); err != nil {
		return nil, err
	}
	c.logger().Info("tasks imported", "count", len(tasks), "owner", tmpl.CreatedBy)
	return tasks, nil
}

// firstLine is s's first line, at most max bytes, for a title.
func firstLine(s string, max int) string {
	s = clip.Line(s, max)
	if len(s) < 3 {
		s = "SWE-bench task"
	}
	return s
}
