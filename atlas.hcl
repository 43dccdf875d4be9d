# Atlas project file: applies the versioned migrations of migrations/ to the
# main database and to every tenant database. See docs/atlas.md.
#
# Valid for the Atlas CLI v0.13.1 that scripts/build-atlas.sh builds into
# bin/atlas, and for the current community CLI: it uses only env, for_each,
# data "sql", variables, locals and built-in functions.
#
#   bin/atlas migrate apply  --env main    [--var url=postgres://...]
#   bin/atlas migrate apply  --env tenants [--var url=postgres://...]
#   bin/atlas migrate status --env main    [--var url=postgres://...]
#
# Run from the repository root: the migration directories are relative to it.
# PostgreSQL only: the SQLite directories are applied by the service itself.

# The main database (DB_NAME). Defaults to $DATABASE_URL, the variable the
# service reads.
variable "url" {
  type    = string
  default = getenv("DATABASE_URL")
}

# The main database's name, the prefix of the tenant and template databases.
# Empty: the database of the URL's path, as the service does.
variable "db_name" {
  type    = string
  default = getenv("DB_NAME")
}

locals {
  # The service and this file must agree on where the revisions table lives
  # (public.atlas_schema_revisions): search_path=public is forced here, and
  # sslmode defaults to disable when the URL does not set it, as the service
  # does.
  with_sslmode = try(regex("[?&]sslmode=", var.url), "") != "" ? var.url : urlqueryset(var.url, "sslmode", "disable")
  main_url     = urlqueryset(local.with_sslmode, "search_path", "public")
  db_name      = var.db_name != "" ? var.db_name : try(regex("^[a-z]+://[^/?]*/([^/?]+)", var.url)[0], "")
}

# The main database: the tenant registry and the application schema.
env "main" {
  url = local.main_url
  migration {
    dir = "file://migrations/main/postgres"
  }
}

# Every tenant database provisioned successfully (status 'ready'), active or
# deactivated alike: a deactivated tenant keeps its data and may be
# reactivated, so its schema must stay current. Tenants still provisioning (or
# failed) are migrated by the service that provisions them.
#
# for_each runs the tenants one after another and stops at the first failure;
# the project's own fan-out command goes on past a failing tenant.
data "sql" "tenants" {
  url   = local.main_url
  query = "SELECT database FROM tenants WHERE status = 'ready' ORDER BY database"
}

env "tenants" {
  for_each = toset(data.sql.tenants.values)
  url      = urlsetpath(local.main_url, each.value)
  migration {
    dir = "file://migrations/tenant/postgres"
  }
}

# The template new tenants are cloned from ({DB_NAME}_tenant__template).
# Optional: the service creates it and brings it to the latest version before
# it clones it. Fails if the template does not exist yet.
env "template" {
  url = urlsetpath(local.main_url, "${local.db_name}_tenant__template")
  migration {
    dir = "file://migrations/tenant/postgres"
  }
}
