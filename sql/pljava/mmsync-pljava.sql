-- Optional: Java entry points of mmsync for servers that have PL/Java, and the background worker
-- that runs the engine inside the server. Not part of the extension (PL/Java is not available
-- everywhere). installer/install.sh --pljava runs this after installing the jar:
--   SELECT sqlj.install_jar('file:/usr/local/lib/mmsync/mmsync.jar', 'mmsync', true);
--   SELECT sqlj.set_classpath('mmsync', 'mmsync');
-- Every LANGUAGE java/javaU function here must name a public static method of the jar (checked by
-- PlJavaDeclarationsIT); the LANGUAGE C ones are in sql/worker/mmsync_worker.c.
CREATE OR REPLACE FUNCTION mmsync.java_version() RETURNS text
    LANGUAGE java AS 'java.lang.String=io.mmsync.pljava.Functions.javaVersion()';
CREATE OR REPLACE FUNCTION mmsync.java_check_conninfo(conninfo text) RETURNS text
    LANGUAGE java AS 'java.lang.String=io.mmsync.pljava.Functions.checkConninfo(java.lang.String)';

-- The worker's entry points (javaU: the engine opens sockets through pgJDBC). Only the worker
-- itself may run them: worker_tick() refuses any other session.
CREATE OR REPLACE FUNCTION mmsync.worker_tick() RETURNS text
    LANGUAGE javaU AS 'java.lang.String=io.mmsync.pljava.Worker.tick()';
CREATE OR REPLACE FUNCTION mmsync.worker_stop() RETURNS text
    LANGUAGE javaU AS 'java.lang.String=io.mmsync.pljava.Worker.stop()';
REVOKE ALL ON FUNCTION mmsync.worker_tick(), mmsync.worker_stop() FROM PUBLIC;

-- From the worker library: true only in the worker's own process.
CREATE OR REPLACE FUNCTION mmsync._worker_backend() RETURNS boolean
    LANGUAGE C STRICT AS 'mmsync_worker', 'mmsync_worker_backend';
-- What keeps the worker from running for this database ('ok' when nothing does).
CREATE OR REPLACE FUNCTION mmsync.worker_check() RETURNS text
    LANGUAGE C STRICT AS 'mmsync_worker', 'mmsync_worker_check';
