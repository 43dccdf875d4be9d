package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tenantkit/tenantkit/ent/tenantdb"
	"github.com/tenantkit/tenantkit/internal/apperr"
	"github.com/tenantkit/tenantkit/internal/users"
	"github.com/tenantkit/tenantkit/tenancy"
)

// userResponse is the JSON of a user: generated entities never leave as JSON.
type userResponse struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toUserResponse(u *tenantdb.User) userResponse {
	return userResponse{ID: u.ID.String(), Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

type createUserRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

func (r *createUserRequest) validate() (users.CreateInput, error) {
	errs := apperr.FieldErrors{}
	email := normalizeEmail(errs, r.Email)
	checkText(errs, "name", r.Name, true, 200)
	return users.CreateInput{Email: email, Name: r.Name}, errs.Err()
}

type updateUserRequest struct {
	Email *string `json:"email"`
	Name  *string `json:"name"`
}

func (r *updateUserRequest) validate() (users.UpdateInput, error) {
	errs := apperr.FieldErrors{}
	in := users.UpdateInput{Name: r.Name}
	if r.Email != nil {
		e := normalizeEmail(errs, *r.Email)
		in.Email = &e
	}
	if r.Name != nil {
		checkText(errs, "name", *r.Name, true, 200)
	}
	if r.Email == nil && r.Name == nil {
		errs.Add("body", "give at least one of email, name")
	}
	return in, errs.Err()
}

// tenantHandler is a handler of the tenant-scoped API: it receives the
// request's tenant graph client (the seed's get_tenant_session): the
// tenant's database, or the main one in single-tenant mode.
type tenantHandler func(c *gin.Context, client *tenantdb.Client) error

func withTenantClient(h tenantHandler) gin.HandlerFunc {
	return withErrors(func(c *gin.Context) error {
		client, err := tenancy.ClientFromContext[*tenantdb.Client](c.Request.Context())
		if err != nil {
			return err
		}
		return h(c, client)
	})
}

func createUser(c *gin.Context, client *tenantdb.Client) error {
	var req createUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	in, err := req.validate()
	if err != nil {
		return err
	}
	u, err := users.Create(c.Request.Context(), client, in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, toUserResponse(u))
	return nil
}

func listUsers(c *gin.Context, client *tenantdb.Client) error {
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	us, err := users.List(c.Request.Context(), client, p.Limit, p.Offset)
	if err != nil {
		return err
	}
	out := make([]userResponse, len(us))
	for i, u := range us {
		out[i] = toUserResponse(u)
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func getUser(c *gin.Context, client *tenantdb.Client) error {
	id, err := pathUUID(c, "user_id", apperr.NotFound)
	if err != nil {
		return err
	}
	u, err := users.Get(c.Request.Context(), client, id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toUserResponse(u))
	return nil
}

func updateUser(c *gin.Context, client *tenantdb.Client) error {
	id, err := pathUUID(c, "user_id", apperr.NotFound)
	if err != nil {
		return err
	}
	var req updateUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	in, err := req.validate()
	if err != nil {
		return err
	}
	u, err := users.Update(c.Request.Context(), client, id, in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toUserResponse(u))
	return nil
}

func deleteUser(c *gin.Context, client *tenantdb.Client) error {
	id, err := pathUUID(c, "user_id", apperr.NotFound)
	if err != nil {
		return err
	}
	if err := users.Delete(c.Request.Context(), client, id); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}
