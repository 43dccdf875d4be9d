-- Create "tenants" table
CREATE TABLE `tenants` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `description` text NOT NULL DEFAULT (''), `is_active` bool NOT NULL DEFAULT (true), `database` text NOT NULL, `status` text NOT NULL DEFAULT ('provisioning'), `status_error` text NOT NULL DEFAULT (''), `schema_version` text NOT NULL DEFAULT (''), `migrated_at` datetime NULL, PRIMARY KEY (`id`));
-- Create index "tenants_slug_key" to table: "tenants"
CREATE UNIQUE INDEX `tenants_slug_key` ON `tenants` (`slug`);
-- Create index "tenants_database_key" to table: "tenants"
CREATE UNIQUE INDEX `tenants_database_key` ON `tenants` (`database`);
-- Create index "tenant_is_active_created_at" to table: "tenants"
CREATE INDEX `tenant_is_active_created_at` ON `tenants` (`is_active`, `created_at`);
-- Create index "tenant_created_at" to table: "tenants"
CREATE INDEX `tenant_created_at` ON `tenants` (`created_at`);
-- Create "users" table
CREATE TABLE `users` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NOT NULL, `name` text NOT NULL, PRIMARY KEY (`id`));
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX `users_email_key` ON `users` (`email`);
-- Create index "user_created_at" to table: "users"
CREATE INDEX `user_created_at` ON `users` (`created_at`);
