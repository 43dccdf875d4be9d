package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/apperr"
)

// decodeJSON reads exactly one JSON object into dst. Syntax errors are 400,
// wrong types and unknown fields 422, oversized bodies 413.
func decodeJSON(c *gin.Context, dst any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		// curl -d sends form encoding by default; treat it as JSON as the
		// seed's examples rely on, refuse anything else.
		if err != nil || (mt != "application/json" && mt != "application/x-www-form-urlencoded" && !strings.HasSuffix(mt, "+json")) {
			return apperr.New(apperr.UnsupportedMedia, "the request body must be JSON (Content-Type: application/json)")
		}
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		return apperr.New(apperr.Invalid, "the request body must hold a single JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var (
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
		maxBytes *http.MaxBytesError
	)
	switch {
	case errors.As(err, &maxBytes):
		return err
	case errors.Is(err, io.EOF):
		return apperr.New(apperr.Invalid, "the request body is empty; a JSON object is required")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.New(apperr.Invalid, "the request body is not valid JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return apperr.New(apperr.Invalid, "the request body must be a JSON object")
		}
		return apperr.Validationf(typeErr.Field, "must be a JSON %s", jsonKind(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if !utf8.ValidString(field) || len(field) > 64 {
			field = "(unnamed)"
		}
		return apperr.Validationf(field, "is not a field of this request")
	default:
		return apperr.Wrap(err, apperr.Invalid, "the request body could not be read")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "float64":
		return "number"
	default:
		return "value of another type"
	}
}

// pathUUID parses a UUID path parameter; a malformed one cannot name
// anything, so it is a 404 like an unknown one.
func pathUUID(c *gin.Context, param string, notFound apperr.Code) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(param))
	if err != nil {
		return uuid.Nil, apperr.New(notFound, "no such %s", strings.TrimSuffix(param, "_id"))
	}
	return id, nil
}

// Pagination bounds of every list endpoint.
const (
	defaultLimit = 50
	maxLimit     = 500
)

type page struct {
	Limit  int
	Offset int
}

func parsePage(c *gin.Context) (page, error) {
	p := page{Limit: defaultLimit}
	errs := apperr.FieldErrors{}
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			errs.Add("limit", "must be an integer from 1 to %d", maxLimit)
		}
		p.Limit = n
	}
	if v, ok := c.GetQuery("offset"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000_000 {
			errs.Add("offset", "must be a non-negative integer")
		}
		p.Offset = n
	}
	return p, errs.Err()
}

func parseOptionalBool(c *gin.Context, name string) (*bool, error) {
	v, ok := c.GetQuery(name)
	if !ok {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, apperr.Validationf(name, "must be true or false")
	}
	return &b, nil
}

// checkText validates a required or optional text field.
func checkText(errs apperr.FieldErrors, field, v string, required bool, maxLen int) {
	switch {
	case required && strings.TrimSpace(v) == "":
		errs.Add(field, "is required")
	case !utf8.ValidString(v):
		errs.Add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(v) > maxLen:
		errs.Add(field, "must be at most %d characters", maxLen)
	case strings.ContainsRune(v, 0):
		errs.Add(field, "must not contain NUL characters")
	}
}

// normalizeEmail checks an address and returns it lower-cased, so that
// uniqueness does not depend on case.
func normalizeEmail(errs apperr.FieldErrors, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		errs.Add("email", "is required")
		return v
	}
	// The bound is on the stored (lower-cased) form, which can be longer
	// than the input: "Ⱥ" takes 2 bytes, "ⱥ" 3.
	if len(v) > 254 || len(strings.ToLower(v)) > 254 {
		errs.Add("email", "must be at most 254 characters")
		return v
	}
	addr, err := mail.ParseAddress(v)
	if err != nil || addr.Address != v || addr.Name != "" || !strings.Contains(v[strings.LastIndexByte(v, '@')+1:], ".") {
		errs.Add("email", "must be an address like name@example.com")
		return v
	}
	return strings.ToLower(v)
}
