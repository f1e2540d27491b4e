package oci

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// DigestError is a layer whose bytes do not hash to what the image says.
type DigestError struct {
	Layer      string // the diffid the image names
	What       string // "digest" (compressed) or "diff_id" (uncompressed)
	Want, Have string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("layer %s: %s mismatch: want %s, have %s", e.Layer, e.What, e.Want, e.Have)
}

// ensureLayer unpacks layer i of r unless the store has it. One process
// fetches a layer at a time (singleflight), one process on the machine
// (an exclusive lock file): an image sharing a layer with another being
// pulled waits for it and fetches nothing.
func (s *Store) ensureLayer(ctx context.Context, r Reference, i, n int, l v1.Layer, diffID v1.Hash) error {
	final := filepath.Join(s.layersDir(), diffID.Hex)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	_, err, _ := s.flight.Do("layer:"+diffID.Hex, func() (any, error) {
		unlock, err := lockFile(filepath.Join(s.locksDir(), diffID.Hex+".lock"), true, false)
		if err != nil {
			return nil, fmt.Errorf("layer %s: lock: %w", diffID, err)
		}
		defer unlock()
		if _, err := os.Stat(final); err == nil {
			return nil, nil // another process unpacked it meanwhile
		}
		return nil, s.fetchLayer(ctx, r, i, n, l, diffID, final)
	})
	return err
}

// fetchLayer downloads, verifies and unpacks one layer into final,
// through a temporary directory renamed into place whole.
func (s *Store) fetchLayer(ctx context.Context, r Reference, i, n int, l v1.Layer, diffID v1.Hash, final string) error {
	tmp, err := os.MkdirTemp(s.tmpDir(), diffID.Hex[:12]+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	diff := filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return err
	}
	os.Chown(diff, s.UID, s.GID)

	var (
		rc        io.ReadCloser
		size      int64
		wantDig   v1.Hash
		compDigst hash.Hash
	)
	if r.Kind == KindArchive {
		// A `docker save` tarball holds its layers as they were
		// saved (mostly uncompressed) and knows only their diffids:
		// asking for the compressed form would gzip them.
		rc, err = l.Uncompressed()
	} else {
		if wantDig, err = l.Digest(); err != nil {
			return fmt.Errorf("%s: layer %d: %w", r, i, err)
		}
		size, _ = l.Size()
		rc, err = l.Compressed()
		compDigst = sha256.New()
	}
	if err != nil {
		return fmt.Errorf("%s: layer %d (%s): %w", r, i, diffID, err)
	}
	defer rc.Close()
	prog := s.newProgress(fmt.Sprintf("layer %d/%d %s", i+1, n, diffID.Hex[:12]), size)
	var src io.Reader = &ctxReader{ctx: ctx, r: rc}
	src = io.TeeReader(src, prog)
	if compDigst != nil {
		src = io.TeeReader(src, compDigst)
	}
	br := bufio.NewReaderSize(src, 1<<20)
	plain, closeDec, err := decompress(br)
	if err != nil {
		return fmt.Errorf("%s: layer %d (%s): %w", r, i, diffID, err)
	}
	diffHash := sha256.New()
	tee := io.TeeReader(plain, diffHash)
	st, err := Unpack(tee, diff, UnpackOptions{UID: s.UID, GID: s.GID})
	if err == nil {
		// The tar's end comes before the stream's: the padding after
		// it is part of what the diffid hashes.
		_, err = io.Copy(io.Discard, tee)
	}
	closeDec()
	if err == nil {
		// Drain the compressed stream too, so its digest covers it all
		// (and the registry reader sees EOF, where it verifies).
		_, err = io.Copy(io.Discard, br)
	}
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		prog.done(err)
		return fmt.Errorf("%s: layer %d (%s): %w", r, i, diffID, err)
	}
	if compDigst != nil {
		if have := "sha256:" + hex.EncodeToString(compDigst.Sum(nil)); have != wantDig.String() {
			err = &DigestError{Layer: diffID.String(), What: "digest", Want: wantDig.String(), Have: have}
		}
	}
	if have := "sha256:" + hex.EncodeToString(diffHash.Sum(nil)); err == nil && have != diffID.String() {
		err = &DigestError{Layer: diffID.String(), What: "diff_id", Want: diffID.String(), Have: have}
	}
	prog.done(err)
	if err != nil {
		return fmt.Errorf("%s: layer %d: %w", r, i, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "size"), []byte(strconv.FormatInt(st.Bytes, 10)+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("layer %s: store: %w", diffID, err)
	}
	return nil
}

// decompress returns the tar stream inside br: gzip and zstd are
// recognized by their magic numbers, anything else is taken as a plain
// tar (uncompressed layer media types).
func decompress(br *bufio.Reader) (io.Reader, func(), error) {
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// ctxReader stops a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// lockFile takes a lock on path (created if missing): exclusive or
// shared, waiting or not. ErrLocked when it would wait and may not.
func lockFile(path string, exclusive, nonBlocking bool) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if nonBlocking {
		how |= unix.LOCK_NB
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}

// ErrLocked is a lock held elsewhere.
var ErrLocked = errors.New("locked by another user of the store")
