-- The backup role: may log in and read every row of the Taskhub database, nothing else.
-- BYPASSRLS because every tenant table has FORCED row-level security: without it pg_dump
-- would write every tenant table empty. Run as a superuser (only a superuser grants
-- BYPASSRLS), connected to the app's database:
--
--   psql -v ON_ERROR_STOP=1 -U postgres -d taskhub -f scripts/create_backup_role.sql \
--        [-v backup_role=taskhub_backup] [-v app_role=taskhub_app] [-v backup_password=...]
--
-- Idempotent: run it again after every restore into a new database (scripts/restore does not
-- restore grants). app_role is the role that owns the tables (runs the migrations): the
-- default privileges make tables it creates later readable too.
\set ON_ERROR_STOP on
\if :{?backup_role}
\else
\set backup_role taskhub_backup
\endif
\if :{?app_role}
\else
\set app_role taskhub_app
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
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_role" IN SCHEMA public GRANT SELECT ON TABLES TO :"backup_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_role" IN SCHEMA public GRANT SELECT ON SEQUENCES TO :"backup_role";
