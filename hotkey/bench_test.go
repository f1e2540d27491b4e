package hotkey_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

func BenchmarkSign(b *testing.B) {
	b.Run("32B", func(b *testing.B) { benchmarkSign(b, 32) })
	b.Run("1KiB", func(b *testing.B) { benchmarkSign(b, 1<<10) })
	b.Run("64KiB", func(b *testing.B) { benchmarkSign(b, 64<<10) })
}

func benchmarkSign(b *testing.B, size int) {
	s := MustURI(b, "//Alice")
	msg := randomBytes(b, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	b.Run("32B", func(b *testing.B) { benchmarkVerify(b, 32) })
	b.Run("1KiB", func(b *testing.B) { benchmarkVerify(b, 1<<10) })
	b.Run("64KiB", func(b *testing.B) { benchmarkVerify(b, 64<<10) })
}

func benchmarkVerify(b *testing.B, size int) {
	s := MustURI(b, "//Alice")
	msg := randomBytes(b, size)
	sig := MustSign(b, s, msg)
	addr := s.Address()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if err := hotkey.Verify(addr, msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// freshStore accepts every uuid, so the benchmark can verify one request
// repeatedly and measures parsing and crypto, not the store.
type freshStore struct{}

func (freshStore) Seen(context.Context, string, string, time.Time) (bool, error) { return true, nil }

func BenchmarkEpistulaVerify(b *testing.B) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	body := randomBytes(b, 4<<10)
	h := http.Header{}
	if err := hotkey.SignHeader(h, body, MustURI(b, "//Alice"), bobAddress, "6f1c1a52-8d0e-4c55-9b7b-2a4c8e2a9f10", now); err != nil {
		b.Fatal(err)
	}
	v := hotkey.NewVerifier(bobAddress)
	v.Nonces = freshStore{}
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, h, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryNonceStore records distinct uuids into a store that
// expires them as fast as they arrive, the steady state under load.
func BenchmarkMemoryNonceStore(b *testing.B) {
	s := hotkey.NewMemoryNonceStore(hotkey.DefaultNonceCapacity)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	ctx := context.Background()
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = string(randomBytes(b, 16))
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if _, err := s.Seen(ctx, aliceAddress, ids[i%len(ids)], now.Add(hotkey.DefaultMaxAge)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkSS58Decode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hotkey.SS58Decode(aliceAddress); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyResult is what the coordinator pays per posted result.
func BenchmarkVerifyResult(b *testing.B) {
	s, _ := hotkey.FromURI("//BenchValidator")
	r := &agora.Result{SubmissionID: "s", Validator: s.Address(), Status: agora.ResultAccepted, Tests: map[string]string{}}
	for i := range 500 {
		r.Tests[fmt.Sprintf("tests/test_mod.py::test_%d", i)] = "PASSED"
	}
	if err := hotkey.SignResult(s, "ab", r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := hotkey.VerifyResult("ab", r); err != nil {
			b.Fatal(err)
		}
	}
}
