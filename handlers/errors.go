package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/internal/apperr"
	"github.com/tenantkit/tenantkit/tenancy"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// errorBody is the one error shape of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      apperr.Code       `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// statusOf maps an application error code to its HTTP status: the one place
// where that mapping lives.
// statusClientClosedRequest is nginx's status for a request whose client
// hung up: what failed was the client's wait, not the server.
const statusClientClosedRequest = 499

func statusOf(code apperr.Code) int {
	switch code {
	case apperr.Invalid, apperr.TenantRequired, apperr.InvalidTenant:
		return http.StatusBadRequest
	case apperr.Unauthorized:
		return http.StatusUnauthorized
	case apperr.TenantInactive:
		return http.StatusForbidden
	case apperr.NotFound, apperr.TenantNotFound, apperr.MultiTenancyDisabled:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.BodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.UnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case apperr.Validation:
		return http.StatusUnprocessableEntity
	case apperr.Unavailable, apperr.TenantUnavailable:
		return http.StatusServiceUnavailable
	case apperr.ClientClosed:
		return statusClientClosedRequest
	default:
		return http.StatusInternalServerError
	}
}

// classify turns any error into an application error safe to show.
func classify(err error) *apperr.Error {
	if e, ok := apperr.As(err); ok {
		return e
	}
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &maxBytes):
		return apperr.Wrap(err, apperr.BodyTooLarge, "the request body is larger than %d bytes", maxBytes.Limit)
	case errors.Is(err, tenancy.ErrTenantRequired):
		return apperr.Wrap(err, apperr.TenantRequired, "%s", err.Error())
	case errors.Is(err, tenancy.ErrInvalidSlug):
		return apperr.Wrap(err, apperr.InvalidTenant, "the tenant identifier is malformed: %s", tenancyMessage(err))
	case errors.Is(err, tenancy.ErrTenantNotFound):
		return apperr.Wrap(err, apperr.TenantNotFound, "unknown tenant")
	case errors.Is(err, tenancy.ErrTenantInactive):
		return apperr.Wrap(err, apperr.TenantInactive, "this tenant is deactivated")
	case errors.Is(err, tenancy.ErrTenantNotReady):
		return apperr.Wrap(err, apperr.TenantUnavailable, "this tenant's database is not ready (being provisioned, or provisioning failed)")
	case errors.Is(err, tenancy.ErrDatabaseMissing):
		return apperr.Wrap(err, apperr.TenantUnavailable, "this tenant's database does not exist")
	case errors.Is(err, tenancy.ErrSchemaOutdated):
		return apperr.Wrap(err, apperr.TenantUnavailable, "this tenant's database is being migrated; try again shortly")
	case errors.Is(err, tenancy.ErrCapacity):
		return apperr.Wrap(err, apperr.TenantUnavailable, "the service is at its tenant connection budget; try again shortly")
	case errors.Is(err, tenancy.ErrManagerClosed):
		return apperr.Wrap(err, apperr.Unavailable, "the service is shutting down")
	case sqldb.IsUnavailable(err), errors.Is(err, context.DeadlineExceeded):
		return apperr.Wrap(err, apperr.Unavailable, "the database is unavailable; try again shortly")
	default:
		return apperr.Wrap(err, apperr.Internal, "an unexpected error occurred")
	}
}

// tenancyMessage keeps the rule of a slug error without the offending input.
func tenancyMessage(err error) string {
	if errors.Is(err, tenancy.ErrInvalidSlug) {
		return "lower-case letters and digits in groups joined by single hyphens"
	}
	return ""
}

// writeError writes err in the API's error shape. Server-side failures are
// logged with the request id, and only a generic message leaves the process.
func writeError(c *gin.Context, err error) {
	e := classify(err)
	if errors.Is(c.Request.Context().Err(), context.Canceled) {
		// The client hung up (the server's own deadlines end contexts with
		// DeadlineExceeded): whatever the database layer made of the
		// cancellation (context.Canceled, PostgreSQL's 57014 "canceling
		// statement"), it is not a server failure.
		e = apperr.Wrap(err, apperr.ClientClosed, "the client closed the request")
	}
	status := statusOf(e.Code)
	rid := requestID(c)
	if status == statusClientClosedRequest {
		loggerOf(c).InfoContext(c.Request.Context(), "request abandoned by the client",
			slog.String("request_id", rid), slog.Any("error", err))
	} else if status >= 500 {
		loggerOf(c).ErrorContext(c.Request.Context(), "request failed",
			slog.String("request_id", rid), slog.Int("status", status),
			slog.String("code", string(e.Code)), slog.Any("error", err))
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Fields: e.Fields, RequestID: rid}})
}

// WriteError is writeError for the tenancy middleware.
func WriteError(c *gin.Context, err error) { writeError(c, err) }
