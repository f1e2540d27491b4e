// Package testingutil holds helpers shared by tests: databases to run the
// store against, on both SQLite and PostgreSQL.
package testingutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// PostgresDSN returns the test server's URL from AGORA_TEST_POSTGRES_DSN, or
// "" when none is configured. scripts/test.sh always sets it.
func PostgresDSN() string { return os.Getenv("AGORA_TEST_POSTGRES_DSN") }

// Dialects lists the databases tests should run against: SQLite always,
// PostgreSQL when a server is configured (CI requires it via
// AGORA_REQUIRE_POSTGRES=1, so a missing server fails instead of skipping).
func Dialects(tb testing.TB) []string {
	out := []string{"sqlite"}
	if PostgresDSN() != "" {
		out = append(out, "postgres")
	} else if os.Getenv("AGORA_REQUIRE_POSTGRES") == "1" {
		tb.Fatal("AGORA_REQUIRE_POSTGRES=1 but AGORA_TEST_POSTGRES_DSN is empty; run scripts/postgres.sh")
	} else {
		tb.Log("PostgreSQL tests skipped: set AGORA_TEST_POSTGRES_DSN (scripts/postgres.sh prints one)")
	}
	return out
}

// DSN returns a fresh database for one test: a SQLite file in a temp dir,
// or a new PostgreSQL schema that is dropped when the test ends.
func DSN(tb testing.TB, dialect string) string {
	tb.Helper()
	if dialect == "sqlite" {
		return filepath.Join(tb.TempDir(), "agora.db")
	}
	base := PostgresDSN()
	if base == "" {
		tb.Skip("no PostgreSQL: AGORA_TEST_POSTGRES_DSN is empty")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
