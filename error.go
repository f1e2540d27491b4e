package agora

import (
	"errors"
	"fmt"
)

// Error codes. They are few on purpose: callers branch on them, and the HTTP
// layer maps each to one status.
const (
	ECONFLICT     = "conflict"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ERATELIMIT    = "rate_limit"
	ETOOLARGE     = "too_large"
	// EUNPROCESSABLE is well-formed input that cannot be acted on, such as
	// a base ref that is a branch name instead of a pinned commit.
	EUNPROCESSABLE = "unprocessable"
	EUNAVAILABLE   = "unavailable"
	EINTERNAL      = "internal"
)

// Error is a domain error: a code callers branch on and a message fit for the
// user. Details that are not for users belong in logs, not here.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("agora error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of the first *Error in err's
// chain, or a generic message for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
