-- mmsync extension install script. Built by installer/build-sql.sh from sql/src/**/*.sql
-- (files are concatenated in path order). Do not edit a released script in place: add
-- sql/updates/mmsync--A--B.sql instead.
\echo Use "CREATE EXTENSION mmsync" to load this file. \quit
