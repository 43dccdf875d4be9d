package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/testdb"
	"github.com/tenantkit/tenantkit/internal/testlog"
)

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// dbEnviron is the database part of the environment of env.
func dbEnviron(env testdb.Env) []string {
	if env.URL != "" {
		return []string{"DATABASE_URL=" + env.URL}
	}
	return []string{"DATA_DIR=" + env.DataDir, "DB_NAME=" + env.DBName}
}

// server is one run of the service in this process.
type server struct {
	base   string // http://127.0.0.1:port
	port   int
	cancel context.CancelFunc
	done   chan error // run's result
	logs   *testlog.Buffer
}

// start calls run in a goroutine, as main does, and waits until /healthz
// answers. The test's cleanup stops it if the test did not.
func start(t *testing.T, environ ...string) *server {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{
		base:   fmt.Sprintf("http://127.0.0.1:%d", port),
		port:   port,
		cancel: cancel,
		done:   make(chan error, 1),
		logs:   &testlog.Buffer{},
	}
	environ = append([]string{"PORT=" + strconv.Itoa(port), "LOG_LEVEL=info", "LOG_FORMAT=json", "SHUTDOWN_TIMEOUT=30s"}, environ...)
	go func() { s.done <- run(ctx, []string{"-env-file", ""}, environ, s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(time.Minute):
			t.Errorf("run did not return within a minute of the cancellation")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})

	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-s.done:
			s.done <- err // for the cleanup
			t.Fatalf("run returned before serving: %v\nlog:\n%s", err, s.logs)
		default:
		}
		resp, err := client.Get(s.base + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz did not answer 200 within a minute (last: %v)\nlog:\n%s", err, s.logs)
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness, not synchronisation
	}
}

// stop cancels run's context and returns run's result.
func (s *server) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatalf("run did not return within a minute of the cancellation")
		return nil
	}
}

type user struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

func request(t *testing.T, method, url string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

func decodeUser(t *testing.T, data []byte) user {
	t.Helper()
	var u user
	if err := json.Unmarshal(data, &u); err != nil || u.ID == "" {
		t.Fatalf("not a user (%v): %s", err, data)
	}
	return u
}

// TestRunRestart starts the server, creates a user, shuts it down
// gracefully, starts it again on the same database and finds the user.
func TestRunRestart(t *testing.T) {
	t.Parallel()
	testdb.EachDialect(t, func(t *testing.T, env testdb.Env) {
		t.Parallel()
		s := start(t, dbEnviron(env)...)
		status, body := request(t, http.MethodPost, s.base+"/api/v1/users", map[string]string{"email": "Survivor@Example.com", "name": "Survivor"})
		if status != http.StatusCreated {
			t.Fatalf("POST /api/v1/users: status %d; body %s", status, body)
		}
		created := decodeUser(t, body)
		if err := s.stop(t); err != nil {
			t.Fatalf("run after a graceful shutdown returned %v, want nil\nlog:\n%s", err, s.logs)
		}
		logs := s.logs.String()
		for _, want := range []string{`"msg":"listening"`, `"msg":"shutting down: finishing in-flight requests"`, `"msg":"stopped"`} {
			if !strings.Contains(logs, want) {
				t.Errorf("the log lacks %s:\n%s", want, logs)
			}
		}
		if env.DataDir != "" {
			if _, err := os.Stat(env.Server.Describe(env.DBName)); err != nil {
				t.Errorf("SQLite main database file: %v", err)
			}
		}

		s2 := start(t, dbEnviron(env)...)
		status, body = request(t, http.MethodGet, s2.base+"/api/v1/users/"+created.ID, nil)
		if status != http.StatusOK {
			t.Fatalf("GET the user after the restart: status %d; body %s", status, body)
		}
		if got := decodeUser(t, body); got != created {
			t.Errorf("after the restart the user is %+v, want %+v", got, created)
		}
		status, body = request(t, http.MethodGet, s2.base+"/api/v1/users", nil)
		var all []user
		if err := json.Unmarshal(body, &all); status != http.StatusOK || err != nil || len(all) != 1 || all[0] != created {
			t.Errorf("list after the restart: status %d, body %s", status, body)
		}
		// The restart applied no migration twice and the main database is
		// ready.
		if status, body := request(t, http.MethodGet, s2.base+"/readyz", nil); status != http.StatusOK {
			t.Errorf("/readyz after the restart: status %d; body %s", status, body)
		}
		if err := s2.stop(t); err != nil {
			t.Errorf("second run returned %v, want nil", err)
		}
	})
}

// gatedReader is a request body whose first Read announces itself on
// started and then waits for release. With "Expect: 100-continue", the
// client reads the body only after the server's handler asked for it, so a
// closed started means the request is being handled.
type gatedReader struct {
	started, release chan struct{}
	once             sync.Once
	r                io.Reader
}

func (g *gatedReader) Read(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.started)
		<-g.release
	})
	return g.r.Read(p)
}

// TestRunShutdownFinishesInFlightRequest cancels run's context while a
// request is inside its handler: the listener closes at once, the request
// still completes with 201, and only then does run return nil.
func TestRunShutdownFinishesInFlightRequest(t *testing.T) {
	t.Parallel()
	env := testdb.SQLite(t)
	s := start(t, dbEnviron(env)...)

	payload := []byte(`{"email":"inflight@example.com","name":"In Flight"}`)
	body := &gatedReader{started: make(chan struct{}), release: make(chan struct{}), r: bytes.NewReader(payload)}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(body.release) }) }
	t.Cleanup(release)

	req, err := http.NewRequest(http.MethodPost, s.base+"/api/v1/users", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Hour, DisableKeepAlives: true}}
	type result struct {
		status int
		body   []byte
		err    error
	}
	results := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			results <- result{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		results <- result{status: resp.StatusCode, body: data, err: err}
	}()

	select {
	case <-body.started:
	case r := <-results:
		t.Fatalf("the request ended before its handler read the body: status %d, %v, %s", r.status, r.err, r.body)
	case <-time.After(time.Minute):
		t.Fatal("the handler never read the request body")
	}

	s.cancel()
	// Shutdown closes the listener first: wait until new connections are
	// refused, so the shutdown is known to be under way.
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts connections a minute after the cancellation")
		}
		time.Sleep(10 * time.Millisecond) // polling for the listener to close
	}
	select {
	case err := <-s.done:
		t.Fatalf("run returned (%v) while a request was in flight", err)
	default:
	}

	release()
	var r result
	select {
	case r = <-results:
	case <-time.After(time.Minute):
		t.Fatal("the in-flight request did not complete")
	}
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("in-flight request: status %d, error %v, body %s; want 201", r.status, r.err, r.body)
	}
	created := decodeUser(t, r.body)
	if err := s.stop(t); err != nil {
		t.Fatalf("run returned %v, want nil", err)
	}

	// What the in-flight request wrote is there after a restart.
	s2 := start(t, dbEnviron(env)...)
	if status, data := request(t, http.MethodGet, s2.base+"/api/v1/users/"+created.ID, nil); status != http.StatusOK {
		t.Errorf("GET the in-flight request's user after the restart: status %d; body %s", status, data)
	}
}

// TestRunBadConfig: a bad value stops the start with an error naming its
// variable, before anything is opened or created.
func TestRunBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ []string
		want    []string // variables the error must name
	}{
		{"port not a number", []string{"PORT=abc"}, []string{"PORT"}},
		{"port out of range", []string{"PORT=70000"}, []string{"PORT"}},
		{"port zero", []string{"PORT=0"}, []string{"PORT"}},
		{"bool not a bool", []string{"MULTI_TENANT_ENABLED=maybe"}, []string{"MULTI_TENANT_ENABLED"}},
		{"both", []string{"PORT=abc", "MULTI_TENANT_ENABLED=maybe"}, []string{"PORT", "MULTI_TENANT_ENABLED"}},
		{"database URL not postgres", []string{"DATABASE_URL=mysql://u:secret@h/db"}, []string{"DATABASE_URL"}},
		{"duration without unit", []string{"SHUTDOWN_TIMEOUT=10"}, []string{"SHUTDOWN_TIMEOUT"}},
		{"log level", []string{"LOG_LEVEL=loud"}, []string{"LOG_LEVEL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			logs := &testlog.Buffer{}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := run(ctx, []string{"-env-file", ""}, append(tc.environ, "DATA_DIR="+dir), logs)
			if err == nil {
				t.Fatalf("run returned nil, want an error naming %v", tc.want)
			}
			for _, v := range tc.want {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("error %q does not name %s", err, v)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password of DATABASE_URL", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a bad configuration still created %d files in DATA_DIR", len(entries))
			}
		})
	}
	t.Run("unknown flag", func(t *testing.T) {
		t.Parallel()
		err := run(context.Background(), []string{"-no-such-flag"}, []string{"DATA_DIR=" + t.TempDir()}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "no-such-flag") {
			t.Errorf("run with an unknown flag returned %v", err)
		}
	})
	t.Run("unreadable env file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := dir + "/.env"
		if err := os.WriteFile(path, []byte("PORT=8000\nnot a line\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := run(context.Background(), []string{"-env-file", path}, []string{"DATA_DIR=" + dir}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("run with a malformed .env returned %v, want an error naming the file", err)
		}
	})
}

// TestRunPortInUse: a port that is taken is an error, not a hang.
func TestRunPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = run(ctx, []string{"-env-file", ""}, []string{"PORT=" + strconv.Itoa(port), "DATA_DIR=" + dir, "LOG_LEVEL=error"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("run on a taken port returned %v, want an error naming the address", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run waited for the deadline: %v", err)
	}
}
