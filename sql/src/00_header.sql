-- mmsync extension install script. Built by installer/build-sql.sh from sql/src/**/*.sql
-- (files are concatenated in path order). Released versions are frozen in sql/released/;
-- every change here ships its step in sql/updates/mmsync--A--B.sql (never edit a released one).
\echo Use "CREATE EXTENSION mmsync" to load this file. \quit
