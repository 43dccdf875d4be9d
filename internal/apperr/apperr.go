// Package apperr is the application's coded error: a machine-readable Code
// and a Message for people, both safe to show to the client. The cause, if
// any, is kept for logs and errors.Is, never shown. The HTTP layer maps codes
// to statuses in one function (handlers.statusOf).
package apperr

import (
	"errors"
	"fmt"
)

// Code is a stable, snake_case error code clients can switch on.
type Code string

// The codes of the API.
const (
	Invalid              Code = "invalid_request"    // 400: malformed JSON, bad header
	Validation           Code = "validation_failed"  // 422
	TenantRequired       Code = "tenant_required"    // 400
	InvalidTenant        Code = "invalid_tenant"     // 400
	NotFound             Code = "not_found"          // 404
	TenantNotFound       Code = "tenant_not_found"   // 404
	TenantInactive       Code = "tenant_inactive"    // 403
	TenantUnavailable    Code = "tenant_unavailable" // 503: provisioning, failed, schema behind, capacity
	MultiTenancyDisabled Code = "multi_tenancy_disabled"
	Conflict             Code = "conflict"       // 409
	Unauthorized         Code = "unauthorized"   // 401
	BodyTooLarge         Code = "body_too_large" // 413
	UnsupportedMedia     Code = "unsupported_media_type"
	Unavailable          Code = "service_unavailable" // 503
	Internal             Code = "internal_error"      // 500
	// ClientClosed: the client hung up before the answer (nginx's 499);
	// nobody reads the body, but logs and metrics must not count a 5xx.
	ClientClosed Code = "client_closed_request"
)

// Error is an error the client may see.
type Error struct {
	Code    Code
	Message string
	// Fields names invalid fields for Validation errors: field -> problem.
	Fields map[string]string
	// Cause is logged, never shown.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error keeping cause for logs and errors.Is.
func Wrap(cause error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// Validationf returns a Validation error for one field.
func Validationf(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: Validation, Message: field + ": " + msg, Fields: map[string]string{field: msg}}
}

// FieldErrors collects validation problems of a request.
type FieldErrors map[string]string

// Add records a problem with field.
func (f FieldErrors) Add(field, format string, args ...any) {
	if _, ok := f[field]; !ok {
		f[field] = fmt.Sprintf(format, args...)
	}
}

// Err returns nil if there were no problems, else a Validation Error.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: Validation, Message: "the request has invalid fields", Fields: f}
}

// As returns err as an *Error if it is (or wraps) one.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
