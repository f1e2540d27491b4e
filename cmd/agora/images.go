package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/agoranet/agora/oci"
	"github.com/agoranet/agora/sandbox"
)

// ImagesCommand is `agora images`: the store of OCI images that image-mode
// evaluations run in.
type ImagesCommand struct {
	Stdout, Stderr io.Writer
}

const imagesUsage = `Usage: agora images pull|ls|gc [flags]

  pull REF...         fetch images into the store (verified, layers unpacked once)
  ls                  list the stored images
  gc --budget SIZE    free least-recently-used layers until the store fits SIZE

References: host/repo:tag or docker://host/repo:tag (a registry; credentials
from ~/.docker/config.json), oci:DIR[:TAG] (an OCI image layout),
docker-archive:FILE[:REF] (a docker save tarball).
`

// imageStoreFlags registers the flags every images subcommand shares.
func imageStoreFlags(fs *flag.FlagSet, s *oci.Store) *string {
	dir := fs.String("store", "", "image store directory (default CACHE-DIR/images)")
	fs.StringVar(&s.Root, "cache-dir", defaultCacheDir(), "Agora's cache directory")
	fs.Func("insecure-registry", "registry host:port reached over plain http (repeatable)", func(v string) error {
		s.Insecure = append(s.Insecure, v)
		return nil
	})
	return dir
}

// newImageStore is the store the flags name.
func newImageStore(cacheDir, dir string, insecure []string, progress io.Writer) *oci.Store {
	if dir == "" {
		dir = filepath.Join(cacheDir, "images")
	}
	return &oci.Store{Root: dir, UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Insecure: insecure, Progress: progress}
}

// Run dispatches the subcommand.
func (c *ImagesCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, imagesUsage)
		return &usageError{msg: "images: a subcommand is required (pull, ls or gc)"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("agora-images-"+sub, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	var st oci.Store
	dir := imageStoreFlags(fs, &st)
	budget := fs.String("budget", "", "gc: disk budget such as 20G")
	fs.Usage = func() { fmt.Fprint(c.Stderr, imagesUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	s := newImageStore(st.Root, *dir, st.Insecure, c.Stderr)
	switch sub {
	case "pull":
		if fs.NArg() == 0 {
			return &usageError{msg: "images pull: name at least one image"}
		}
		for _, ref := range fs.Args() {
			img, err := s.Pull(ctx, ref)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.Stdout, "%s %s (%d layers, %s)\n", img.Ref, shortID(img.ID), len(img.DiffIDs), humanBytes(s.Size(img)))
		}
		return nil
	case "ls":
		imgs, err := s.List()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REFERENCE\tID\tLAYERS\tSIZE\tPULLED")
		for _, img := range imgs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", img.Ref, shortID(img.ID), len(img.DiffIDs), humanBytes(s.Size(img)), img.Pulled.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "gc":
		if *budget == "" {
			return &usageError{msg: "images gc: --budget is required (e.g. --budget 20G)"}
		}
		n, err := oci.ParseSize(*budget)
		if err != nil {
			return &usageError{msg: "images gc: --budget: " + err.Error()}
		}
		res, err := s.GC(n)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "%d layers and %d images removed: %s -> %s (budget %s)\n", len(res.Removed), len(res.Images), humanBytes(res.Before), humanBytes(res.After), humanBytes(n))
		return nil
	}
	return &usageError{msg: fmt.Sprintf("images: unknown subcommand %q (pull, ls or gc)", sub)}
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
