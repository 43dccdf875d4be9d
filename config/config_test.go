package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// secret is the password and API key every test uses, to check that no
// error, log line or printout ever shows it.
const secret = "s3cretPW"

func defaults() Config {
	return Config{
		MultiTenantEnabled:       false,
		TenantHeaderName:         "X-Tenant-ID",
		TenantSubdomainEnabled:   false,
		TenantBaseDomain:         "localhost",
		TenantProvisionStrategy:  "template",
		DatabaseURL:              "",
		DBName:                   "app",
		DataDir:                  "./data",
		MigrateOnStart:           true,
		DBMaxOpenConns:           10,
		DBMaxIdleConns:           5,
		DBConnMaxLifetime:        30 * time.Minute,
		TenantConnBudget:         40,
		TenantPoolSize:           2,
		TenantClientIdleTimeout:  5 * time.Minute,
		TenantAcquireTimeout:     5 * time.Second,
		TenantNotFoundTTL:        2 * time.Second,
		TenantProvisionTimeout:   2 * time.Minute,
		TenantRevalidateInterval: 30 * time.Second,
		Port:                     8000,
		AdminAPIKey:              "",
		HTTPReadHeaderTimeout:    5 * time.Second,
		HTTPRequestTimeout:       30 * time.Second,
		ShutdownTimeout:          15 * time.Second,
		MaxBodyBytes:             1 << 20,
		TrustProxyHeaders:        false,
		LogLevel:                 "info",
		LogFormat:                "json",
	}
}

// writeFile writes content to a file in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, environ []string, dotenvPath string) Config {
	t.Helper()
	c, err := Load(environ, dotenvPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	missing := filepath.Join(t.TempDir(), ".env")
	for _, tc := range []struct {
		name    string
		environ []string
		dotenv  string
	}{
		{"nothing", nil, ""},
		{"missing .env file", nil, missing},
		{"unrelated variables", []string{"HOME=/root", "PATH=/bin", "=C:=C:\\", "NOEQUALS"}, ""},
		{"empty values keep defaults", []string{"PORT=", "LOG_LEVEL=", "MIGRATE_ON_START=", "TENANT_HEADER_NAME="}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustLoad(t, tc.environ, tc.dotenv)
			if want := defaults(); !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%#v\nwant\n%#v", got, want)
			}
		})
	}
}

func TestDotenvAndEnvironment(t *testing.T) {
	file := `# a comment
export PORT=9000
LOG_LEVEL=debug
MULTI_TENANT_ENABLED=true
ADMIN_API_KEY='` + secret + `$x'
TENANT_CONN_BUDGET=12
UNRELATED=1
`
	for _, tc := range []struct {
		name    string
		environ []string
		check   func(t *testing.T, c Config)
	}{
		{"the file alone", nil, func(t *testing.T, c Config) {
			if c.Port != 9000 || c.LogLevel != "debug" || !c.MultiTenantEnabled || c.TenantConnBudget != 12 {
				t.Errorf("file values not applied: %+v", c)
			}
			if c.AdminAPIKey != secret+"$x" {
				t.Errorf("single-quoted value changed: got %q", c.AdminAPIKey)
			}
		}},
		{"the environment overrides the file", []string{"PORT=9100", "LOG_LEVEL=warn", "MULTI_TENANT_ENABLED=false"}, func(t *testing.T, c Config) {
			if c.Port != 9100 || c.LogLevel != "warn" || c.MultiTenantEnabled {
				t.Errorf("environment did not win: %+v", c)
			}
			if c.TenantConnBudget != 12 {
				t.Errorf("file value lost: TENANT_CONN_BUDGET=%d", c.TenantConnBudget)
			}
		}},
		{"an empty environment value does not hide the file", []string{"PORT="}, func(t *testing.T, c Config) {
			if c.Port != 9000 {
				t.Errorf("PORT = %d, want 9000 from the file", c.Port)
			}
		}},
		{"the first of duplicated entries wins", []string{"PORT=9200", "PORT=9300"}, func(t *testing.T, c Config) {
			if c.Port != 9200 {
				t.Errorf("PORT = %d, want 9200", c.Port)
			}
		}},
		{"defaults fill the rest", nil, func(t *testing.T, c Config) {
			if c.TenantPoolSize != 2 || c.DataDir != "./data" || !c.MigrateOnStart {
				t.Errorf("defaults lost: %+v", c)
			}
		}},
		{"enumerations are case-insensitive", []string{"LOG_LEVEL=ERROR", "LOG_FORMAT=Text", "TENANT_PROVISION_STRATEGY=MIGRATE"}, func(t *testing.T, c Config) {
			if c.LogLevel != "error" || c.LogFormat != "text" || c.TenantProvisionStrategy != ProvisionMigrate {
				t.Errorf("not normalised: %q %q %q", c.LogLevel, c.LogFormat, c.TenantProvisionStrategy)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustLoad(t, tc.environ, writeFile(t, ".env", file)))
		})
	}
}

func TestDotenvNotExported(t *testing.T) {
	const key = "TENANTKIT_CONFIG_TEST_ONLY"
	mustLoad(t, nil, writeFile(t, ".env", key+"=1\n"))
	if _, ok := os.LookupEnv(key); ok {
		t.Errorf("Load exported %s into the process environment", key)
	}
}

func TestMalformedDotenv(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"bad variable name", "PORT=8000\n# fine\nADMIN API KEY!=" + secret + "\nLOG_LEVEL=debug\n", "line 3: invalid character"},
		{"unterminated quote", "PORT=8000\nADMIN_API_KEY=\"" + secret + "\nLOG_LEVEL=debug\n", "line 2: quoted value without its closing quote"},
		{"windows line endings", "PORT=8000\r\nDATABASE_URL=postgres://u:" + secret + "@h/db\r\nBAD-NAME=" + secret + "\r\n", "line 3: invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "my.env", tc.content)
			_, err := Load(nil, path)
			if err == nil {
				t.Fatal("Load accepted a malformed .env file")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error does not name the file: %s", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error shows the file's content: %s", msg)
			}
		})
	}

	t.Run("unreadable", func(t *testing.T) {
		dir := t.TempDir() // a directory: exists, cannot be read as a file
		_, err := Load(nil, dir)
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("want an error naming %s, got %v", dir, err)
		}
	})
}

func TestDatabase(t *testing.T) {
	for _, tc := range []struct {
		name      string
		environ   []string
		dbName    string
		dialect   string
		sqliteDir string
	}{
		{"SQLite by default", nil, "app", DialectSQLite, "./data"},
		{"SQLite with DB_NAME", []string{"DB_NAME=shop", "DATA_DIR=/var/lib/tk"}, "shop", DialectSQLite, "/var/lib/tk"},
		{"DB_NAME from the URL path", []string{"DATABASE_URL=postgres://u:" + secret + "@db:5432/saas?sslmode=disable"}, "saas", DialectPostgres, "./data"},
		{"postgresql scheme", []string{"DATABASE_URL=postgresql://u@db/main_db"}, "main_db", DialectPostgres, "./data"},
		{"URL without host", []string{"DATABASE_URL=postgres:///local"}, "local", DialectPostgres, "./data"},
		{"DB_NAME equal to the URL path", []string{"DATABASE_URL=postgres://db/saas", "DB_NAME=saas"}, "saas", DialectPostgres, "./data"},
		{"escaped password", []string{"DATABASE_URL=postgres://u:p%40ss%23w@db/saas"}, "saas", DialectPostgres, "./data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, tc.environ, "")
			if c.DBName != tc.dbName || c.Dialect() != tc.dialect || c.DataDir != tc.sqliteDir {
				t.Errorf("got DBName %q, Dialect %q, DataDir %q; want %q, %q, %q",
					c.DBName, c.Dialect(), c.DataDir, tc.dbName, tc.dialect, tc.sqliteDir)
			}
		})
	}
}

func TestValidationErrors(t *testing.T) {
	pgURL := "postgres://user:" + secret + "@db.internal:5432/"
	for _, tc := range []struct {
		name    string
		environ []string
		vars    []string // each must be named in the error
		want    string   // and this must be in it too
	}{
		{"unparsable bool", []string{"MULTI_TENANT_ENABLED=yes"}, []string{"MULTI_TENANT_ENABLED"}, `invalid value "yes": must be true or false`},
		{"unparsable bool 2", []string{"MIGRATE_ON_START=nope"}, []string{"MIGRATE_ON_START"}, "must be true or false"},
		{"unparsable bool 3", []string{"TENANT_SUBDOMAIN_ENABLED=on"}, []string{"TENANT_SUBDOMAIN_ENABLED"}, "must be true or false"},
		{"unparsable bool 4", []string{"TRUST_PROXY_HEADERS=y"}, []string{"TRUST_PROXY_HEADERS"}, "must be true or false"},
		{"unparsable port", []string{"PORT=abc"}, []string{"PORT"}, `PORT: invalid value "abc": must be an integer`},
		{"huge port", []string{"PORT=99999999999"}, []string{"PORT"}, "out of range"},
		{"port zero", []string{"PORT=0"}, []string{"PORT"}, "between 1 and 65535"},
		{"port too high", []string{"PORT=65536"}, []string{"PORT"}, "between 1 and 65535"},
		{"negative port", []string{"PORT=-1"}, []string{"PORT"}, "between 1 and 65535"},
		{"unparsable int", []string{"DB_MAX_OPEN_CONNS=ten"}, []string{"DB_MAX_OPEN_CONNS"}, "must be an integer"},
		{"unparsable int64", []string{"MAX_BODY_BYTES=1MiB"}, []string{"MAX_BODY_BYTES"}, "must be an integer"},
		{"unparsable duration", []string{"SHUTDOWN_TIMEOUT=15"}, []string{"SHUTDOWN_TIMEOUT"}, "must be a duration"},
		{"unparsable duration 2", []string{"DB_CONN_MAX_LIFETIME=half an hour"}, []string{"DB_CONN_MAX_LIFETIME"}, "must be a duration"},
		{"wrong scheme", []string{"DATABASE_URL=mysql://user:" + secret + "@db/app"}, []string{"DATABASE_URL"}, "postgres://"},
		{"key-value DSN", []string{"DATABASE_URL=host=db password=" + secret + " dbname=app"}, []string{"DATABASE_URL"}, "postgres://"},
		{"unparsable URL", []string{"DATABASE_URL=postgres://user:" + secret + "@db:port/app"}, []string{"DATABASE_URL"}, "not a valid URL"},
		{"URL without database", []string{"DATABASE_URL=" + pgURL}, []string{"DATABASE_URL"}, "names no database"},
		{"URL without path", []string{"DATABASE_URL=postgres://user:" + secret + "@db"}, []string{"DATABASE_URL"}, "names no database"},
		{"unencoded # in password", []string{"DATABASE_URL=postgres://user:a#" + secret + "@db/app"}, []string{"DATABASE_URL"}, "percent-encoded"},
		{"URL with nested path", []string{"DATABASE_URL=" + pgURL + "a/b"}, []string{"DATABASE_URL"}, "single database name"},
		{"opaque URL", []string{"DATABASE_URL=postgres:" + secret}, []string{"DATABASE_URL"}, "not a valid URL"},
		{"DB_NAME differs from the URL", []string{"DATABASE_URL=" + pgURL + "saas", "DB_NAME=other"}, []string{"DB_NAME", "DATABASE_URL"}, "differs from the database in DATABASE_URL"},
		{"bad DB_NAME", []string{"DB_NAME=My-App"}, []string{"DB_NAME"}, "must match"},
		{"DB_NAME starting with a digit", []string{"DB_NAME=1app"}, []string{"DB_NAME"}, "must match"},
		{"DB_NAME too long", []string{"DB_NAME=" + strings.Repeat("a", 41)}, []string{"DB_NAME"}, "63-byte"},
		{"bad database in the URL", []string{"DATABASE_URL=" + pgURL + "MyApp"}, []string{"DB_NAME", "DATABASE_URL"}, `"MyApp" (the database in DATABASE_URL)`},
		{"header with a space", []string{"TENANT_HEADER_NAME=X Tenant"}, []string{"TENANT_HEADER_NAME"}, "header name"},
		{"header with a colon", []string{"TENANT_HEADER_NAME=X-Tenant:"}, []string{"TENANT_HEADER_NAME"}, "header name"},
		{"upper-case domain", []string{"TENANT_BASE_DOMAIN=Example.com"}, []string{"TENANT_BASE_DOMAIN"}, "lower-case host name"},
		{"domain with a port", []string{"TENANT_BASE_DOMAIN=example.com:8000"}, []string{"TENANT_BASE_DOMAIN"}, "host name"},
		{"domain with a scheme", []string{"TENANT_BASE_DOMAIN=https://example.com"}, []string{"TENANT_BASE_DOMAIN"}, "host name"},
		{"domain with an empty label", []string{"TENANT_BASE_DOMAIN=example..com"}, []string{"TENANT_BASE_DOMAIN"}, "host name"},
		{"domain label ending in a hyphen", []string{"TENANT_BASE_DOMAIN=a-.example.com"}, []string{"TENANT_BASE_DOMAIN"}, "host name"},
		{"domain with a trailing dot", []string{"TENANT_BASE_DOMAIN=example.com."}, []string{"TENANT_BASE_DOMAIN"}, "host name"},
		{"bad log level", []string{"LOG_LEVEL=verbose"}, []string{"LOG_LEVEL"}, "debug, info, warn, error"},
		{"bad log format", []string{"LOG_FORMAT=xml"}, []string{"LOG_FORMAT"}, "json, text"},
		{"bad strategy", []string{"TENANT_PROVISION_STRATEGY=copy"}, []string{"TENANT_PROVISION_STRATEGY"}, "template, migrate"},
		{"zero open connections", []string{"DB_MAX_OPEN_CONNS=0"}, []string{"DB_MAX_OPEN_CONNS"}, "at least 1"},
		{"zero idle connections", []string{"DB_MAX_IDLE_CONNS=0"}, []string{"DB_MAX_IDLE_CONNS"}, "at least 1"},
		{"zero budget", []string{"TENANT_CONN_BUDGET=0"}, []string{"TENANT_CONN_BUDGET"}, "at least 1"},
		{"negative pool size", []string{"TENANT_POOL_SIZE=-2"}, []string{"TENANT_POOL_SIZE"}, "at least 1"},
		{"zero body limit", []string{"MAX_BODY_BYTES=0"}, []string{"MAX_BODY_BYTES"}, "at least 1"},
		{"pool larger than budget", []string{"TENANT_POOL_SIZE=8", "TENANT_CONN_BUDGET=4"}, []string{"TENANT_POOL_SIZE", "TENANT_CONN_BUDGET"}, "larger than"},
		{"zero lifetime", []string{"DB_CONN_MAX_LIFETIME=0s"}, []string{"DB_CONN_MAX_LIFETIME"}, "longer than zero"},
		{"negative idle timeout", []string{"TENANT_CLIENT_IDLE_TIMEOUT=-1m"}, []string{"TENANT_CLIENT_IDLE_TIMEOUT"}, "longer than zero"},
		{"zero provision timeout", []string{"TENANT_PROVISION_TIMEOUT=0s"}, []string{"TENANT_PROVISION_TIMEOUT"}, "longer than zero"},
		{"negative revalidate interval", []string{"TENANT_REVALIDATE_INTERVAL=-1s"}, []string{"TENANT_REVALIDATE_INTERVAL"}, "must not be negative"},
		{"zero acquire timeout", []string{"TENANT_ACQUIRE_TIMEOUT=0s"}, []string{"TENANT_ACQUIRE_TIMEOUT"}, "longer than zero"},
		{"negative not-found ttl", []string{"TENANT_NOT_FOUND_TTL=-1s"}, []string{"TENANT_NOT_FOUND_TTL"}, "must not be negative"},
		{"zero read header timeout", []string{"HTTP_READ_HEADER_TIMEOUT=0s"}, []string{"HTTP_READ_HEADER_TIMEOUT"}, "longer than zero"},
		{"zero request timeout", []string{"HTTP_REQUEST_TIMEOUT=0s"}, []string{"HTTP_REQUEST_TIMEOUT"}, "longer than zero"},
		{"zero shutdown timeout", []string{"SHUTDOWN_TIMEOUT=0s"}, []string{"SHUTDOWN_TIMEOUT"}, "longer than zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// ADMIN_API_KEY holds the secret too: no error may show it.
			environ := append([]string{"ADMIN_API_KEY=" + secret}, tc.environ...)
			c, err := Load(environ, "")
			if err == nil {
				t.Fatalf("Load accepted %v", tc.environ)
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Load returned a configuration with its error: %+v", c)
			}
			msg := err.Error()
			for _, v := range tc.vars {
				if !strings.Contains(msg, v) {
					t.Errorf("error does not name %s: %s", v, msg)
				}
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error shows a secret: %s", msg)
			}
			if strings.Contains(msg, "parse error on field") || strings.Contains(msg, "env:") {
				t.Errorf("error shows env's raw message: %s", msg)
			}
			if n := strings.Count(msg, "\n") + 1; n != 1 {
				t.Errorf("one problem reported as %d lines: %s", n, msg)
			}
		})
	}
}

func TestAllProblemsReported(t *testing.T) {
	_, err := Load([]string{
		"PORT=abc",
		"MULTI_TENANT_ENABLED=maybe",
		"LOG_LEVEL=loud",
		"DATABASE_URL=postgres://u:" + secret + "@db/",
		"TENANT_POOL_SIZE=50",
		"SHUTDOWN_TIMEOUT=soon",
	}, "")
	if err == nil {
		t.Fatal("Load accepted several bad values")
	}
	msg := err.Error()
	for _, v := range []string{"PORT", "MULTI_TENANT_ENABLED", "LOG_LEVEL", "DATABASE_URL", "TENANT_POOL_SIZE", "SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(msg, v+":") {
			t.Errorf("error does not report %s: %s", v, msg)
		}
	}
	// An unparsable PORT is reported once, not again as out of range.
	if strings.Count(msg, "PORT:") != 1 {
		t.Errorf("PORT reported more than once: %s", msg)
	}
	if strings.Contains(msg, secret) {
		t.Errorf("error shows a secret: %s", msg)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 6 {
		t.Errorf("want 6 joined errors, got %v", err)
	}
}

func TestValidate(t *testing.T) {
	if err := defaults().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	c := defaults()
	c.Port = 0
	c.DBName = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "PORT") || !strings.Contains(err.Error(), "DB_NAME") {
		t.Errorf("Validate: %v", err)
	}
}

func TestMethods(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		addr    string
		cache   int
		dialect string
		level   slog.Level
	}{
		{nil, ":8000", 20, DialectSQLite, slog.LevelInfo},
		{[]string{"PORT=1", "TENANT_CONN_BUDGET=7", "TENANT_POOL_SIZE=2", "LOG_LEVEL=debug"}, ":1", 3, DialectSQLite, slog.LevelDebug},
		{[]string{"TENANT_CONN_BUDGET=5", "TENANT_POOL_SIZE=5", "LOG_LEVEL=warn", "DATABASE_URL=postgres://db/app"}, ":8000", 1, DialectPostgres, slog.LevelWarn},
		{[]string{"TENANT_CONN_BUDGET=100", "TENANT_POOL_SIZE=1", "LOG_LEVEL=error"}, ":8000", 100, DialectSQLite, slog.LevelError},
	} {
		t.Run(strings.Join(tc.environ, " "), func(t *testing.T) {
			c := mustLoad(t, tc.environ, "")
			if c.Addr() != tc.addr || c.TenantCacheSize() != tc.cache || c.Dialect() != tc.dialect || c.SlogLevel() != tc.level {
				t.Errorf("got Addr %q, TenantCacheSize %d, Dialect %q, SlogLevel %v; want %q, %d, %q, %v",
					c.Addr(), c.TenantCacheSize(), c.Dialect(), c.SlogLevel(), tc.addr, tc.cache, tc.dialect, tc.level)
			}
		})
	}
	if n := (Config{}).TenantCacheSize(); n != 1 {
		t.Errorf("zero Config: TenantCacheSize = %d, want 1", n)
	}
}

func TestRedaction(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    []string // in the log line and in fmt's output
		dontLog []string
	}{
		{
			"password in user info",
			[]string{"DATABASE_URL=postgres://admin:" + secret + "@db:5432/saas?sslmode=require", "ADMIN_API_KEY=" + secret},
			[]string{"postgres://admin:xxxxx@db:5432/saas?sslmode=require", "admin_api_key=set", "db_name=saas", "dialect=postgres"},
			[]string{secret},
		},
		{
			"password in the query",
			[]string{"DATABASE_URL=postgres://admin@db/saas?sslmode=disable&password=" + secret},
			[]string{"password=xxxxx", "admin_api_key=unset"},
			[]string{secret},
		},
		{
			"no database URL",
			nil,
			[]string{"database_url=\"\"", "dialect=sqlite3", "admin_api_key=unset", "tenant_cache_size=20"},
			nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, tc.environ, "")
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", "config", c)
			outputs := map[string]string{
				"log": buf.String(),
				"%v":  fmt.Sprintf("%v", c),
				"%+v": fmt.Sprintf("%+v", c),
				"%#v": fmt.Sprintf("%#v", c),
				"ptr": fmt.Sprintf("%v", &c),
			}
			for how, out := range outputs {
				for _, s := range tc.dontLog {
					if strings.Contains(out, s) {
						t.Errorf("%s shows %q: %s", how, s, out)
					}
				}
			}
			for _, s := range tc.want {
				if !strings.Contains(buf.String(), s) {
					t.Errorf("log line lacks %q: %s", s, buf.String())
				}
			}
		})
	}

	if got := RedactURL("postgres://u:" + secret + "@h:port/db"); strings.Contains(got, secret) {
		t.Errorf("RedactURL of an unparsable URL shows the password: %s", got)
	}
}

func envTags(t *testing.T) []string {
	t.Helper()
	var names []string
	for f := range reflect.TypeFor[Config]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			t.Fatalf("field %s has no env tag", f.Name)
		}
		names = append(names, name)
	}
	return names
}

// Copying .env.example to .env must change nothing.
func TestEnvExampleChangesNothing(t *testing.T) {
	got := mustLoad(t, nil, "../.env.example")
	if want := defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf(".env.example changes the configuration:\n%#v\nwant\n%#v", got, want)
	}
	// And with a DATABASE_URL in the environment, DB_NAME still follows it.
	c := mustLoad(t, []string{"DATABASE_URL=postgres://db/saas"}, "../.env.example")
	if c.DBName != "saas" {
		t.Errorf(".env.example fixes DB_NAME: got %q", c.DBName)
	}
}

func TestEveryVariableDocumented(t *testing.T) {
	for _, file := range []string{"../.env.example", "../docs/configuration.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range envTags(t) {
			if !bytes.Contains(b, []byte(name)) {
				t.Errorf("%s does not document %s", file, name)
			}
		}
	}
}
