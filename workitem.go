package agora

import (
	"context"
	"fmt"
	"time"
)

// Work item states. A work item's state follows its latest claim: open
// with no live claim, claimed while that claim is active, completed once
// the claim was submitted. A cancelled or lapsed claim opens it again.
const (
	WorkItemOpen      = "open"
	WorkItemClaimed   = "claimed"
	WorkItemCompleted = "completed"
)

// Work item bounds.
const (
	MaxWorkItemTitle        = 255
	MaxWorkItemInstructions = 20000
)

// WorkItem is a unit of planned work on a task (BitSota's planner work
// items): a title and instructions a miner claims instead of the task
// itself. Claiming one creates an ordinary claim on its task; the
// submission that uses that claim completes it.
type WorkItem struct {
	ID           string `json:"id"`
	TaskID       string `json:"task_id"`
	Title        string `json:"title"`
	Instructions string `json:"instructions"`
	// Priority orders open items, highest first (BitSota's clients sort
	// by -priority, then created_at).
	Priority int `json:"priority"`
	// BaseSubmissionID names a submission of the task the work builds on.
	BaseSubmissionID string `json:"base_submission_id,omitempty"`
	// Status is computed from the item's claim (see the constants).
	Status string `json:"status"`
	// ClaimID and Miner are the latest claim on the item and its miner.
	ClaimID   string    `json:"claim_id,omitempty"`
	Miner     string    `json:"miner_hotkey,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate returns EINVALID naming the first bad field.
func (w *WorkItem) Validate() error {
	bad := func(field, format string, args ...any) error {
		return Errorf(EINVALID, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	switch {
	case w.TaskID == "":
		return bad("task_id", "required")
	case len(w.Title) < 3 || len(w.Title) > MaxWorkItemTitle:
		return bad("title", "must be 3-%d characters", MaxWorkItemTitle)
	case len(w.Instructions) > MaxWorkItemInstructions:
		return bad("instructions", "at most %d characters", MaxWorkItemInstructions)
	case w.Priority < -1000 || w.Priority > 1000:
		return bad("priority", "must be -1000 to 1000")
	}
	return nil
}

// WorkItemStatus is the state of a work item whose latest claim has
// status claimStatus ("" for none).
func WorkItemStatus(claimStatus string) string {
	switch claimStatus {
	case ClaimActive:
		return WorkItemClaimed
	case ClaimSubmitted:
		return WorkItemCompleted
	}
	return WorkItemOpen
}

// WorkItemFilter selects work items.
type WorkItemFilter struct {
	ID     *string
	TaskID *string
	Status *string
	Offset int
	Limit  int
}

// WorkItemService stores work items.
type WorkItemService interface {
	// CreateWorkItem stores w (ID, status and times set): EINVALID,
	// ENOTFOUND for its task, EINVALID for a base submission of another
	// task.
	CreateWorkItem(ctx context.Context, w *WorkItem) error
	// FindWorkItems returns the items f selects, highest priority first,
	// then oldest.
	FindWorkItems(ctx context.Context, f WorkItemFilter) ([]*WorkItem, error)
	// ClaimWorkItem claims item id for c.Miner: it creates claim c on the
	// item's task (the rules of CreateClaim) and links it to the item, in
	// one transaction. ENOTFOUND; ECONFLICT when the item is claimed or
	// completed.
	ClaimWorkItem(ctx context.Context, id string, c *Claim) (*WorkItem, error)
}
