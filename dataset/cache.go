package dataset

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/agoranet/agora"
)

// DefaultMaxAge is how long the coordinator serves one export before it
// generates the next on demand: the cost of an export is bounded to one
// per format per MaxAge, whoever asks.
const DefaultMaxAge = 10 * time.Minute

// Cache serves exports generated on demand, for the coordinator's public
// download route. Each export is written into a fresh directory under Dir
// and replaces the previous one only once complete; files are opened
// under a read lock, so a download never straddles two exports (an open
// file outlives its removal).
type Cache struct {
	Store Store
	Dir   string
	// MaxAge is how long an export is served (default DefaultMaxAge).
	MaxAge time.Duration
	// ShardRows and Uncompressed are passed to the Exporter.
	ShardRows    int
	Uncompressed bool
	Now          func() time.Time

	gen     sync.Mutex // one generation at a time
	mu      sync.RWMutex
	current map[string]*cached
}

type cached struct {
	dir string
	m   *agora.DatasetManifest
	at  time.Time
}

var _ agora.DatasetService = (*Cache)(nil)

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Cache) maxAge() time.Duration {
	if c.MaxAge > 0 {
		return c.MaxAge
	}
	return DefaultMaxAge
}

// fresh returns the current export of format if it is young enough.
func (c *Cache) fresh(format string) *cached {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.current[format]; e != nil && c.now().Sub(e.at) < c.maxAge() {
		return e
	}
	return nil
}

// DatasetManifest returns the current export of format, generating it when
// there is none or it is older than MaxAge.
func (c *Cache) DatasetManifest(ctx context.Context, format string) (*agora.DatasetManifest, error) {
	if err := ValidateFormat(format); err != nil {
		return nil, err
	}
	if e := c.fresh(format); e != nil {
		return e.m, nil
	}
	c.gen.Lock()
	defer c.gen.Unlock()
	if e := c.fresh(format); e != nil {
		return e.m, nil // generated while this caller waited
	}
	if err := os.MkdirAll(c.Dir, 0o750); err != nil {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "dataset directory: %v", err)
	}
	if c.current[format] == nil {
		// Exports a previous process left behind.
		old, _ := filepath.Glob(filepath.Join(c.Dir, format+"-*"))
		for _, d := range old {
			os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp(c.Dir, format+"-")
	if err != nil {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "dataset directory: %v", err)
	}
	// The generation outlives the request that started it: the next
	// caller would only start over.
	m, err := (&Exporter{Store: c.Store, Format: format, ShardRows: c.ShardRows, Now: c.Now, Uncompressed: c.Uncompressed}).Write(context.WithoutCancel(ctx), dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.mu.Lock()
	if c.current == nil {
		c.current = map[string]*cached{}
	}
	old := c.current[format]
	c.current[format] = &cached{dir: dir, m: m, at: c.now()}
	if old != nil {
		os.RemoveAll(old.dir)
	}
	c.mu.Unlock()
	return m, nil
}

// OpenDatasetFile opens path of the current export of format.
func (c *Cache) OpenDatasetFile(ctx context.Context, format, path string) (io.ReadSeekCloser, *agora.DatasetFile, *agora.DatasetManifest, error) {
	if _, err := c.DatasetManifest(ctx, format); err != nil {
		return nil, nil, nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := c.current[format]
	for i, f := range e.m.Files {
		if f.Path == path {
			// path is one the export listed, never the caller's own.
			r, err := os.Open(filepath.Join(e.dir, filepath.FromSlash(f.Path)))
			if err != nil {
				return nil, nil, nil, agora.Errorf(agora.EUNAVAILABLE, "dataset file %s: %v", path, err)
			}
			return r, &e.m.Files[i], e.m, nil
		}
	}
	return nil, nil, nil, agora.Errorf(agora.ENOTFOUND, "dataset file %q not found; GET /api/v1/dataset/%s lists the files", path, format)
}

// Close removes the cached exports.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.current {
		os.RemoveAll(e.dir)
	}
	c.current = nil
	return nil
}
