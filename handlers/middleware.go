package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/internal/apperr"
)

const requestIDHeader = "X-Request-ID"

// requestKey carries what the router knows of a request to the error
// writer: its id and the application's logger.
type requestKey struct{}

type requestInfo struct {
	id  string
	log *slog.Logger
}

// requestIDRE bounds what a client may send as its own request id before we
// echo it in a header and write it in logs.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID reuses a well-formed incoming X-Request-ID, or makes one,
// and returns it on the response.
func withRequestID(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		rid := c.GetHeader(requestIDHeader)
		if !requestIDRE.MatchString(rid) {
			rid = newRequestID()
		}
		c.Header(requestIDHeader, rid)
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestKey{}, &requestInfo{id: rid, log: log}))
		c.Next()
	}
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID(c *gin.Context) string { return RequestIDFrom(c.Request.Context()) }

// RequestIDFrom returns the request id of ctx, for logging in lower layers.
func RequestIDFrom(ctx context.Context) string {
	if ri, ok := ctx.Value(requestKey{}).(*requestInfo); ok {
		return ri.id
	}
	return ""
}

// loggerOf returns the application's logger for the request.
func loggerOf(c *gin.Context) *slog.Logger {
	if ri, ok := c.Request.Context().Value(requestKey{}).(*requestInfo); ok && ri.log != nil {
		return ri.log
	}
	return slog.Default()
}

// withAccessLog logs one line per request. The path logged is the route
// pattern when there is one: raw paths carry ids and arbitrary bytes.
func withAccessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(c.Request.Context(), level, "request",
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", c.Writer.Status()),
			slog.Int("bytes", c.Writer.Size()),
			slog.Duration("took", time.Since(start)),
			slog.String("client_ip", c.ClientIP()),
		)
	}
}

// withRecovery answers a panic with a 500 in the API's shape and logs the
// stack with the request id; the stack never reaches the client.
func withRecovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				log.ErrorContext(c.Request.Context(), "panic", slog.String("request_id", requestID(c)),
					slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
				if !c.Writer.Written() {
					writeError(c, fmt.Errorf("panic: %v", r))
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// withBodyLimit refuses bodies over max bytes: at once when Content-Length
// says so, and while reading otherwise (the decoder then sees
// *http.MaxBytesError).
func withBodyLimit(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			writeError(c, apperr.New(apperr.BodyTooLarge, "the request body is larger than %d bytes", max))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

// withTimeout bounds the work a request may do in the database.
func withTimeout(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// withWriteDeadline lets the handlers after it write their response up to
// d from now, past the server's WriteTimeout.
func withWriteDeadline(d time.Duration, log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		err := http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(d))
		if err != nil && !errors.Is(err, http.ErrNotSupported) {
			log.WarnContext(c.Request.Context(), "extending the write deadline", slog.String("request_id", requestID(c)), slog.Any("error", err))
		}
		c.Next()
	}
}

// requireAdmin checks "Authorization: Bearer <key>" in constant time
// (comparing digests, so the key's length does not leak either).
func requireAdmin(key string) gin.HandlerFunc {
	if key == "" {
		return func(c *gin.Context) { c.Next() }
	}
	want := sha256.Sum256([]byte(key))
	return func(c *gin.Context) {
		// The scheme is case-insensitive (RFC 9110 section 11.1).
		auth := c.GetHeader("Authorization")
		ok := len(auth) > len("Bearer ") && strings.EqualFold(auth[:len("Bearer ")], "Bearer ")
		token := ""
		if ok {
			token = auth[len("Bearer "):]
		}
		got := sha256.Sum256([]byte(token))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="tenantkit-admin"`)
			writeError(c, apperr.New(apperr.Unauthorized, "tenant management requires Authorization: Bearer <ADMIN_API_KEY>"))
			return
		}
		c.Next()
	}
}
