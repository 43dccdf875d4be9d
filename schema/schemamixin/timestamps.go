// Package schemamixin holds ent mixins shared by the main and the tenant graphs.
package schemamixin

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// Timestamps adds created_at and updated_at, the names the HTTP API exposes.
// ent's own mixin.Time uses create_time/update_time, hence this one.
type Timestamps struct {
	mixin.Schema
}

// Fields of the Timestamps mixin.
func (Timestamps) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(now).
			Immutable(),
		field.Time("updated_at").
			Default(now).
			UpdateDefault(now),
	}
}

// now is UTC with microsecond precision: PostgreSQL keeps microseconds, so a
// value read back compares equal to the one written on both dialects.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
