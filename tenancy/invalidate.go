package tenancy

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/lib/pq"
)

// Evicter is what invalidation acts on; *Manager is one.
type Evicter interface {
	Evict(slug string)
	EvictAll()
}

// LocalInvalidator evicts in this process only: enough for a single
// instance (the SQLite default).
type LocalInvalidator struct{ Target Evicter }

// Invalidate evicts slug.
func (l LocalInvalidator) Invalidate(_ context.Context, slug string) { l.Target.Evict(slug) }

// PostgresInvalidator evicts locally and tells every other instance through
// PostgreSQL NOTIFY on the main database, so a deactivation takes effect
// everywhere at once.
type PostgresInvalidator struct {
	DB      *sql.DB // the main database
	Channel string
	Target  Evicter
	Logger  *slog.Logger
}

// Invalidate evicts slug here and publishes it.
func (p PostgresInvalidator) Invalidate(ctx context.Context, slug string) {
	p.Target.Evict(slug)
	if _, err := p.DB.ExecContext(ctx, `SELECT pg_notify($1, $2)`, p.Channel, slug); err != nil && p.Logger != nil {
		// Other instances still see the change when their listener
		// reconnects (they evict everything then).
		p.Logger.ErrorContext(ctx, "publishing tenant invalidation", slog.String("tenant", slug), slog.Any("error", err))
	}
}

// ListenPostgres evicts the slugs other instances publish on channel. After
// a lost connection it evicts everything, since notifications sent meanwhile
// are lost. Call the returned stop function to end it.
func ListenPostgres(url, channel string, target Evicter, log *slog.Logger) (stop func() error, err error) {
	if log == nil {
		log = slog.Default()
	}
	l := pq.NewListener(url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected:
			log.Warn("tenant invalidation listener disconnected", slog.Any("error", err))
		case pq.ListenerEventReconnected:
			log.Info("tenant invalidation listener reconnected; evicting all tenant clients")
			target.EvictAll()
		case pq.ListenerEventConnectionAttemptFailed:
			log.Warn("tenant invalidation listener cannot connect", slog.Any("error", err))
		}
	})
	if err := l.Listen(channel); err != nil {
		_ = l.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := range l.Notify {
			if n == nil { // reconnected: handled by the event callback
				continue
			}
			if ValidateSlug(n.Extra) == nil {
				target.Evict(n.Extra)
			}
		}
	}()
	return func() error {
		err := l.Close()
		<-done
		return err
	}, nil
}
