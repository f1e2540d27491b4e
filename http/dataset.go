package http

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/agoranet/agora"
)

// registerDatasetRoutes registers the public dataset's download routes:
// the same files `agora dataset export` writes, generated on demand.
func (s *Server) registerDatasetRoutes() {
	s.handle("GET /api/v1/dataset/{format}", s.public(s.handleDatasetManifest))
	// The two file routes spell out the layout rather than take a
	// wildcard: the export has a card and data files, nothing else.
	s.handle("GET /api/v1/dataset/{format}/README.md", s.public(s.handleDatasetFile))
	s.handle("GET /api/v1/dataset/{format}/data/{file}", s.public(s.handleDatasetFile))
}

// dataset returns the dataset service, or EUNAVAILABLE without one.
func (s *Server) dataset() (agora.DatasetService, error) {
	if s.Dataset == nil {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "this coordinator does not publish a dataset")
	}
	return s.Dataset, nil
}

func (s *Server) handleDatasetManifest(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataset()
	if err != nil {
		return err
	}
	m, err := ds.DatasetManifest(r.Context(), r.PathValue("format"))
	if err != nil {
		return err
	}
	// The export holds only what the public may read (dataset.NewRecord
	// applies the root's release rules), so the manifest goes out as is.
	writeJSON(w, http.StatusOK, m)
	return nil
}

// datasetTypes are the media types of the export's files.
var datasetTypes = map[string]string{
	".parquet": "application/vnd.apache.parquet",
	".jsonl":   "application/x-ndjson",
	".md":      "text/markdown; charset=utf-8",
}

// handleDatasetFile serves one file of the current export. Its ETag is the
// file's SHA-256, so a client revalidates with If-None-Match and gets 304
// until the export changes; ranges are served too (http.ServeContent).
func (s *Server) handleDatasetFile(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataset()
	if err != nil {
		return err
	}
	name := "README.md"
	if file := r.PathValue("file"); file != "" {
		name = "data/" + file
	}
	rc, f, m, err := ds.OpenDatasetFile(r.Context(), r.PathValue("format"), name)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	h.Set("ETag", `"`+f.SHA256+`"`)
	h.Set("Cache-Control", "public, max-age=60")
	if ct, ok := datasetTypes[strings.ToLower(path.Ext(f.Path))]; ok {
		h.Set("Content-Type", ct)
	}
	http.ServeContent(w, r, path.Base(f.Path), m.GeneratedAt, rc)
	return nil
}

// DatasetManifest returns the coordinator's current dataset export in
// format (agora.DatasetParquet or agora.DatasetJSONL): its rows and files.
func (c *Client) DatasetManifest(ctx context.Context, format string) (*agora.DatasetManifest, error) {
	var m agora.DatasetManifest
	if err := c.call(ctx, "GET", "/api/v1/dataset/"+url.PathEscape(format), nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}
