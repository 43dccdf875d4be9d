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

// Execer runs a statement: a *sql.Tx, an ent transaction, or a *sql.DB.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// LocalInvalidator evicts in this process only: enough for a single
// instance (the SQLite default).
type LocalInvalidator struct{ Target Evicter }

// Publish does nothing: there is no other instance to tell.
func (LocalInvalidator) Publish(context.Context, Execer, string) error { return nil }

// Evict evicts slug here.
func (l LocalInvalidator) Evict(slug string) { l.Target.Evict(slug) }

// PostgresInvalidator tells every instance about a tenant change through
// PostgreSQL NOTIFY on the main database, so a deactivation takes effect
// everywhere at once.
type PostgresInvalidator struct {
	Channel string
	Target  Evicter // this instance's cache
}

// Publish queues the announcement of slug's change on tx, the transaction
// that makes the change: PostgreSQL delivers it to every listener when tx
// commits and drops it when tx rolls back, so a committed change is never
// left unannounced (a caller giving up after the commit cannot lose it) and
// a rolled-back one is never announced.
func (p PostgresInvalidator) Publish(ctx context.Context, tx Execer, slug string) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, p.Channel, slug)
	return err
}

// Evict evicts slug here, after the commit: this instance's own listener
// hears the announcement too, but a moment later.
func (p PostgresInvalidator) Evict(slug string) { p.Target.Evict(slug) }

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
