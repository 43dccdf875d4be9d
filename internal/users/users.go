// Package users is the application's User service, run against whichever
// tenant graph client the request carries (a tenant's database, or the main
// database in single-tenant mode).
package users

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/ent/tenantdb"
	entuser "github.com/tenantkit/tenantkit/ent/tenantdb/user"
	"github.com/tenantkit/tenantkit/internal/apperr"
)

// CreateInput is a new user; Email is normalised by the caller.
type CreateInput struct {
	Email string
	Name  string
}

// UpdateInput changes a user; nil fields stay.
type UpdateInput struct {
	Email *string
	Name  *string
}

// Create inserts a user; Conflict if the email is taken in this tenant.
func Create(ctx context.Context, c *tenantdb.Client, in CreateInput) (*tenantdb.User, error) {
	// One clock reading, so a new user's created_at equals its updated_at.
	now := time.Now().UTC().Truncate(time.Microsecond)
	u, err := c.User.Create().SetEmail(in.Email).SetName(in.Name).SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
	if tenantdb.IsConstraintError(err) {
		return nil, apperr.Wrap(err, apperr.Conflict, "a user with email %q already exists", in.Email)
	}
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// Get returns a user; NotFound if none.
func Get(ctx context.Context, c *tenantdb.Client, id uuid.UUID) (*tenantdb.User, error) {
	u, err := c.User.Get(ctx, id)
	if tenantdb.IsNotFound(err) {
		return nil, apperr.Wrap(err, apperr.NotFound, "no user with id %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// List returns a page of users, oldest first.
func List(ctx context.Context, c *tenantdb.Client, limit, offset int) ([]*tenantdb.User, error) {
	us, err := c.User.Query().Order(entuser.ByCreatedAt(), entuser.ByID()).Limit(limit).Offset(offset).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// Update changes a user.
func Update(ctx context.Context, c *tenantdb.Client, id uuid.UUID, in UpdateInput) (*tenantdb.User, error) {
	upd := c.User.UpdateOneID(id)
	if in.Email != nil {
		upd.SetEmail(*in.Email)
	}
	if in.Name != nil {
		upd.SetName(*in.Name)
	}
	u, err := upd.Save(ctx)
	switch {
	case tenantdb.IsNotFound(err):
		return nil, apperr.Wrap(err, apperr.NotFound, "no user with id %s", id)
	case tenantdb.IsConstraintError(err):
		return nil, apperr.Wrap(err, apperr.Conflict, "a user with email %q already exists", *in.Email)
	case err != nil:
		return nil, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// Delete removes a user.
func Delete(ctx context.Context, c *tenantdb.Client, id uuid.UUID) error {
	err := c.User.DeleteOneID(id).Exec(ctx)
	if tenantdb.IsNotFound(err) {
		return apperr.Wrap(err, apperr.NotFound, "no user with id %s", id)
	}
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	return nil
}
