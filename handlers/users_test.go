package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/internal/testlog"
	"github.com/tenantkit/tenantkit/tenancy/sqldb"
)

// user is the JSON of a user.
type user struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// decodeUser checks that rec holds exactly the fields of a user and returns it.
func decodeUser(t testing.TB, rec *httptest.ResponseRecorder) user {
	t.Helper()
	var raw map[string]json.RawMessage
	decode(t, rec, &raw)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"created_at", "email", "id", "name", "updated_at"}; !slices.Equal(keys, want) {
		t.Errorf("user fields %v, want %v", keys, want)
	}
	var u user
	decode(t, rec, &u)
	if _, err := uuid.Parse(u.ID); err != nil {
		t.Errorf("user id %q is not a UUID", u.ID)
	}
	for name, ts := range map[string]json.RawMessage{"created_at": raw["created_at"], "updated_at": raw["updated_at"]} {
		var s string
		if err := json.Unmarshal(ts, &s); err != nil {
			t.Errorf("%s is not a string: %s", name, ts)
			continue
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s %q is not RFC 3339", name, s)
		}
	}
	return u
}

// createUser posts a user and returns it, failing unless the answer is 201.
func createUser(t testing.TB, h http.Handler, email, name string) user {
	t.Helper()
	rec := serve(t, h, http.MethodPost, "/api/v1/users", map[string]string{"email": email, "name": name})
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /api/v1/users %s: status %d, want 201; body %s", email, rec.Code, rec.Body)
	}
	return decodeUser(t, rec)
}

func listUsers(t testing.TB, h http.Handler, query string) []user {
	t.Helper()
	rec := serve(t, h, http.MethodGet, "/api/v1/users"+query, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/users%s: status %d; body %s", query, rec.Code, rec.Body)
	}
	var us []user
	decode(t, rec, &us)
	if us == nil {
		t.Fatalf("GET /api/v1/users%s: body %s, want a JSON array", query, rec.Body)
	}
	return us
}

func TestUsersCRUD(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler
		before := time.Now().Add(-time.Minute)

		if got := listUsers(t, h, ""); len(got) != 0 {
			t.Fatalf("new database lists %d users, want an empty array", len(got))
		}

		// Create: the email is trimmed and lower-cased, the name kept.
		rec := serve(t, h, http.MethodPost, "/api/v1/users", map[string]string{"email": "  Alice@Example.COM ", "name": "Alice Liddell"})
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST: status %d, want 201; body %s", rec.Code, rec.Body)
		}
		created := decodeUser(t, rec)
		if created.Email != "alice@example.com" || created.Name != "Alice Liddell" {
			t.Errorf("created %+v, want email alice@example.com and name Alice Liddell", created)
		}
		// created_at and updated_at come from two clock readings: equal
		// or a few microseconds apart, never reversed.
		if created.UpdatedAt.Before(created.CreatedAt) || created.UpdatedAt.Sub(created.CreatedAt) > time.Second {
			t.Errorf("new user: created_at %v, updated_at %v", created.CreatedAt, created.UpdatedAt)
		}
		if created.CreatedAt.Before(before) || created.CreatedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("created_at %v is not about now", created.CreatedAt)
		}
		if created.CreatedAt.Location() != time.UTC {
			t.Errorf("created_at %v is not in UTC", created.CreatedAt)
		}

		// Read: what GET returns is what POST returned.
		rec = serve(t, h, http.MethodGet, "/api/v1/users/"+created.ID, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET: status %d; body %s", rec.Code, rec.Body)
		}
		if got := decodeUser(t, rec); got != created {
			t.Errorf("GET returned %+v, POST returned %+v", got, created)
		}
		// Also with an upper-case UUID.
		if rec := serve(t, h, http.MethodGet, "/api/v1/users/"+strings.ToUpper(created.ID), nil); rec.Code != http.StatusOK {
			t.Errorf("GET with upper-case id: status %d; body %s", rec.Code, rec.Body)
		}
		if got := listUsers(t, h, ""); len(got) != 1 || got[0] != created {
			t.Errorf("list = %+v, want [%+v]", got, created)
		}

		// A name of 200 characters is fine, however many bytes they take.
		long := strings.Repeat("é", 200)
		rec = serve(t, h, http.MethodPost, "/api/v1/users", map[string]string{"email": "e@example.com", "name": long})
		if rec.Code != http.StatusCreated {
			t.Errorf("POST with a 200-character (400-byte) name: status %d, want 201; body %s", rec.Code, rec.Body)
		} else if u := decodeUser(t, rec); u.Name != long {
			t.Errorf("name came back as %q", u.Name)
		}

		// Update the name only: the email stays, created_at stays.
		rec = serve(t, h, http.MethodPut, "/api/v1/users/"+created.ID, map[string]string{"name": "Alice L."})
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT name: status %d; body %s", rec.Code, rec.Body)
		}
		updated := decodeUser(t, rec)
		if updated.ID != created.ID || updated.Name != "Alice L." || updated.Email != created.Email {
			t.Errorf("after PUT name: %+v", updated)
		}
		if !updated.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("PUT changed created_at from %v to %v", created.CreatedAt, updated.CreatedAt)
		}
		if updated.UpdatedAt.Before(created.UpdatedAt) {
			t.Errorf("PUT moved updated_at back from %v to %v", created.UpdatedAt, updated.UpdatedAt)
		}
		// Update the email only: normalised like on create.
		rec = serve(t, h, http.MethodPut, "/api/v1/users/"+created.ID, map[string]string{"email": "ALICE@wonderland.example"})
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT email: status %d; body %s", rec.Code, rec.Body)
		}
		updated = decodeUser(t, rec)
		if updated.Email != "alice@wonderland.example" || updated.Name != "Alice L." {
			t.Errorf("after PUT email: %+v", updated)
		}
		rec = serve(t, h, http.MethodGet, "/api/v1/users/"+created.ID, nil)
		if got := decodeUser(t, rec); got != updated {
			t.Errorf("GET after PUT returned %+v, PUT returned %+v", got, updated)
		}

		// Delete: 204 without a body, then the user is gone.
		rec = serve(t, h, http.MethodDelete, "/api/v1/users/"+created.ID, nil)
		if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
			t.Fatalf("DELETE: status %d, body %q; want 204 and no body", rec.Code, rec.Body)
		}
		wantError(t, serve(t, h, http.MethodGet, "/api/v1/users/"+created.ID, nil), http.StatusNotFound, "not_found")
		wantError(t, serve(t, h, http.MethodPut, "/api/v1/users/"+created.ID, map[string]string{"name": "x"}), http.StatusNotFound, "not_found")
		wantError(t, serve(t, h, http.MethodDelete, "/api/v1/users/"+created.ID, nil), http.StatusNotFound, "not_found")
		for _, u := range listUsers(t, h, "") {
			if u.ID == created.ID {
				t.Errorf("deleted user still listed: %+v", u)
			}
		}
		// The email of a deleted user is free again.
		createUser(t, h, "alice@wonderland.example", "Alice again")
	})
}

func TestUsersValidation(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler
		existing := createUser(t, h, "existing@example.com", "Existing")

		tooLongEmail := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com" // 255 bytes
		okLongEmail := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"  // 254 bytes
		// 254 bytes as sent, 284 once lower-cased ("Ⱥ" is 2 bytes, "ⱥ" 3).
		growingEmail := strings.Repeat("Ⱥ", 30) + "@" + strings.Repeat("b", 189) + ".com"
		if len(tooLongEmail) != 255 || len(okLongEmail) != 254 || len(growingEmail) != 254 || len(strings.ToLower(growingEmail)) != 284 {
			t.Fatal("test emails have the wrong lengths")
		}

		for _, tc := range []struct {
			name   string
			method string // POST to the collection, or PUT to the existing user
			body   string
			fields []string // fields the error must name
		}{
			{"missing email", "POST", `{"name":"Ann"}`, []string{"email"}},
			{"empty email", "POST", `{"email":"","name":"Ann"}`, []string{"email"}},
			{"blank email", "POST", `{"email":"   ","name":"Ann"}`, []string{"email"}},
			{"email without at", "POST", `{"email":"ann.example.com","name":"Ann"}`, []string{"email"}},
			{"email without domain", "POST", `{"email":"ann@","name":"Ann"}`, []string{"email"}},
			{"email without local part", "POST", `{"email":"@example.com","name":"Ann"}`, []string{"email"}},
			{"email without dot in domain", "POST", `{"email":"ann@localhost","name":"Ann"}`, []string{"email"}},
			{"email with two ats", "POST", `{"email":"ann@@example.com","name":"Ann"}`, []string{"email"}},
			{"email with a space", "POST", `{"email":"ann smith@example.com","name":"Ann"}`, []string{"email"}},
			{"email with display name", "POST", `{"email":"Ann <ann@example.com>","name":"Ann"}`, []string{"email"}},
			{"email with comment", "POST", `{"email":"ann@example.com (Ann)","name":"Ann"}`, []string{"email"}},
			{"email too long", "POST", fmt.Sprintf(`{"email":%q,"name":"Ann"}`, tooLongEmail), []string{"email"}},
			{"email too long once lower-cased", "POST", fmt.Sprintf(`{"email":%q,"name":"Ann"}`, growingEmail), []string{"email"}},
			{"missing name", "POST", `{"email":"ann@example.com"}`, []string{"name"}},
			{"empty name", "POST", `{"email":"ann@example.com","name":""}`, []string{"name"}},
			{"blank name", "POST", `{"email":"ann@example.com","name":" \t "}`, []string{"name"}},
			{"name of 201 characters", "POST", fmt.Sprintf(`{"email":"ann@example.com","name":%q}`, strings.Repeat("n", 201)), []string{"name"}},
			{"name of 201 multi-byte characters", "POST", fmt.Sprintf(`{"email":"ann@example.com","name":%q}`, strings.Repeat("ü", 201)), []string{"name"}},
			{"name with NUL", "POST", `{"email":"ann@example.com","name":"A\u0000nn"}`, []string{"name"}},
			{"both missing", "POST", `{}`, []string{"email", "name"}},
			{"null body", "POST", `null`, []string{"email", "name"}},
			{"email a number", "POST", `{"email":5,"name":"Ann"}`, []string{"email"}},
			{"email an object", "POST", `{"email":{"a":1},"name":"Ann"}`, []string{"email"}},
			{"name a boolean", "POST", `{"email":"ann@example.com","name":true}`, []string{"name"}},
			{"name an array", "POST", `{"email":"ann@example.com","name":["Ann"]}`, []string{"name"}},
			{"unknown field", "POST", `{"email":"ann@example.com","name":"Ann","role":"admin"}`, []string{"role"}},
			{"id is not settable", "POST", `{"id":"6e0b8a4c-3b8e-4a53-9a57-6a3d0f0e4b10","email":"ann@example.com","name":"Ann"}`, []string{"id"}},
			{"update with nothing", "PUT", `{}`, []string{"body"}},
			{"update bad email", "PUT", `{"email":"nope"}`, []string{"email"}},
			{"update empty name", "PUT", `{"name":""}`, []string{"name"}},
			{"update name too long", "PUT", fmt.Sprintf(`{"name":%q}`, strings.Repeat("n", 201)), []string{"name"}},
			{"update name a number", "PUT", `{"name":42}`, []string{"name"}},
			{"update unknown field", "PUT", `{"name":"Ann","created_at":"2020-01-01T00:00:00Z"}`, []string{"created_at"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				target := "/api/v1/users"
				if tc.method == http.MethodPut {
					target += "/" + existing.ID
				}
				e := wantError(t, serve(t, h, tc.method, target, tc.body), http.StatusUnprocessableEntity, "validation_failed")
				for _, f := range tc.fields {
					if e.Fields[f] == "" {
						t.Errorf("error fields %v do not name %q", e.Fields, f)
					}
				}
				if len(e.Fields) != len(tc.fields) {
					t.Errorf("error fields %v, want exactly %v", e.Fields, tc.fields)
				}
			})
		}

		// Nothing invalid was stored, and the user updated by failing PUTs is unchanged.
		if got := listUsers(t, h, ""); len(got) != 1 || got[0] != existing {
			t.Errorf("after invalid requests the users are %+v, want only %+v", got, existing)
		}
		// The bounds themselves are accepted.
		createUser(t, h, okLongEmail, strings.Repeat("n", 200))
	})
}

func TestUsersMalformedBody(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler
		existing := createUser(t, h, "existing@example.com", "Existing")
		for _, tc := range []struct {
			name string
			body any
		}{
			{"empty body", ""},
			{"no body", nil},
			{"truncated", `{"email":"ann@example.com","name":`},
			{"not JSON", `email=ann@example.com&name=Ann`},
			{"single quotes", `{'email':'ann@example.com'}`},
			{"trailing comma", `{"email":"ann@example.com","name":"Ann",}`},
			{"two objects", `{"email":"ann@example.com","name":"Ann"}{"email":"bob@example.com","name":"Bob"}`},
			{"trailing garbage", `{"email":"ann@example.com","name":"Ann"} x`},
			{"an array", `[{"email":"ann@example.com","name":"Ann"}]`},
			{"a string", `"ann@example.com"`},
			{"a number", `42`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantError(t, serve(t, h, http.MethodPost, "/api/v1/users", tc.body), http.StatusBadRequest, "invalid_request")
				wantError(t, serve(t, h, http.MethodPut, "/api/v1/users/"+existing.ID, tc.body), http.StatusBadRequest, "invalid_request")
			})
		}
		t.Run("not JSON content type", func(t *testing.T) {
			rec := serve(t, h, http.MethodPost, "/api/v1/users", `{"email":"ann@example.com","name":"Ann"}`, "Content-Type", "text/plain")
			wantError(t, rec, http.StatusUnsupportedMediaType, "unsupported_media_type")
		})
		t.Run("JSON with charset", func(t *testing.T) {
			rec := serve(t, h, http.MethodPost, "/api/v1/users", `{"email":"charset@example.com","name":"Ann"}`, "Content-Type", "application/json; charset=utf-8")
			if rec.Code != http.StatusCreated {
				t.Errorf("status %d, want 201; body %s", rec.Code, rec.Body)
			}
		})
		if got := listUsers(t, h, ""); len(got) != 2 {
			t.Errorf("%d users stored, want 2: %+v", len(got), got)
		}
	})
}

func TestUsersDuplicateEmail(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler
		first := createUser(t, h, "a@b.co", "First")

		for _, email := range []string{"a@b.co", "A@B.co", "A@b.CO", " a@b.co "} {
			rec := serve(t, h, http.MethodPost, "/api/v1/users", map[string]string{"email": email, "name": "Second"})
			wantError(t, rec, http.StatusConflict, "conflict")
		}
		// Case-insensitive in the other direction too: upper case first.
		createUser(t, h, "Carol@Example.com", "Carol")
		wantError(t, serve(t, h, http.MethodPost, "/api/v1/users", map[string]string{"email": "carol@example.com", "name": "Carol 2"}),
			http.StatusConflict, "conflict")

		// Changing another user's email to a taken one conflicts as well.
		other := createUser(t, h, "other@b.co", "Other")
		wantError(t, serve(t, h, http.MethodPut, "/api/v1/users/"+other.ID, map[string]string{"email": "A@B.CO"}),
			http.StatusConflict, "conflict")
		// Setting a user's own email again is not a conflict.
		rec := serve(t, h, http.MethodPut, "/api/v1/users/"+first.ID, map[string]string{"email": "A@b.co", "name": "First again"})
		if rec.Code != http.StatusOK {
			t.Errorf("PUT own email: status %d, want 200; body %s", rec.Code, rec.Body)
		}

		emails := map[string]int{}
		for _, u := range listUsers(t, h, "") {
			emails[u.Email]++
		}
		want := map[string]int{"a@b.co": 1, "carol@example.com": 1, "other@b.co": 1}
		if fmt.Sprint(emails) != fmt.Sprint(want) {
			t.Errorf("stored emails %v, want %v", emails, want)
		}
	})
}

func TestUsersPagination(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler
		const n = 57
		ids := map[string]bool{}
		for i := range n {
			ids[createUser(t, h, fmt.Sprintf("user%02d@example.com", i), fmt.Sprintf("User %d", i)).ID] = true
		}

		all := listUsers(t, h, "?limit=500")
		if len(all) != n {
			t.Fatalf("limit=500 lists %d users, want %d", len(all), n)
		}
		for _, u := range all {
			if !ids[u.ID] {
				t.Errorf("listed unknown user %+v", u)
			}
			delete(ids, u.ID)
		}
		if len(ids) != 0 {
			t.Errorf("users missing from the list: %v", ids)
		}
		// Oldest first, ties broken by id: a total order, so pages are stable.
		for i := 1; i < len(all); i++ {
			a, b := all[i-1], all[i]
			if a.CreatedAt.After(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID >= b.ID) {
				t.Errorf("list not ordered by (created_at, id) at %d: %s %s then %s %s", i, a.CreatedAt, a.ID, b.CreatedAt, b.ID)
			}
		}
		if again := listUsers(t, h, "?limit=500"); !slices.Equal(again, all) {
			t.Errorf("the same list request gave a different order")
		}

		if got := listUsers(t, h, ""); !slices.Equal(got, all[:50]) {
			t.Errorf("default page has %d users, want the first 50", len(got))
		}
		if got := listUsers(t, h, "?offset=50"); !slices.Equal(got, all[50:]) {
			t.Errorf("offset=50 gives %d users, want the last %d", len(got), n-50)
		}
		if got := listUsers(t, h, "?limit=1&offset=56"); !slices.Equal(got, all[56:]) {
			t.Errorf("limit=1&offset=56 gives %+v", got)
		}
		if got := listUsers(t, h, "?offset=1000"); len(got) != 0 {
			t.Errorf("offset past the end gives %d users", len(got))
		}
		if got := listUsers(t, h, "?offset=0&limit=1"); !slices.Equal(got, all[:1]) {
			t.Errorf("limit=1 gives %+v", got)
		}
		// Walking the pages visits every user once, in order.
		var walked []user
		for off := 0; ; off += 10 {
			page := listUsers(t, h, fmt.Sprintf("?limit=10&offset=%d", off))
			walked = append(walked, page...)
			if len(page) < 10 {
				break
			}
		}
		if !slices.Equal(walked, all) {
			t.Errorf("paging by 10 visits %d users, not the %d of the full list in order", len(walked), len(all))
		}

		for _, q := range []string{"limit=501", "limit=0", "limit=-1", "limit=abc", "limit=", "limit=1.5", "limit=99999999999999999999"} {
			e := wantError(t, serve(t, h, http.MethodGet, "/api/v1/users?"+q, nil), http.StatusUnprocessableEntity, "validation_failed")
			if e.Fields["limit"] == "" {
				t.Errorf("%s: error fields %v do not name limit", q, e.Fields)
			}
		}
		for _, q := range []string{"offset=-1", "offset=abc", "offset="} {
			e := wantError(t, serve(t, h, http.MethodGet, "/api/v1/users?"+q, nil), http.StatusUnprocessableEntity, "validation_failed")
			if e.Fields["offset"] == "" {
				t.Errorf("%s: error fields %v do not name offset", q, e.Fields)
			}
		}
		e := wantError(t, serve(t, h, http.MethodGet, "/api/v1/users?limit=0&offset=-1", nil), http.StatusUnprocessableEntity, "validation_failed")
		if e.Fields["limit"] == "" || e.Fields["offset"] == "" {
			t.Errorf("both bad: error fields %v, want limit and offset", e.Fields)
		}
	})
}

// paddedUser is a valid create body of exactly size bytes: the object
// followed (or preceded) by JSON whitespace.
func paddedUser(email string, size int, leading bool) []byte {
	obj := fmt.Sprintf(`{"email":%q,"name":"Padded"}`, email)
	pad := bytes.Repeat([]byte(" "), size-len(obj))
	if leading {
		return append(pad, obj...)
	}
	return append([]byte(obj), pad...)
}

func TestUsersBodyLimit(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		a := newTestApp(t, env)
		// A real server, so that Content-Length and chunked transfer encoding
		// are what the router sees; the wrapper only reports which it was.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Test-Transfer-Encoding", strings.Join(r.TransferEncoding, ","))
			w.Header().Set("X-Test-Content-Length", fmt.Sprint(r.ContentLength))
			a.Handler.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		const limit = 1 << 20

		post := func(t *testing.T, body []byte, chunked bool) (*http.Response, []byte) {
			t.Helper()
			var r io.Reader = bytes.NewReader(body)
			if chunked {
				r = struct{ io.Reader }{r} // unknown length: sent chunked
			}
			req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, srv.URL+"/api/v1/users", r)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("POST %d bytes (chunked %v): %v", len(body), chunked, err)
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			te := resp.Header.Get("X-Test-Transfer-Encoding")
			if chunked && te != "chunked" {
				t.Fatalf("the request reached the server with Transfer-Encoding %q, want chunked", te)
			}
			if !chunked && resp.Header.Get("X-Test-Content-Length") != fmt.Sprint(len(body)) {
				t.Fatalf("the request reached the server with Content-Length %s, want %d", resp.Header.Get("X-Test-Content-Length"), len(body))
			}
			if resp.Header.Get("X-Request-ID") == "" {
				t.Errorf("response %d has no X-Request-ID", resp.StatusCode)
			}
			return resp, data
		}
		asRecorder := func(resp *http.Response, body []byte) *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			for k, v := range resp.Header {
				rec.Header()[k] = v
			}
			rec.Code = resp.StatusCode
			rec.Body = bytes.NewBuffer(body)
			return rec
		}

		for _, tc := range []struct {
			name    string
			chunked bool
		}{{"content-length", false}, {"chunked", true}} {
			t.Run(tc.name, func(t *testing.T) {
				// Exactly the limit is accepted.
				email := tc.name + "@example.com"
				resp, data := post(t, paddedUser(email, limit, false), tc.chunked)
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("body of exactly %d bytes: status %d, want 201; body %s", limit, resp.StatusCode, data)
				}
				// One byte more is refused, wherever the excess is.
				for _, leading := range []bool{false, true} {
					resp, data := post(t, paddedUser("big-"+email, limit+1, leading), tc.chunked)
					e := wantError(t, asRecorder(resp, data), http.StatusRequestEntityTooLarge, "body_too_large")
					if !strings.Contains(e.Message, fmt.Sprint(limit)) {
						t.Errorf("413 message %q does not state the limit", e.Message)
					}
				}
				// Far over the limit (a client that will not stop) too.
				resp, data = post(t, paddedUser("huge-"+email, 8*limit, true), tc.chunked)
				wantError(t, asRecorder(resp, data), http.StatusRequestEntityTooLarge, "body_too_large")
			})
		}
		// PUT has the same limit.
		u := createUser(t, a.Handler, "put@example.com", "Put")
		rec := serve(t, a.Handler, http.MethodPut, "/api/v1/users/"+u.ID, paddedUser("put2@example.com", limit+1, true))
		wantError(t, rec, http.StatusRequestEntityTooLarge, "body_too_large")

		got := listUsers(t, a.Handler, "")
		var emails []string
		for _, u := range got {
			emails = append(emails, u.Email)
		}
		slices.Sort(emails)
		if want := []string{"chunked@example.com", "content-length@example.com", "put@example.com"}; !slices.Equal(emails, want) {
			t.Errorf("stored users %v, want %v", emails, want)
		}
	})
}

func TestUsersTrailingSlash(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler
		check := func(rec *httptest.ResponseRecorder, want int, what string) {
			t.Helper()
			if rec.Code != want {
				t.Fatalf("%s: status %d (Location %q), want %d; body %s", what, rec.Code, rec.Header().Get("Location"), want, rec.Body)
			}
		}
		rec := serve(t, h, http.MethodPost, "/api/v1/users/", map[string]string{"email": "slash@example.com", "name": "Slash"})
		check(rec, http.StatusCreated, "POST /api/v1/users/")
		u := decodeUser(t, rec)
		check(serve(t, h, http.MethodGet, "/api/v1/users/", nil), http.StatusOK, "GET /api/v1/users/")
		check(serve(t, h, http.MethodGet, "/api/v1/users/?limit=1", nil), http.StatusOK, "GET /api/v1/users/?limit=1")
		rec = serve(t, h, http.MethodGet, "/api/v1/users/"+u.ID+"/", nil)
		check(rec, http.StatusOK, "GET /api/v1/users/{id}/")
		if got := decodeUser(t, rec); got != u {
			t.Errorf("GET with slash returned %+v, want %+v", got, u)
		}
		check(serve(t, h, http.MethodPut, "/api/v1/users/"+u.ID+"/", map[string]string{"name": "Slashed"}), http.StatusOK, "PUT /api/v1/users/{id}/")
		check(serve(t, h, http.MethodGet, "/healthz/", nil), http.StatusOK, "GET /healthz/")
		check(serve(t, h, http.MethodGet, "/readyz/", nil), http.StatusOK, "GET /readyz/")
		check(serve(t, h, http.MethodDelete, "/api/v1/users/"+u.ID+"/", nil), http.StatusNoContent, "DELETE /api/v1/users/{id}/")
		wantError(t, serve(t, h, http.MethodGet, "/api/v1/users/"+u.ID+"/", nil), http.StatusNotFound, "not_found")
	})
}

var generatedRequestID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestRequestID(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler

		// Made when absent, different each time.
		seen := map[string]bool{}
		for range 3 {
			rid := serve(t, h, http.MethodGet, "/healthz", nil).Header().Get("X-Request-ID")
			if !generatedRequestID.MatchString(rid) || seen[rid] {
				t.Errorf("generated X-Request-ID %q is malformed or repeated", rid)
			}
			seen[rid] = true
		}
		// Echoed when well-formed; replaced otherwise.
		for _, tc := range []struct {
			in   string
			echo bool
		}{
			{"abc-123_X.y", true},
			{"7f3c2a1e-0d4b-4e8a-9c1f-2b3a4d5e6f70", true},
			{strings.Repeat("r", 64), true},
			{strings.Repeat("r", 65), false},
			{strings.Repeat("r", 200), false},
			{"has space", false},
			{"semi;colon", false},
			{"new\\nline", false},
			{"<script>", false},
			{"ünïcode", false},
		} {
			rec := serve(t, h, http.MethodGet, "/healthz", nil, "X-Request-ID", tc.in)
			got := rec.Header().Get("X-Request-ID")
			if tc.echo && got != tc.in {
				t.Errorf("X-Request-ID %q came back as %q, want it echoed", tc.in, got)
			}
			if !tc.echo && (got == tc.in || !generatedRequestID.MatchString(got)) {
				t.Errorf("malformed X-Request-ID %q came back as %q, want a fresh id", tc.in, got)
			}
		}
		// On every kind of response, and in error bodies (wantError checks
		// that the body's request_id is the header's).
		const rid = "trace-me-42"
		u := createUser(t, h, "rid@example.com", "Rid")
		for _, tc := range []struct {
			method, target string
			body           any
			status         int
		}{
			{http.MethodGet, "/healthz", nil, 200},
			{http.MethodGet, "/readyz", nil, 200},
			{http.MethodGet, "/metrics", nil, 200},
			{http.MethodGet, "/api/v1/users", nil, 200},
			{http.MethodGet, "/api/v1/users/" + u.ID, nil, 200},
			{http.MethodPost, "/api/v1/users", map[string]string{"email": "rid2@example.com", "name": "Rid"}, 201},
			{http.MethodDelete, "/api/v1/users/" + u.ID, nil, 204},
			{http.MethodGet, "/api/v1/users/" + u.ID, nil, 404},
			{http.MethodGet, "/nowhere", nil, 404},
			{http.MethodPost, "/api/v1/users", `{`, 400},
			{http.MethodPost, "/api/v1/users", `{}`, 422},
			{http.MethodPost, "/api/v1/users", map[string]string{"email": "rid2@example.com", "name": "Rid"}, 409},
			{http.MethodPost, "/api/v1/users", strings.Repeat(" ", 1<<20+1), 413},
			{http.MethodPatch, "/api/v1/users", nil, 405},
			{http.MethodGet, "/api/v1/tenants", nil, 404},
		} {
			rec := serve(t, h, tc.method, tc.target, tc.body, "X-Request-ID", rid)
			if rec.Code != tc.status {
				t.Errorf("%s %s: status %d, want %d; body %s", tc.method, tc.target, rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("X-Request-ID"); got != rid {
				t.Errorf("%s %s: X-Request-ID %q, want %q", tc.method, tc.target, got, rid)
			}
			if rec.Code >= 400 {
				wantError(t, rec, tc.status, "")
			}
		}
	})
}

func TestUsersNotFound(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler
		createUser(t, h, "nf@example.com", "Nf")
		for _, id := range []string{"not-a-uuid", "123", "6e0b8a4c-3b8e-4a53-9a57", "6e0b8a4c-3b8e-4a53-9a57-6a3d0f0e4b10x", "%27%20OR%201=1--", uuid.NewString(), uuid.Nil.String()} {
			for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
				var body any
				if method == http.MethodPut {
					body = map[string]string{"name": "x"}
				}
				e := wantError(t, serve(t, h, method, "/api/v1/users/"+id, body), http.StatusNotFound, "not_found")
				if strings.Contains(e.Message, "OR 1=1") {
					t.Errorf("404 message echoes the raw id: %q", e.Message)
				}
			}
		}
		for _, target := range []string{"/nowhere", "/api/v1", "/api/v1/user", "/api/v2/users", "/api/v1/users/a/b", "/" + strings.Repeat("x", 500)} {
			e := wantError(t, serve(t, h, http.MethodGet, target, nil), http.StatusNotFound, "not_found")
			if len(e.Message) > 200 {
				t.Errorf("404 message for a long path is %d bytes: the path must be bounded", len(e.Message))
			}
		}
		wantError(t, serve(t, h, http.MethodPatch, "/api/v1/users", nil), http.StatusMethodNotAllowed, "method_not_allowed")
		// Tenant management is off in single-tenant mode.
		wantError(t, serve(t, h, http.MethodGet, "/api/v1/tenants", nil), http.StatusNotFound, "multi_tenancy_disabled")
		wantError(t, serve(t, h, http.MethodPost, "/api/tenants/", `{"name":"a","slug":"a"}`), http.StatusNotFound, "multi_tenancy_disabled")
	})
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler
		for _, target := range []string{"/healthz", "/readyz"} {
			rec := serve(t, h, http.MethodGet, target, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: status %d; body %s", target, rec.Code, rec.Body)
			}
			var body map[string]string
			decode(t, rec, &body)
			if body["status"] == "" {
				t.Errorf("GET %s: body %s has no status", target, rec.Body)
			}
		}
	})
}

// TestDatabaseDown drops the main database (WITH (FORCE), ending the app's
// sessions) under a running app: readiness and the API answer 503 in the
// API's shape, never with the driver's message. PostgreSQL only: a SQLite
// file cannot be taken away from an open connection reliably.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	env := testdb.Postgres(t)
	logs := &testlog.Buffer{}
	a := newTestAppLogged(t, env, logs)
	h := a.Handler
	u := createUser(t, h, "down@example.com", "Down")
	if rec := serve(t, h, http.MethodGet, "/readyz", nil); rec.Code != http.StatusOK {
		t.Fatalf("GET /readyz before the drop: status %d; body %s", rec.Code, rec.Body)
	}
	if err := env.Server.Drop(testContext(t), env.DBName); err != nil {
		t.Fatalf("drop main database: %v", err)
	}
	if ok, err := env.Server.Exists(testContext(t), env.DBName); err != nil || ok {
		t.Fatalf("main database still exists after the drop (%v)", err)
	}

	// Twice each: the first request meets the terminated session, the
	// second a fresh connection to a database that does not exist.
	for range 2 {
		wantError(t, serve(t, h, http.MethodGet, "/readyz", nil), http.StatusServiceUnavailable, "service_unavailable")
	}
	for range 2 {
		for _, req := range []struct {
			method, target string
			body           any
		}{
			{http.MethodGet, "/api/v1/users", nil},
			{http.MethodGet, "/api/v1/users/" + u.ID, nil},
			{http.MethodPost, "/api/v1/users", map[string]string{"email": "down2@example.com", "name": "Down"}},
		} {
			rec := serve(t, h, req.method, req.target, req.body)
			wantError(t, rec, http.StatusServiceUnavailable, "service_unavailable")
			wantNoLeak(t, rec, env)
		}
	}
	// The process itself is alive.
	if rec := serve(t, h, http.MethodGet, "/healthz", nil); rec.Code != http.StatusOK {
		t.Errorf("GET /healthz with the database down: status %d", rec.Code)
	}
}

// wantNoLeak fails if an error body shows internals: SQL, driver messages,
// database names, file paths or connection strings.
func wantNoLeak(t testing.TB, rec *httptest.ResponseRecorder, env testdb.Env) {
	t.Helper()
	body := strings.ToLower(rec.Body.String())
	leaks := []string{"select", "insert", "from ", "relation", "table", "pq:", "sqlite", "postgres", "sql:", "ent:", "does not exist", "goroutine", ".go:", "password", "127.0.0.1", "5432", strings.ToLower(env.DBName)}
	if env.DataDir != "" {
		leaks = append(leaks, strings.ToLower(env.DataDir))
	}
	for _, s := range leaks {
		if strings.Contains(body, s) {
			t.Errorf("error body leaks %q: %s", s, rec.Body)
		}
	}
}

// TestInternalErrorNoLeak drops the users table under a running app: the API
// answers 500 with a generic message and the request id, which the log
// carries too, and nothing of the failing SQL.
func TestInternalErrorNoLeak(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		logs := &testlog.Buffer{}
		h := newTestAppLogged(t, env, logs).Handler
		u := createUser(t, h, "gone@example.com", "Gone")

		db, err := env.Server.Open(testContext(t), env.DBName, sqldb.Pool{MaxOpen: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(testContext(t), `DROP TABLE users`); err != nil {
			t.Fatalf("drop users table: %v", err)
		}

		for i, req := range []struct {
			method, target string
			body           any
		}{
			{http.MethodGet, "/api/v1/users", nil},
			{http.MethodGet, "/api/v1/users/" + u.ID, nil},
			{http.MethodPost, "/api/v1/users", map[string]string{"email": "gone2@example.com", "name": "Gone"}},
			{http.MethodPut, "/api/v1/users/" + u.ID, map[string]string{"name": "Gone"}},
			{http.MethodDelete, "/api/v1/users/" + u.ID, nil},
		} {
			rid := fmt.Sprintf("internal-%d", i)
			rec := serve(t, h, req.method, req.target, req.body, "X-Request-ID", rid)
			e := wantError(t, rec, http.StatusInternalServerError, "internal_error")
			if e.Message != "an unexpected error occurred" {
				t.Errorf("%s %s: 500 message %q, want the generic one", req.method, req.target, e.Message)
			}
			if e.RequestID != rid {
				t.Errorf("%s %s: request_id %q, want %q", req.method, req.target, e.RequestID, rid)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: error response Cache-Control %q, want no-store", req.method, req.target, rec.Header().Get("Cache-Control"))
			}
			wantNoLeak(t, rec, env)
			if !strings.Contains(logs.String(), `"request_id":"`+rid+`"`) {
				t.Errorf("%s %s: the log has no line with request id %s:\n%s", req.method, req.target, rid, logs)
			}
		}
		// Readiness is about reaching the database, which still works.
		if rec := serve(t, h, http.MethodGet, "/readyz", nil); rec.Code != http.StatusOK {
			t.Errorf("GET /readyz: status %d; body %s", rec.Code, rec.Body)
		}
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		h := newTestApp(t, env).Handler
		u := createUser(t, h, "m@example.com", "M")
		serve(t, h, http.MethodGet, "/api/v1/users/"+u.ID, nil)
		serve(t, h, http.MethodGet, "/api/v1/users/"+u.ID, nil)
		serve(t, h, http.MethodGet, "/api/v1/users/"+uuid.NewString(), nil)
		serve(t, h, http.MethodGet, "/no/such/route/"+u.ID, nil)
		serve(t, h, http.MethodGet, "/api/v1/users", nil)

		rec := serve(t, h, http.MethodGet, "/metrics", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /metrics: status %d; body %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("GET /metrics: Content-Type %q, want the Prometheus text format", ct)
		}
		text := rec.Body.String()
		for _, want := range []string{
			"# TYPE http_requests_total counter",
			`http_requests_total{method="POST",route="/api/v1/users",status="201"} 1`,
			`http_requests_total{method="GET",route="/api/v1/users/:user_id",status="200"} 2`,
			`http_requests_total{method="GET",route="/api/v1/users/:user_id",status="404"} 1`,
			`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
			`http_requests_total{method="GET",route="/api/v1/users",status="200"} 1`,
			"http_request_duration_seconds_bucket{",
			fmt.Sprintf(`go_sql_max_open_connections{db_name=%q} 4`, env.DBName),
			fmt.Sprintf(`go_sql_open_connections{db_name=%q}`, env.DBName),
			fmt.Sprintf(`go_sql_wait_count_total{db_name=%q}`, env.DBName),
			"go_goroutines ",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		// Route labels are patterns: no id ever becomes a label value.
		if strings.Contains(text, u.ID) {
			t.Errorf("/metrics contains a raw user id: route labels must be patterns")
		}
		// The scrape itself is counted by the next one.
		if text := serve(t, h, http.MethodGet, "/metrics", nil).Body.String(); !strings.Contains(text, `http_requests_total{method="GET",route="/metrics",status="200"} 1`) {
			t.Errorf("the /metrics request is not counted")
		}
	})
}
