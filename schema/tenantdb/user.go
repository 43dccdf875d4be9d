// Package tenantdb holds the ent schema of the tenant graph: the application's
// own entities, present in every tenant database and in the main database.
package tenantdb

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/schema/schemamixin"
)

// User is an end user of one tenant.
type User struct {
	ent.Schema
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "users"}}
}

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{schemamixin.Timestamps{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).
			Default(uuid.New).
			Immutable(),
		// Stored lower-cased by the API, so uniqueness is case-insensitive.
		field.String("email").
			NotEmpty().
			MaxLen(254).
			Unique(),
		// 200 characters, not bytes: the API counts characters.
		field.String("name").
			NotEmpty().
			MaxRuneLen(200),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("created_at"),
	}
}
