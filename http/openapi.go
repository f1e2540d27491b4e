package http

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/agoranet/agora"
)

// op documents one route. Schemas come from the Go types by reflection, so
// the document cannot drift from what the handlers decode and encode.
type op struct {
	summary  string
	role     string // "" public, "signed" any signer, or a role
	request  any
	response any
	params   []string
}

var docs = map[string]op{
	"GET /healthz":                                {summary: "Liveness: the process answers."},
	"GET /readyz":                                 {summary: "Readiness: the database answers (204)."},
	"GET /metrics":                                {summary: "Prometheus metrics."},
	"GET /api/v1/openapi.json":                    {summary: "This document."},
	"GET /api/v1/info":                            {summary: "The coordinator's SS58 address (sign requests for it) and version.", response: Info{}},
	"POST /api/v1/tasks":                          {summary: "Create a task.", role: agora.RoleOwner, request: agora.Task{}, response: agora.Task{}},
	"POST /api/v1/tasks/import":                   {summary: "Import SWE-bench instances (JSON list, keyed JSON or JSONL) as swe tasks, all or none.", role: agora.RoleOwner, response: ImportResponse{}, params: []string{"visibility", "competition", "quorum"}},
	"GET /api/v1/tasks":                           {summary: "List tasks.", response: ListResponse[agora.Task]{}, params: []string{"kind", "state", "competition", "limit", "offset"}},
	"GET /api/v1/tasks/{id}":                      {summary: "Get a task by id or slug; hidden tests and gold data only for owners and validators.", response: agora.Task{}},
	"GET /api/v1/tasks/{id}/onboard.md":           {summary: "Onboarding markdown generated from the task record."},
	"POST /api/v1/tasks/{id}/{action}":            {summary: "claim (miner; body ClaimRequest), or pause, resume, close (owner).", role: "signed", request: ClaimRequest{}, response: agora.Claim{}},
	"GET /api/v1/tasks/{id}/best":                 {summary: "The task's best result.", response: agora.Standing{}},
	"GET /api/v1/tasks/{id}/leaderboard":          {summary: "The task's leaderboard.", response: agora.TaskBoard{}},
	"GET /api/v1/competitions/{name}/leaderboard": {summary: "Standings across a competition's tasks (name \"all\" for every task).", response: CompetitionBoard{}},
	"GET /api/v1/claims":                          {summary: "List claims.", response: ListResponse[agora.Claim]{}, params: []string{"task_id", "miner", "status", "limit", "offset"}},
	"POST /api/v1/claims/{id}/cancel":             {summary: "Cancel your active claim.", role: agora.RoleMiner, response: agora.Claim{}},
	"POST /api/v1/submissions":                    {summary: "Submit a patch and/or artifact; idempotent by client_key (201 new, 200 repeat).", role: agora.RoleMiner, request: SubmitRequest{}, response: agora.Submission{}},
	"GET /api/v1/submissions":                     {summary: "List submissions (mine=1 with a signature for your own).", response: ListResponse[agora.Submission]{}, params: []string{"task_id", "miner", "status", "mine", "limit", "offset"}},
	"GET /api/v1/submissions/{id}":                {summary: "A submission and its verdict.", response: agora.Submission{}},
	"POST /api/v1/submissions/{id}/peer-evaluate": {summary: "Evaluate a submission on a peer_evaluation task: registered miners (--miner, or the subnet's metagraph with --chain) the coordinator assigned to it, once each (409 on a second); 403 for anyone else, and for everyone when no miners are registered.", role: agora.RoleMiner, request: EvaluationRequest{}, response: agora.Result{}},
	"GET /api/v1/peer-assignments":                {summary: "Your peer evaluation assignments (registered miners), with the submissions to replay; owners and validators may list anyone's.", role: agora.RoleMiner, response: ListResponse[agora.Assignment]{}, params: []string{"submission_id", "done", "evaluator", "limit", "offset"}},
	"POST /api/v1/submissions/{id}/release":       {summary: "Release a submission the tampering scan held (status held): its replay jobs are queued. The task's owner only; idempotent; 409 once rejected.", role: agora.RoleOwner, response: agora.Submission{}},
	"POST /api/v1/submissions/{id}/reject":        {summary: "Reject a submission the tampering scan held, without a replay. The task's owner only; idempotent; 409 once released.", role: agora.RoleOwner, response: agora.Submission{}},
	"GET /api/v1/verifications":                   {summary: "A submission's results (its miner, owners, validators). On a sealed task (hidden, or graded with a validator-only environment) its miner sees each result's status and reason class only (tests_failed, patch_refused, runner_tampered, timeout, agent_failed, rejected, error).", response: ListResponse[agora.Result]{}, params: []string{"submission_id"}},
	"POST /api/v1/validator/submissions/scan":     {summary: "Lease replay jobs.", role: agora.RoleValidator, request: ScanRequest{}, response: ScanResponse{}},
	"POST /api/v1/validator/jobs/{id}/renew":      {summary: "Extend a held lease.", role: agora.RoleValidator, request: RenewRequest{}, response: agora.Job{}},
	"POST /api/v1/validator/jobs/{id}/release":    {summary: "Give a held job back to the queue.", role: agora.RoleValidator, response: agora.Job{}},
	"POST /api/v1/validator/jobs/{id}/result":     {summary: "Record a replay result; idempotent per job (201 new, 200 repeat, 409 different).", role: agora.RoleValidator, request: ResultRequest{}, response: agora.Result{}},
	"GET /api/v1/replay-specs/{hash}":             {summary: "A frozen replay spec by SHA-256: whole for owners and validators; for anyone else as GET /api/v1/replays serves it (403 while withheld, validator-only values elided and named in the Agora-Elided header).", response: agora.ReplaySpec{}},
	"GET /api/v1/replays":                         {summary: "Public replay records (agora replay): a submission's replay spec (withheld while its hidden task is open or it has no verdict; validator_benchmark_env values elided and listed in elided) and its signed results.", response: ListResponse[Replay]{}, params: []string{"submission_id", "spec_hash"}},
	"GET /api/v1/logs/{hash}":                     {summary: "A full replay log by SHA-256 (owners, validators)."},
	"POST /api/v1/epochs/close":                   {summary: "Close the next reward epoch: snapshot and claim tree, stored whole or not at all.", role: agora.RoleOwner, response: EpochResponse{}},
	"GET /api/v1/reward-snapshot":                 {summary: "The latest closed epoch's reward snapshot.", response: agora.RewardSnapshot{}},
	"GET /api/v1/epochs/{n}/reward-snapshot":      {summary: "Epoch n's reward snapshot.", response: agora.RewardSnapshot{}},
	"GET /api/v1/epochs/{n}/merkle.json":          {summary: "Epoch n's claim tree as an OpenZeppelin standard-v1 dump (leaves: bytes32 public key, uint256 cumulative amount)."},
	"GET /api/v1/epochs/{n}/proofs/{hotkey}":      {summary: "A hotkey's claim and proof in epoch n.", response: ProofResponse{}},
	"PUT /api/v1/leagues/{competition}":           {summary: "Create or reconfigure a competition's agent league (screening tasks, minimum, margin, budgets); the crown is kept.", role: agora.RoleOwner, request: agora.League{}, response: agora.League{}},
	"GET /api/v1/leagues/{competition}":           {summary: "A league, its crown and standings.", response: LeagueResponse{}},
	"POST /api/v1/leagues/{competition}/agents":   {summary: "Upload an agent version: code, its sha256 and version, signed by the hotkey over hotkey:sha256:version. 409 while the previous version is under evaluation or for a stale version; 422 when the static checks fail.", role: agora.RoleMiner, request: AgentUploadRequest{}, response: agora.Agent{}},
	"GET /api/v1/agents":                          {summary: "List agent versions.", params: []string{"competition", "miner_hotkey", "status", "limit", "offset"}},
	"GET /api/v1/agents/{id}":                     {summary: "An agent version, its stage and scores.", response: agora.Agent{}},
	"GET /api/v1/agents/{id}/code":                {summary: "An agent's code: public once its evaluation ends (unless the league keeps code private); before, its miner, owners and validators."},
	"GET /api/v1/validator/agent-code/{sha256}":   {summary: "Agent code by SHA-256, for the validator running it.", role: agora.RoleValidator},
	"GET /api/v1/epochs/{n}/multiproof":           {summary: "A multiproof of the claims of ?hotkey=A&hotkey=B... in epoch n (leaves in tree order, for MerkleProof.multiProofVerify).", response: MultiProofResponse{}},
	"GET /api/v1/dataset/{format}":                {summary: "The public dataset (format parquet or jsonl): rows, generation time, and its files with size and SHA-256. One row per graded submission; hidden tasks are left out until they close. Generated on demand, at most once per --dataset-max-age.", response: agora.DatasetManifest{}},
	"GET /api/v1/dataset/{format}/README.md":      {summary: "The public dataset's card: YAML front matter (configs, dataset_info.features, splits) in the Hugging Face layout, then what the rows hold and leave out. ETag is its SHA-256."},
	"GET /api/v1/dataset/{format}/data/{file}":    {summary: "A data file of the public dataset, train-NNNNN-of-NNNNN.parquet or .jsonl as the manifest lists. ETag is the file's SHA-256 (If-None-Match gives 304); ranges are served."},
	"GET /api/v1/events":                          {summary: "Server-Sent Events: task.created, job.available, verdict. Resume with Last-Event-ID.", params: []string{"after"}},
}

// btDocs documents the BitSota compatibility surface (bitsota.go), served
// under BitSotaPrefix when the coordinator runs with --bitsota. Requests
// are signed BT-AUTH-V1; lists are bare arrays; errors are BitSotaError.
var btDocs = map[string]op{
	"GET /api/v1/tasks":                           {summary: "List tasks as BitSota rows: onboard_path, the poster's onboard_md, is_active.", response: []agora.Task{}, params: []string{"kind", "state", "competition", "limit", "offset"}},
	"POST /api/v1/tasks":                          {summary: "Create a task (BitSota's CreateTaskRequest: kind may be left out, metric; onboard_md stored; is_active false creates it paused).", role: agora.RoleOwner, request: BitSotaTaskRequest{}, response: agora.Task{}},
	"GET /api/v1/tasks/{id}":                      {summary: "A task as a BitSota row.", response: agora.Task{}},
	"GET /api/v1/tasks/{id}/onboard.md":           {summary: "Onboarding markdown: the poster's onboard_md, then the part rendered from the task record."},
	"POST /api/v1/tasks/{id}/claim":               {summary: "Claim a task.", role: agora.RoleMiner, request: BitSotaClaimRequest{}, response: agora.Claim{}},
	"GET /api/v1/claims":                          {summary: "List claims.", response: []agora.Claim{}, params: []string{"task_id", "miner_hotkey", "status", "limit", "offset"}},
	"POST /api/v1/claims/{id}/cancel":             {summary: "Cancel your active claim (no body).", role: agora.RoleMiner, response: agora.Claim{}},
	"GET /api/v1/work-items":                      {summary: "List work items, highest priority first; status open, claimed or completed follows the item's latest claim.", response: []agora.WorkItem{}, params: []string{"task_id", "status", "limit", "offset"}},
	"POST /api/v1/work-items":                     {summary: "Plan a work item on a task.", role: agora.RoleOwner, request: BitSotaWorkItemRequest{}, response: agora.WorkItem{}},
	"POST /api/v1/work-items/{id}/claim":          {summary: "Claim a work item: a claim on its task (answered with work_item_id); the submission on that claim completes the item. 409 while claimed or once completed.", role: agora.RoleMiner, request: BitSotaClaimRequest{}, response: agora.Claim{}},
	"GET /api/v1/idea-rewards":                    {summary: "Idea rewards of centerless tasks: each accepted submission implementing another miner's idea credits the proposer and the implementer, half each (the earliest implementation per idea and miner).", response: []agora.IdeaReward{}, params: []string{"task_id", "miner_hotkey", "submission_id"}},
	"POST /api/v1/submissions":                    {summary: "Submit; claim_id alone names the task.", role: agora.RoleMiner, request: SubmitRequest{}, response: agora.Submission{}},
	"GET /api/v1/submissions":                     {summary: "List submissions.", response: []agora.Submission{}, params: []string{"task_id", "miner_hotkey", "status", "limit", "offset"}},
	"GET /api/v1/submissions/{id}":                {summary: "A submission (base_commit_sha beside base_ref).", response: agora.Submission{}},
	"GET /api/v1/submissions/{id}/detail":         {summary: "A submission with its verifications, peer evaluations, peer consensus, idea rewards and metric name; results as GET /api/v1/verifications shows them."},
	"GET /api/v1/submissions/{id}/peer-consensus": {summary: "Peer consensus: committee_count, accepted_count, rejected_count, error_count, status, metrics."},
	"POST /api/v1/submissions/{id}/peer-evaluate": {summary: "Evaluate a peer_evaluation submission (assigned registered miners).", role: "signed", request: EvaluationRequest{}, response: agora.Result{}},
	"POST /api/v1/submissions/{id}/verify":        {summary: "Record a result for the caller's job of the submission, leasing one when it holds none; idempotent per job. 422 for a task BitSota's runner does not replay (not a metric task without a score command).", role: agora.RoleValidator, request: ResultRequest{}, response: agora.Result{}},
	"GET /api/v1/peer-evaluations":                {summary: "A submission's peer evaluations (evaluator_hotkey); the public sees a decided submission's, redacted, and none while it is pending.", response: []agora.Result{}, params: []string{"submission_id", "evaluator_hotkey", "status"}},
	"GET /api/v1/verifications":                   {summary: "A submission's validator results, id = job id; the public sees a decided submission's, redacted (status, reason class, validator, time), and none while it is pending.", response: []agora.Result{}, params: []string{"submission_id"}},
	"POST /api/v1/validator/submissions/scan":     {summary: "Lease replay jobs (body {task_id} or none) of tasks BitSota's runner replays: metric tasks without a score command. Jobs carry submission, task and replay_spec.", role: agora.RoleValidator, request: ScanRequest{}},
	"POST /api/v1/validator/jobs/claim":           {summary: "Lease one job; 404 \"no pending validator jobs\" when none.", role: agora.RoleValidator, request: ScanRequest{}},
	"POST /api/v1/validator/jobs/{id}/result":     {summary: "Record a replay result; idempotent per job (201 new, 200 repeat, 409 different).", role: agora.RoleValidator, request: ResultRequest{}, response: agora.Result{}},
}

var openapiJSON = mustOpenAPI()

func mustOpenAPI() []byte {
	schemas := map[string]any{}
	paths := map[string]map[string]any{}
	routes := map[string]op{}
	for route, o := range docs {
		routes[route] = o
	}
	for route, o := range btDocs {
		method, path, _ := strings.Cut(route, " ")
		routes[method+" "+BitSotaPrefix+path] = o
	}
	for route, o := range routes {
		method, path, _ := strings.Cut(route, " ")
		bitsota := strings.HasPrefix(path, BitSotaPrefix+"/")
		op := map[string]any{"summary": o.summary, "responses": map[string]any{}}
		resp := map[string]any{"description": "OK"}
		if o.response != nil {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": schemaRef(schemas, reflect.TypeOf(o.response))}}
		}
		var errType any = ErrorResponse{}
		if bitsota {
			errType = BitSotaError{}
			op["tags"] = []any{"bitsota"}
		}
		op["responses"] = map[string]any{"200": resp, "default": map[string]any{
			"description": "Error", "content": map[string]any{"application/json": map[string]any{"schema": schemaRef(schemas, reflect.TypeOf(errType))}}}}
		if o.request != nil {
			op["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": schemaRef(schemas, reflect.TypeOf(o.request))}}}
		}
		var params []any
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range o.params {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if o.role != "" {
			scheme := "epistula"
			if bitsota {
				scheme = "bt-auth-v1"
			}
			op["security"] = []any{map[string]any{scheme: []any{}}}
			if o.role != "signed" {
				op["x-agora-role"] = o.role
			}
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Agora coordinator API", "version": "1",
			"description": "Signed requests carry Epistula v2 headers: Epistula-Version, Epistula-Timestamp (unix ms), Epistula-Uuid, Epistula-Signed-By (SS58), Epistula-Signed-For (the coordinator's address from /api/v1/info), Epistula-Request-Target (METHOD path?query), Epistula-Body-Sha256 (sha256hex(body)) and Epistula-Request-Signature, an sr25519 signature of sha256hex(body).uuid.timestamp.signed_for + \"\\nepistula-request-target: \" + METHOD path?query. Plain Epistula is refused unless the coordinator runs with --accept-plain-epistula."},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"epistula": map[string]any{"type": "apiKey", "in": "header", "name": "Epistula-Request-Signature"},
				"bt-auth-v1": map[string]any{"type": "apiKey", "in": "header", "name": "X-Signature",
					"description": "BitSota's BT-AUTH-V1 (routes under " + BitSotaPrefix + ", served with --bitsota): X-Hotkey (SS58), X-Timestamp (unix seconds), X-Signature (128 lower-case hex digits), an sr25519 signature (context \"substrate\") of \"BT-AUTH-V1\\nMETHOD\\npath\\nquery\\ntimestamp\\nsha256hex(canonical body)\", where path is the route's without " + BitSotaPrefix + " and the canonical body is Python's json.dumps(body, sort_keys=True, separators=(\",\", \":\"), ensure_ascii=True), empty for no body."},
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // unreachable from input: doc is built from constants, maps and strings only
	}
	return b
}

var timeType = reflect.TypeOf(time.Time{})

// schemaRef returns a JSON Schema for t, registering named structs.
func schemaRef(schemas map[string]any, t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == reflect.TypeOf(json.RawMessage{}):
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaRef(schemas, t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaRef(schemas, t.Elem())}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			props := map[string]any{}
			addFields(schemas, t, props)
			return map[string]any{"type": "object", "properties": props}
		}
		if i := strings.IndexByte(name, '['); i >= 0 {
			name = name[:i] + "_" + strings.TrimPrefix(strings.TrimSuffix(name[i+1:], "]"), "github.com/agoranet/agora.")
			name = strings.NewReplacer("*", "", ".", "_", "/", "_").Replace(name)
		}
		if _, ok := schemas[name]; !ok {
			schemas[name] = map[string]any{} // break cycles
			props := map[string]any{}
			addFields(schemas, t, props)
			schemas[name] = map[string]any{"type": "object", "properties": props}
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func addFields(schemas map[string]any, t reflect.Type, props map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			addFields(schemas, ft, props)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaRef(schemas, f.Type)
	}
}
