package agora

import (
	"context"
	"net/http"
	"time"
)

// RequestVerifier authenticates a signed HTTP request and returns the
// signer's SS58 address. Errors are EUNAUTHORIZED for a bad, stale,
// replayed or forged request.
type RequestVerifier interface {
	Verify(ctx context.Context, h http.Header, body []byte, now time.Time) (signer string, err error)
}

// Roles a hotkey can act in.
const (
	RoleOwner     = "owner"
	RoleValidator = "validator"
	RoleMiner     = "miner"
)

type hotkeyKey struct{}

// NewContextWithHotkey returns ctx carrying the verified signer's address.
func NewContextWithHotkey(ctx context.Context, address string) context.Context {
	return context.WithValue(ctx, hotkeyKey{}, address)
}

// HotkeyFromContext returns the verified signer in ctx, or "".
func HotkeyFromContext(ctx context.Context) string {
	s, _ := ctx.Value(hotkeyKey{}).(string)
	return s
}
