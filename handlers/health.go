package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/internal/apperr"
)

func healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 when the main database answers within 2 seconds.
func readyz(ready func(context.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			loggerOf(c).WarnContext(ctx, "readiness check failed", slog.String("request_id", requestID(c)), slog.Any("error", err))
			writeError(c, apperr.Wrap(err, apperr.Unavailable, "the main database is unreachable"))
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}
