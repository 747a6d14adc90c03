-- The backup role: may log in and read every row of the Taskhub database, nothing else.
-- BYPASSRLS because every tenant table has FORCED row-level security: without it pg_dump
-- would write every tenant table empty. Run as a superuser (only a superuser grants
-- BYPASSRLS), connected to the app's database:
--
--   psql -v ON_ERROR_STOP=1 -U postgres -d taskhub -f scripts/create_backup_role.sql \
--        [-v backup_role=taskhub_backup] [-v owner_role=taskhub_owner] [-v backup_password=...]
--
-- Idempotent. owner_role is the role that owns the tables and runs the migrations
-- (DB_MIGRATION_USER, see manage.py setup_database_roles): the default privileges make what it
-- creates later (tables, sequences, schemas such as taskhub_rls) readable too. The backup role
-- may read taskhub_rls.key because pg_dump locks every table it dumps; scripts/backup leaves
-- that table's rows out of the dump. scripts/restore restores the grants (the roles they name
-- must exist in the target's cluster), so a restored database needs no second run.
\set ON_ERROR_STOP on
\if :{?backup_role}
\else
\set backup_role taskhub_backup
\endif
\if :{?owner_role}
\else
\set owner_role taskhub_owner
\endif

SELECT format('CREATE ROLE %I LOGIN', :'backup_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'backup_role') \gexec
ALTER ROLE :"backup_role" LOGIN BYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
\if :{?backup_password}
ALTER ROLE :"backup_role" PASSWORD :'backup_password';
\endif
-- Reading only: a statement that tries to write fails.
ALTER ROLE :"backup_role" SET default_transaction_read_only = on;

GRANT CONNECT ON DATABASE :"DBNAME" TO :"backup_role";
GRANT USAGE ON SCHEMA public TO :"backup_role";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"backup_role";
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO :"backup_role";
-- The tenant-context schema, when migrate has made it already (else the default privileges below).
SELECT format('GRANT USAGE ON SCHEMA taskhub_rls TO %I', :'backup_role'),
       format('GRANT SELECT ON ALL TABLES IN SCHEMA taskhub_rls TO %I', :'backup_role')
WHERE EXISTS (SELECT FROM pg_namespace WHERE nspname = 'taskhub_rls') \gexec
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" GRANT USAGE ON SCHEMAS TO :"backup_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" GRANT SELECT ON TABLES TO :"backup_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" GRANT SELECT ON SEQUENCES TO :"backup_role";
