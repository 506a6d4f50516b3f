package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes: stable, documented in the OpenAPI document; clients branch
// on them, never on the message.
const (
	CodeUnauthorized       = "unauthorized"       // 401: missing or wrong API key
	CodeNotFound           = "not_found"          // 404: no such endpoint
	CodeMethodNotAllowed   = "method_not_allowed" // 405
	CodeInvalidJSON        = "invalid_json"       // 400: the body is not one JSON value
	CodeUnknownField       = "unknown_field"      // 400: a field the endpoint does not take
	CodeInvalidType        = "invalid_type"       // 400: a field of the wrong JSON type
	CodeInvalidField       = "invalid_field"      // 400: a field's value is refused (size, range, format)
	CodeInvalidTarget      = "invalid_target"     // 400: not exactly one target
	CodeBodyTooLarge       = "body_too_large"     // 413
	CodeUnknownNamespace   = "unknown_namespace"  // 404
	CodeRoomNotFound       = "room_not_found"     // 404
	CodeUserNotFound       = "user_not_found"     // 404
	CodeNotificationAbsent = "notification_not_found"
	CodeRoomExists         = "room_exists"    // 409
	CodeAccessDenied       = "access_denied"  // 403: the user may not post in the room
	CodeUnavailable        = "unavailable"    // 503: the store or the cluster did not answer in time
	CodeInternal           = "internal_error" // 500
)

// Error is an API error: an HTTP status and the {error: {code, message}}
// body.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("api: %s: %s", e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badField(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, CodeInvalidField, format, args...)
}

// asError maps any error to an API error: an *Error as it is, a deadline
// to 503, anything else to a 500 whose message says nothing internal.
func asError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, errTimeout):
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "the store or the cluster did not answer in time")
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "internal error")
}

// errTimeout marks a failure of a dependency within the request's bound.
var errTimeout = errors.New("api: timed out")
