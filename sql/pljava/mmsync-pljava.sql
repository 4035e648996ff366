-- Optional: Java entry points of mmsync for servers that have PL/Java. Not part of the extension
-- (PL/Java is not available everywhere). Install the jar first:
--   SELECT sqlj.install_jar('file:/usr/local/lib/mmsync/mmsync.jar', 'mmsync', true);
--   SELECT sqlj.set_classpath('mmsync', 'mmsync');
-- then run this file with psql. Every function here must name a public static method of the jar
-- (checked by PlJavaDeclarationsTest).
CREATE OR REPLACE FUNCTION mmsync.java_version() RETURNS text
    LANGUAGE java AS 'java.lang.String=io.mmsync.pljava.Functions.javaVersion()';
CREATE OR REPLACE FUNCTION mmsync.java_check_conninfo(conninfo text) RETURNS text
    LANGUAGE java AS 'java.lang.String=io.mmsync.pljava.Functions.checkConninfo(java.lang.String)';
