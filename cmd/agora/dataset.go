package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/dataset"
	"github.com/agoranet/agora/sqldb"
)

const datasetUsage = `Usage: agora dataset <command> [flags]

Commands:
  export   write the graded submissions of a coordinator's database as a
           Hugging Face dataset (Parquet or JSONL, with a README.md card)

Run 'agora dataset <command> -h' for a command's flags.
`

// DatasetCommand groups the dataset subcommands.
type DatasetCommand struct {
	Stdout, Stderr io.Writer
}

// Run dispatches to a dataset subcommand.
func (c *DatasetCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, datasetUsage)
		return &usageError{msg: "dataset: no command given (run 'agora dataset -h')"}
	}
	switch args[0] {
	case "export":
		return (&DatasetExportCommand{Stdout: c.Stdout, Stderr: c.Stderr}).Run(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.Stdout, datasetUsage)
		return nil
	default:
		return &usageError{msg: fmt.Sprintf("dataset: unknown command %q (run 'agora dataset -h')", args[0])}
	}
}

// DatasetExportCommand is `agora dataset export`: it reads a coordinator's
// database directly (offline, like the coordinator's own --db) and writes
// the public dataset to a directory, atomically.
type DatasetExportCommand struct {
	Stdout, Stderr io.Writer

	Format    string
	Out       string
	DB        string
	DataDir   string
	ShardRows int
	JSON      bool
}

const datasetExportUsage = `Usage: agora dataset export --format parquet|jsonl --out DIR [flags]

Writes one row per graded submission (the task, the patch, the verdict,
per-test statuses, metrics, cost, timings, provenance and each
validator's result) in the Hugging Face datasets layout:
  DIR/README.md                            the dataset card (YAML features)
  DIR/data/train-00000-of-0000N.parquet    or .jsonl
Hidden tasks are left out until they close. DIR is replaced atomically; it
must be new, empty, or a previous export.

Flags:
`

// ParseFlags reads flags, with environment variables as defaults.
func (c *DatasetExportCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("agora-dataset-export", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.Format, "format", agora.DatasetParquet, "`format` of the data files: parquet or jsonl")
	fs.StringVar(&c.Out, "out", "", "output `directory` (required)")
	fs.StringVar(&c.DB, "db", os.Getenv("AGORA_DB"), "the coordinator's SQLite file `path` or postgres:// URL (default DATA-DIR/coordinator.db) [$AGORA_DB]")
	fs.StringVar(&c.DataDir, "data-dir", envOr("AGORA_DATA_DIR", DefaultDataDir), "the coordinator's data `directory` [$AGORA_DATA_DIR]")
	fs.IntVar(&c.ShardRows, "shard-rows", dataset.DefaultShardRows, "most `rows` in one data file")
	fs.BoolVar(&c.JSON, "json", false, "print the export's manifest (format, rows, generated_at, files with path, size, sha256) as JSON")
	fs.Usage = func() {
		fmt.Fprint(c.Stderr, datasetExportUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: fmt.Sprintf("dataset export: %v (run 'agora dataset export -h')", err)}
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("dataset export: unexpected argument %q", fs.Arg(0))}
	}
	return c.Validate()
}

// Validate checks the flags, naming the one at fault.
func (c *DatasetExportCommand) Validate() error {
	switch {
	case c.Format != agora.DatasetParquet && c.Format != agora.DatasetJSONL:
		return agora.Errorf(agora.EINVALID, "--format: must be parquet or jsonl, got %q", c.Format)
	case c.Out == "":
		return agora.Errorf(agora.EINVALID, "--out: required: the directory to write the dataset to")
	case c.ShardRows < 1:
		return agora.Errorf(agora.EINVALID, "--shard-rows: at least 1, got %d", c.ShardRows)
	}
	return nil
}

// dsn returns the database to read: --db, or the coordinator's default
// SQLite file. A SQLite file must exist: opening a missing one would
// create an empty database and export nothing.
func (c *DatasetExportCommand) dsn() (string, error) {
	dsn := c.DB
	flagName := "--db"
	if dsn == "" {
		dsn, flagName = filepath.Join(expandHome(c.DataDir), "coordinator.db"), "--data-dir"
	}
	if sqldb.IsPostgres(dsn) {
		return dsn, nil
	}
	fi, err := os.Stat(dsn)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", agora.Errorf(agora.EINVALID, "%s: no coordinator database at %s", flagName, dsn)
	case err != nil:
		return "", agora.Errorf(agora.EINVALID, "%s: %v", flagName, err)
	case fi.IsDir():
		return "", agora.Errorf(agora.EINVALID, "%s: %s is a directory, not a SQLite file", flagName, dsn)
	}
	return dsn, nil
}

// Run exports the dataset.
func (c *DatasetExportCommand) Run(ctx context.Context, args []string) error {
	if err := c.ParseFlags(args); err != nil {
		return err
	}
	dsn, err := c.dsn()
	if err != nil {
		return err
	}
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := (&dataset.Exporter{Store: db, Format: c.Format, ShardRows: c.ShardRows}).Export(ctx, c.Out)
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	fmt.Fprintf(c.Stdout, "exported %d rows to %s\n", m.Rows, c.Out)
	for _, f := range m.Files {
		fmt.Fprintf(c.Stdout, "  %s  %d bytes  sha256 %s\n", f.Path, f.Size, f.SHA256)
	}
	return nil
}
