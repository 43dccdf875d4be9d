// Package config loads tenantkit's configuration from the process
// environment and an optional .env file, and validates it.
//
// Values come from three places, highest precedence first:
//
//  1. the environment passed to Load (the caller passes os.Environ());
//  2. the .env file at the path passed to Load, when it exists;
//  3. the defaults declared on Config.
//
// An empty value counts as unset everywhere: it neither hides a .env value
// nor replaces a default. The .env file only feeds this package: it is never
// exported into the process environment.
//
// Every problem found is reported, each naming its variable; values that may
// hold secrets (DATABASE_URL, ADMIN_API_KEY, the content of the .env file) are
// never echoed in an error or in the log.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v10"
	"github.com/joho/godotenv"
)

// Values Dialect returns: the names of ent's SQL dialects (entgo.io/ent/dialect).
// They are not database/sql driver names: modernc.org/sqlite registers "sqlite".
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite3"
)

// Values of TENANT_PROVISION_STRATEGY.
const (
	// ProvisionTemplate clones a new tenant database from a migrated
	// template database ({DB_NAME}_tenant__template).
	ProvisionTemplate = "template"
	// ProvisionMigrate creates an empty tenant database and applies every
	// migration to it.
	ProvisionMigrate = "migrate"
)

// DefaultDBName is the main database name when neither DB_NAME nor the path
// of DATABASE_URL names one.
const DefaultDBName = "app"

// MaxDBNameLen bounds DB_NAME so that tenant database names
// {DB_NAME}_tenant_{slug} keep room for a slug within PostgreSQL's 63-byte
// identifier limit.
const MaxDBNameLen = 40

// Config is tenantkit's configuration. Build it with Load; each field's
// env tag names its variable and envDefault its default.
type Config struct {
	// Tenancy.
	MultiTenantEnabled      bool   `env:"MULTI_TENANT_ENABLED" envDefault:"false"`
	TenantHeaderName        string `env:"TENANT_HEADER_NAME" envDefault:"X-Tenant-ID"`
	TenantSubdomainEnabled  bool   `env:"TENANT_SUBDOMAIN_ENABLED" envDefault:"false"`
	TenantBaseDomain        string `env:"TENANT_BASE_DOMAIN" envDefault:"localhost"`
	TenantProvisionStrategy string `env:"TENANT_PROVISION_STRATEGY" envDefault:"template"`

	// Databases. DBName is never empty after Load: it defaults to the path
	// of DatabaseURL, else DefaultDBName.
	DatabaseURL    string `env:"DATABASE_URL"`
	DBName         string `env:"DB_NAME"`
	DataDir        string `env:"DATA_DIR" envDefault:"./data"`
	MigrateOnStart bool   `env:"MIGRATE_ON_START" envDefault:"true"`

	// Main database pool.
	DBMaxOpenConns    int           `env:"DB_MAX_OPEN_CONNS" envDefault:"10"`
	DBMaxIdleConns    int           `env:"DB_MAX_IDLE_CONNS" envDefault:"5"`
	DBConnMaxLifetime time.Duration `env:"DB_CONN_MAX_LIFETIME" envDefault:"30m"`

	// Tenant pools: TenantConnBudget connections in all, TenantPoolSize per
	// tenant client, so at most TenantCacheSize() clients are open at once.
	TenantConnBudget        int           `env:"TENANT_CONN_BUDGET" envDefault:"40"`
	TenantPoolSize          int           `env:"TENANT_POOL_SIZE" envDefault:"2"`
	TenantClientIdleTimeout time.Duration `env:"TENANT_CLIENT_IDLE_TIMEOUT" envDefault:"5m"`
	TenantAcquireTimeout    time.Duration `env:"TENANT_ACQUIRE_TIMEOUT" envDefault:"5s"`
	// TenantNotFoundTTL: how long an unknown slug is remembered (0: never),
	// so floods of requests for tenants that do not exist spare the registry.
	TenantNotFoundTTL time.Duration `env:"TENANT_NOT_FOUND_TTL" envDefault:"2s"`
	// TenantProvisionTimeout bounds creating and migrating one tenant
	// database; the create and provision requests may take this much longer
	// than HTTPRequestTimeout.
	TenantProvisionTimeout time.Duration `env:"TENANT_PROVISION_TIMEOUT" envDefault:"2m"`
	// TenantRevalidateInterval: how often cached tenants are checked
	// against the registry (0: never), for changes made behind the API.
	TenantRevalidateInterval time.Duration `env:"TENANT_REVALIDATE_INTERVAL" envDefault:"30s"`

	// HTTP server.
	Port                  int           `env:"PORT" envDefault:"8000"`
	AdminAPIKey           string        `env:"ADMIN_API_KEY"`
	HTTPReadHeaderTimeout time.Duration `env:"HTTP_READ_HEADER_TIMEOUT" envDefault:"5s"`
	HTTPRequestTimeout    time.Duration `env:"HTTP_REQUEST_TIMEOUT" envDefault:"30s"`
	ShutdownTimeout       time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	MaxBodyBytes          int64         `env:"MAX_BODY_BYTES" envDefault:"1048576"`
	// TrustProxyHeaders: whether X-Forwarded-For is trusted for the client
	// IP written in logs. Only enable it behind a proxy that sets it.
	TrustProxyHeaders bool `env:"TRUST_PROXY_HEADERS" envDefault:"false"`

	// Logging.
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"json"`
}

// Load reads the configuration. environ holds "KEY=value" entries, as
// os.Environ() returns them; it overrides the .env file at dotenvPath. A
// missing .env file is fine, and dotenvPath "" skips it; an unreadable or
// malformed one is an error naming the file. On failure, every problem is
// returned, joined with errors.Join, each naming its variable.
func Load(environ []string, dotenvPath string) (Config, error) {
	fileVals, err := readDotenv(dotenvPath)
	if err != nil {
		return Config{}, err
	}
	vals := merge(fileVals, environ)

	var c Config
	var problems []error
	bad := map[string]bool{} // variables env could not parse
	if err := env.ParseWithOptions(&c, env.Options{Environment: vals}); err != nil {
		problems = parseProblems(err, vals, bad)
	}

	c.LogLevel = strings.ToLower(c.LogLevel)
	c.LogFormat = strings.ToLower(c.LogFormat)
	c.TenantProvisionStrategy = strings.ToLower(c.TenantProvisionStrategy)
	if c.DBName == "" {
		c.DBName = DefaultDBName
		if c.DatabaseURL != "" {
			if name, err := urlDatabase(c.DatabaseURL); err == nil {
				c.DBName = name
			}
		}
	}

	problems = append(problems, c.problems(bad)...)
	if len(problems) > 0 {
		return Config{}, errors.Join(problems...)
	}
	return c, nil
}

// Validate checks c as Load does after parsing, returning every problem
// joined. Load already calls it; it is for configurations built or changed
// by hand.
func (c Config) Validate() error {
	return errors.Join(c.problems(nil)...)
}

// Dialect is the ent dialect of the databases: DialectPostgres when
// DATABASE_URL is set, else DialectSQLite.
func (c Config) Dialect() string {
	if c.DatabaseURL != "" {
		return DialectPostgres
	}
	return DialectSQLite
}

// Addr is the HTTP listen address, ":" + PORT.
func (c Config) Addr() string { return ":" + strconv.Itoa(c.Port) }

// TenantCacheSize is how many tenant clients may be open at once:
// TENANT_CONN_BUDGET / TENANT_POOL_SIZE, at least 1.
func (c Config) TenantCacheSize() int {
	if c.TenantPoolSize < 1 {
		return max(1, c.TenantConnBudget)
	}
	return max(1, c.TenantConnBudget/c.TenantPoolSize)
}

// SlogLevel is LOG_LEVEL as a slog.Level (info for an unknown value).
func (c Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogValue implements slog.LogValuer: every setting, with ADMIN_API_KEY shown
// only as "set" or "unset" and the password in DATABASE_URL redacted.
func (c Config) LogValue() slog.Value {
	key := "unset"
	if c.AdminAPIKey != "" {
		key = "set"
	}
	return slog.GroupValue(
		slog.String("dialect", c.Dialect()),
		slog.Bool("multi_tenant_enabled", c.MultiTenantEnabled),
		slog.String("tenant_header_name", c.TenantHeaderName),
		slog.Bool("tenant_subdomain_enabled", c.TenantSubdomainEnabled),
		slog.String("tenant_base_domain", c.TenantBaseDomain),
		slog.String("tenant_provision_strategy", c.TenantProvisionStrategy),
		slog.String("database_url", RedactURL(c.DatabaseURL)),
		slog.String("db_name", c.DBName),
		slog.String("data_dir", c.DataDir),
		slog.Bool("migrate_on_start", c.MigrateOnStart),
		slog.Int("db_max_open_conns", c.DBMaxOpenConns),
		slog.Int("db_max_idle_conns", c.DBMaxIdleConns),
		slog.String("db_conn_max_lifetime", c.DBConnMaxLifetime.String()),
		slog.Int("tenant_conn_budget", c.TenantConnBudget),
		slog.Int("tenant_pool_size", c.TenantPoolSize),
		slog.Int("tenant_cache_size", c.TenantCacheSize()),
		slog.String("tenant_client_idle_timeout", c.TenantClientIdleTimeout.String()),
		slog.String("tenant_acquire_timeout", c.TenantAcquireTimeout.String()),
		slog.String("tenant_not_found_ttl", c.TenantNotFoundTTL.String()),
		slog.String("tenant_provision_timeout", c.TenantProvisionTimeout.String()),
		slog.String("tenant_revalidate_interval", c.TenantRevalidateInterval.String()),
		slog.Int("port", c.Port),
		slog.String("admin_api_key", key),
		slog.String("http_read_header_timeout", c.HTTPReadHeaderTimeout.String()),
		slog.String("http_request_timeout", c.HTTPRequestTimeout.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Bool("trust_proxy_headers", c.TrustProxyHeaders),
		slog.String("log_level", c.LogLevel),
		slog.String("log_format", c.LogFormat),
	)
}

// String is the redacted form LogValue gives, so that printing a Config
// with fmt (%v, %+v, %s) cannot leak a secret.
func (c Config) String() string { return "config" + c.LogValue().String() }

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// RedactURL returns a database URL fit for logs: the password of its user
// information and any password query parameter (lib/pq accepts
// ?password=…) replaced by "xxxxx". An unparsable URL is not shown at all.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "(unparsable, not shown)"
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = "(unparsable, not shown)"
		} else {
			changed := false
			for k := range q {
				if strings.Contains(strings.ToLower(k), "password") {
					q[k] = []string{"xxxxx"}
					changed = true
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
		}
	}
	return u.Redacted()
}

// readDotenv reads the .env file at path: nil for "" or a missing file.
// Its error never quotes the file's content, which may hold secrets.
func readDotenv(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named below
		}
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	vals, err := godotenv.UnmarshalBytes(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s is malformed: %s", path, dotenvSyntax(data, err))
	}
	return vals, nil
}

// dotenvSyntax describes a godotenv parse error without its text, which
// quotes the file from the faulty line on, with the line number when it can
// be found.
func dotenvSyntax(data []byte, err error) string {
	src := strings.ReplaceAll(string(data), "\r\n", "\n") // as godotenv sees it
	msg := err.Error()
	at := -1
	what := "syntax error (each line must be NAME=value, export NAME=value or a # comment)"
	switch {
	case strings.HasPrefix(msg, "unexpected character "):
		// `unexpected character "c" in variable name near "<rest of file>"`
		what = "invalid character in a variable name (names hold letters, digits, '_' and '.'; each line must be NAME=value)"
		if _, near, ok := strings.Cut(msg, " in variable name near "); ok {
			if rest, err := strconv.Unquote(near); err == nil && strings.HasSuffix(src, rest) {
				at = len(src) - len(rest)
			}
		}
	case strings.HasPrefix(msg, "unterminated quoted value "):
		// the message holds the value's first line, from its opening quote
		what = "quoted value without its closing quote"
		if frag := strings.TrimPrefix(msg, "unterminated quoted value "); frag != "" {
			at = strings.LastIndex(src, frag)
		}
	}
	if at < 0 {
		return what
	}
	return fmt.Sprintf("line %d: %s", 1+strings.Count(src[:at], "\n"), what)
}

// merge overlays environ on the .env values. An empty value in environ does
// not hide the .env value (empty counts as unset); for a key listed twice,
// the first entry wins, as for os.Getenv.
func merge(fileVals map[string]string, environ []string) map[string]string {
	vals := make(map[string]string, len(fileVals)+len(environ))
	maps.Copy(vals, fileVals)
	seen := make(map[string]bool, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || seen[k] {
			continue
		}
		seen[k] = true
		if v != "" {
			vals[k] = v
		}
	}
	return vals
}

// parseProblems rewrites env's errors to name the variable, not the Go
// field, and records the variables that failed in bad.
func parseProblems(err error, vals map[string]string, bad map[string]bool) []error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return []error{fmt.Errorf("config: %w", err)}
	}
	var problems []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			problems = append(problems, fmt.Errorf("config: %w", e))
			continue
		}
		name := pe.Name
		if f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
			name, _, _ = strings.Cut(f.Tag.Get("env"), ",")
		}
		bad[name] = true
		problems = append(problems, fmt.Errorf("%s: invalid value %q: %s", name, vals[name], expectation(pe)))
	}
	return problems
}

func expectation(pe env.ParseError) string {
	switch {
	case pe.Type == reflect.TypeFor[time.Duration]():
		return "must be a duration with a unit, such as 500ms, 30s, 5m or 1h30m"
	case pe.Type.Kind() == reflect.Bool:
		return "must be true or false"
	case pe.Type.Kind() >= reflect.Int && pe.Type.Kind() <= reflect.Uint64:
		if errors.Is(pe.Err, strconv.ErrRange) {
			return "integer out of range"
		}
		return "must be an integer"
	}
	return pe.Err.Error()
}

var (
	dbNameRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	hostLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// problems validates c; variables in bad already have a parse error and are
// not checked again.
func (c Config) problems(bad map[string]bool) []error {
	var ps []error
	add := func(format string, args ...any) { ps = append(ps, fmt.Errorf(format, args...)) }
	ok := func(name string) bool { return !bad[name] }

	if ok("PORT") && (c.Port < 1 || c.Port > 65535) {
		add("PORT: %d is out of range: must be between 1 and 65535", c.Port)
	}

	urlDB := ""
	if c.DatabaseURL != "" {
		name, err := urlDatabase(c.DatabaseURL)
		if err != nil {
			ps = append(ps, err)
		} else {
			urlDB = name
			if c.DBName != name {
				add("DB_NAME: %q differs from the database in DATABASE_URL (%q): the main database must be exactly one; unset DB_NAME or make them equal", c.DBName, name)
			}
		}
	}
	if !dbNameRE.MatchString(c.DBName) {
		from := ""
		if urlDB != "" && urlDB == c.DBName {
			from = " (the database in DATABASE_URL)"
		}
		add("DB_NAME: %q%s is not a valid main database name: it must match %s, a lower-case letter then at most %d lower-case letters, digits or underscores, so that tenant databases named {DB_NAME}_tenant_{slug} fit PostgreSQL's 63-byte limit",
			c.DBName, from, dbNameRE, MaxDBNameLen-1)
	}

	if !validToken(c.TenantHeaderName) {
		add("TENANT_HEADER_NAME: %q is not a valid HTTP header name (letters, digits and !#$%%&'*+-.^_`|~ only)", c.TenantHeaderName)
	}
	if !validHostname(c.TenantBaseDomain) {
		add("TENANT_BASE_DOMAIN: %q is not a valid lower-case host name (letters a-z, digits, hyphens and dots; no scheme, port or trailing dot)", c.TenantBaseDomain)
	}

	oneOf := func(name, val string, allowed ...string) {
		if !slices.Contains(allowed, val) {
			add("%s: %q is not one of %s", name, val, strings.Join(allowed, ", "))
		}
	}
	oneOf("LOG_LEVEL", c.LogLevel, "debug", "info", "warn", "error")
	oneOf("LOG_FORMAT", c.LogFormat, "json", "text")
	oneOf("TENANT_PROVISION_STRATEGY", c.TenantProvisionStrategy, ProvisionTemplate, ProvisionMigrate)

	for _, n := range []struct {
		name string
		v    int64
	}{
		{"DB_MAX_OPEN_CONNS", int64(c.DBMaxOpenConns)},
		{"DB_MAX_IDLE_CONNS", int64(c.DBMaxIdleConns)},
		{"TENANT_CONN_BUDGET", int64(c.TenantConnBudget)},
		{"TENANT_POOL_SIZE", int64(c.TenantPoolSize)},
		{"MAX_BODY_BYTES", c.MaxBodyBytes},
	} {
		if ok(n.name) && n.v < 1 {
			add("%s: %d must be at least 1", n.name, n.v)
		}
	}
	if ok("TENANT_POOL_SIZE") && ok("TENANT_CONN_BUDGET") && c.TenantConnBudget >= 1 && c.TenantPoolSize > c.TenantConnBudget {
		add("TENANT_POOL_SIZE: %d is larger than TENANT_CONN_BUDGET (%d): one tenant pool must fit the budget of all of them", c.TenantPoolSize, c.TenantConnBudget)
	}

	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DB_CONN_MAX_LIFETIME", c.DBConnMaxLifetime},
		{"TENANT_CLIENT_IDLE_TIMEOUT", c.TenantClientIdleTimeout},
		{"TENANT_ACQUIRE_TIMEOUT", c.TenantAcquireTimeout},
		{"TENANT_PROVISION_TIMEOUT", c.TenantProvisionTimeout},
		{"HTTP_READ_HEADER_TIMEOUT", c.HTTPReadHeaderTimeout},
		{"HTTP_REQUEST_TIMEOUT", c.HTTPRequestTimeout},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout},
	} {
		if ok(d.name) && d.v <= 0 {
			add("%s: %s must be longer than zero", d.name, d.v)
		}
	}
	if ok("TENANT_REVALIDATE_INTERVAL") && c.TenantRevalidateInterval < 0 {
		add("TENANT_REVALIDATE_INTERVAL: %s must not be negative (0 turns it off)", c.TenantRevalidateInterval)
	}
	if ok("TENANT_NOT_FOUND_TTL") && c.TenantNotFoundTTL < 0 {
		add("TENANT_NOT_FOUND_TTL: %s must not be negative (0 turns the cache off)", c.TenantNotFoundTTL)
	}
	return ps
}

// urlDatabase returns the database named by the path of a PostgreSQL URL.
// Its errors never quote the URL, which may hold a password.
func urlDatabase(raw string) (string, error) {
	const form = "postgres://user:password@host:5432/dbname?sslmode=disable"
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "", fmt.Errorf("DATABASE_URL: not a valid URL; expected %s with special characters in the password percent-encoded (the value is not shown: it may hold a password)", form)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("DATABASE_URL: must be a postgres:// or postgresql:// URL such as %s, or empty for SQLite (the value is not shown: it may hold a password)", form)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return "", fmt.Errorf("DATABASE_URL: names no database; its path must be the main database, as in %s (a '#' or '?' in the password must be percent-encoded)", form)
	}
	if strings.Contains(name, "/") {
		return "", fmt.Errorf("DATABASE_URL: its path must be a single database name, as in %s", form)
	}
	return name, nil
}

// validToken reports whether s is an HTTP token (RFC 9110 field name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHostname reports whether s is a lower-case DNS host name.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !hostLabel.MatchString(label) {
			return false
		}
	}
	return true
}
