-- Teardown: undo sql/setup.sql (make installcheck runs this last).  The
-- database itself stays, as pg_regress leaves it.
LOAD 'pg_claude';
\i sql/include/credentials.sql
ALTER SYSTEM RESET claude.profile;
SELECT pg_reload_conf();
COPY (SELECT 1 WHERE false) TO PROGRAM :'regress_claude_remove_profile';
ALTER DATABASE :"DBNAME" RESET claude.endpoint;

-- the tests dropped every role they made
SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_claude\_%';
