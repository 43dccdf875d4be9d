// Package maindb holds the ent schema of the main database graph: the tenant registry.
package maindb

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/schema/schemamixin"
)

// Tenant is one customer of the SaaS: a row of the registry that routes
// requests to the tenant's own database.
type Tenant struct {
	ent.Schema
}

// Annotations of the Tenant.
func (Tenant) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "tenants"}}
}

// Mixin of the Tenant.
func (Tenant) Mixin() []ent.Mixin {
	return []ent.Mixin{schemamixin.Timestamps{}}
}

// Fields of the Tenant.
func (Tenant) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).
			Default(uuid.New).
			Immutable(),
		// Lengths in characters, not bytes (MaxLen): the API counts
		// characters, and a byte bound let valid non-ASCII text through to
		// a failed insert (500).
		field.String("name").
			NotEmpty().
			MaxRuneLen(200),
		// The slug names the tenant in requests and in its database name; it
		// never changes because the database name is derived from it.
		field.String("slug").
			NotEmpty().
			MaxLen(63).
			Unique().
			Immutable(),
		field.String("description").
			MaxRuneLen(2000).
			Default(""),
		field.Bool("is_active").
			Default(true),
		field.String("database").
			NotEmpty().
			MaxLen(63).
			Unique().
			Immutable(),
		// Provisioning state: a tenant is served only once it is ready.
		field.Enum("status").
			Values("provisioning", "ready", "failed").
			Default("provisioning"),
		field.String("status_error").
			MaxLen(2000).
			Default(""),
		// Migration state of the tenant database, kept by the provisioner and
		// by the fleet migration command.
		field.String("schema_version").
			MaxLen(64).
			Default(""),
		field.Time("migrated_at").
			Optional().
			Nillable(),
	}
}

// Indexes of the Tenant.
func (Tenant) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("is_active", "created_at"),
		index.Fields("created_at"),
	}
}
