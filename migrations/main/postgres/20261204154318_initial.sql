-- Create "tenants" table
CREATE TABLE "tenants" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "slug" character varying NOT NULL, "description" character varying NOT NULL DEFAULT '', "is_active" boolean NOT NULL DEFAULT true, "database" character varying NOT NULL, "status" character varying NOT NULL DEFAULT 'provisioning', "status_error" character varying NOT NULL DEFAULT '', "schema_version" character varying NOT NULL DEFAULT '', "migrated_at" timestamptz NULL, PRIMARY KEY ("id"));
-- Create index "tenant_created_at" to table: "tenants"
CREATE INDEX "tenant_created_at" ON "tenants" ("created_at");
-- Create index "tenant_is_active_created_at" to table: "tenants"
CREATE INDEX "tenant_is_active_created_at" ON "tenants" ("is_active", "created_at");
-- Create index "tenants_database_key" to table: "tenants"
CREATE UNIQUE INDEX "tenants_database_key" ON "tenants" ("database");
-- Create index "tenants_slug_key" to table: "tenants"
CREATE UNIQUE INDEX "tenants_slug_key" ON "tenants" ("slug");
-- Create "users" table
CREATE TABLE "users" ("id" uuid NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "email" character varying NOT NULL, "name" character varying NOT NULL, PRIMARY KEY ("id"));
-- Create index "user_created_at" to table: "users"
CREATE INDEX "user_created_at" ON "users" ("created_at");
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX "users_email_key" ON "users" ("email");
