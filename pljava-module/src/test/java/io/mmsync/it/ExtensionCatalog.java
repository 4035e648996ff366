package io.mmsync.it;

import io.mmsync.testenv.PgCluster;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * What the mmsync extension defines in one database, as a sorted map from an object's name
 * ({@code "function mmsync.kick(text)"}, {@code "column mmsync.nodes.conninfo"}) to its full
 * definition, read from the catalogs by names only (no oids), so that two databases compare
 * equal exactly when they define the same objects. Covers the schema mmsync (owner, ACL),
 * functions (pg_get_functiondef: body, SET options, SECURITY DEFINER, volatility; plus owner,
 * ACL, strictness, leakproofness, parallel safety, cost), relations (kind, owner, ACL,
 * persistence, options, row security, replica identity, partitioning, inheritance), columns
 * (position among the live ones, type, NOT NULL, default, identity, generated, collation,
 * storage, column ACL), constraints, indexes, triggers, views, sequences (parameters and owning
 * column), types (enums, domains, ranges), policies, rules, statistics objects, default
 * privileges, comments, event triggers, the extension's member list (pg_depend deptype 'e') and
 * its configuration-dump tables (pg_extension.extconfig / extcondition).
 * ACLs are compared as sorted item lists with a NULL ACL read as the object kind's default.
 */
final class ExtensionCatalog {
    static final String SCHEMA = "mmsync";

    private ExtensionCatalog() {
    }

    /** A sorted ACL list, NULL read as acldefault(kind, owner). */
    private static String acl(String column, char kind, String owner) {
        return "(SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(" + column + ", acldefault('"
                + kind + "', " + owner + "))) a)";
    }

    private static final String EXT = "(SELECT oid FROM pg_extension WHERE extname = 'mmsync')";
    private static final String IN_SCHEMA = "n.nspname = '" + SCHEMA + "'";

    /** Each query returns (key, definition) rows. */
    private static final List<String> QUERIES = List.of(
            // the extension itself
            "SELECT 'extension mmsync', format('version=%s relocatable=%s schema=%s owner=%s', extversion, extrelocatable,"
                    + " extnamespace::regnamespace, pg_get_userbyid(extowner)) FROM pg_extension WHERE extname = 'mmsync'",
            // configuration-dump flags: the tables (and their WHERE conditions) pg_dump dumps with the data
            "SELECT 'config dump ' || (e.extconfig[i])::regclass::text, 'condition=' || coalesce(e.extcondition[i], 'NULL')"
                    + " FROM pg_extension e, generate_subscripts(e.extconfig, 1) AS i WHERE e.extname = 'mmsync'",
            // the member list
            "SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid), 'member of extension mmsync'"
                    + " FROM pg_depend d WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = " + EXT
                    + " AND d.deptype = 'e'",
            // the schema
            "SELECT 'schema ' || n.nspname, format('owner=%s acl=%s', pg_get_userbyid(n.nspowner), "
                    + acl("n.nspacl", 'n', "n.nspowner") + ") FROM pg_namespace n WHERE " + IN_SCHEMA,
            // functions and procedures (aggregates have no pg_get_functiondef)
            "SELECT 'function ' || p.oid::regprocedure::text,"
                    + " CASE WHEN p.prokind = 'a' THEN 'aggregate ' || pg_get_function_arguments(p.oid) ELSE pg_get_functiondef(p.oid) END"
                    + " || format(E'\\n-- owner=%s acl=%s kind=%s volatility=%s security_definer=%s strict=%s leakproof=%s"
                    + " parallel=%s cost=%s rows=%s config=%s', pg_get_userbyid(p.proowner), "
                    + acl("p.proacl", 'f', "p.proowner") + ", p.prokind, p.provolatile, p.prosecdef, p.proisstrict,"
                    + " p.proleakproof, p.proparallel, p.procost, p.prorows, coalesce(p.proconfig::text, 'none'))"
                    + " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE " + IN_SCHEMA,
            // relations: tables, views, sequences, indexes, composite types
            "SELECT CASE c.relkind WHEN 'r' THEN 'table ' WHEN 'p' THEN 'table ' WHEN 'v' THEN 'view ' WHEN 'm' THEN"
                    + " 'materialized view ' WHEN 'S' THEN 'sequence ' WHEN 'i' THEN 'index ' WHEN 'I' THEN 'index '"
                    + " WHEN 'c' THEN 'composite type ' WHEN 'f' THEN 'foreign table ' ELSE 'relation ' END || c.oid::regclass::text,"
                    + " format('kind=%s owner=%s acl=%s persistence=%s options=%s rls=%s force_rls=%s replica_identity=%s"
                    + " partition_key=%s partition_of=%s inherits=%s', c.relkind, pg_get_userbyid(c.relowner), "
                    + "CASE WHEN c.relkind = 'S' THEN " + acl("c.relacl", 's', "c.relowner") + " ELSE "
                    + acl("c.relacl", 'r', "c.relowner") + " END, c.relpersistence, c.reloptions, c.relrowsecurity,"
                    + " c.relforcerowsecurity, c.relreplident, CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,"
                    + " pg_get_expr(c.relpartbound, c.oid), (SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno)"
                    + " FROM pg_inherits i WHERE i.inhrelid = c.oid))"
                    + " || CASE WHEN c.relkind IN ('v', 'm') THEN E'\\n' || pg_get_viewdef(c.oid, true) ELSE '' END"
                    + " || CASE WHEN c.relkind IN ('i', 'I') THEN E'\\n' || pg_get_indexdef(c.oid)"
                    + "      || (SELECT format(' clustered=%s replica_identity=%s', x.indisclustered, x.indisreplident)"
                    + "          FROM pg_index x WHERE x.indexrelid = c.oid) ELSE '' END"
                    + " || CASE WHEN c.relkind = 'S' THEN (SELECT format(E'\\ntype=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s',"
                    + "      s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)"
                    + "      FROM pg_sequence s WHERE s.seqrelid = c.oid)"
                    + "    || coalesce((SELECT ' owned_by=' || d.refobjid::regclass::text || '.' || quote_ident(a.attname) || ' dep=' || d.deptype::text"
                    + "      FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
                    + "      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass"
                    + "      AND d.deptype IN ('a', 'i')), ' owned_by=none') ELSE '' END"
                    + " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + IN_SCHEMA + " AND c.relkind <> 't'",
            // columns, numbered among the live ones (a dropped column leaves a gap in attnum)
            "SELECT 'column ' || c.oid::regclass::text || '.' || quote_ident(a.attname),"
                    + " format('position=%s type=%s not_null=%s default=%s identity=%s generated=%s collation=%s storage=%s acl=%s',"
                    + " row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), format_type(a.atttypid, a.atttypmod),"
                    + " a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), nullif(a.attidentity, ''), nullif(a.attgenerated, ''),"
                    + " co.collname, a.attstorage, (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x))"
                    + " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                    + " LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum"
                    + " LEFT JOIN pg_collation co ON co.oid = a.attcollation"
                    + " WHERE " + IN_SCHEMA + " AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')",
            // constraints of tables and domains
            "SELECT 'constraint ' || CASE WHEN k.conrelid <> 0 THEN k.conrelid::regclass::text ELSE k.contypid::regtype::text END"
                    + " || ' ' || quote_ident(k.conname),"
                    + " pg_get_constraintdef(k.oid) || format(' deferrable=%s deferred=%s validated=%s no_inherit=%s',"
                    + " k.condeferrable, k.condeferred, k.convalidated, k.connoinherit)"
                    + " FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace WHERE " + IN_SCHEMA,
            // triggers (not the internal ones of foreign keys, whose names carry oids)
            "SELECT 'trigger ' || quote_ident(t.tgname) || ' on ' || c.oid::regclass::text, pg_get_triggerdef(t.oid)"
                    + " || ' enabled=' || t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                    + " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + IN_SCHEMA + " AND NOT t.tgisinternal",
            // types that are not a relation's row type or an array
            "SELECT 'type ' || t.oid::regtype::text, format('kind=%s base=%s not_null=%s default=%s labels=%s range_of=%s owner=%s acl=%s',"
                    + " t.typtype, nullif(t.typbasetype, 0)::regtype, t.typnotnull, t.typdefault,"
                    + " (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),"
                    + " (SELECT r.rngsubtype::regtype FROM pg_range r WHERE r.rngtypid = t.oid), pg_get_userbyid(t.typowner), "
                    + acl("t.typacl", 'T', "t.typowner") + ") FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                    + " WHERE " + IN_SCHEMA + " AND t.typrelid = 0 AND t.typcategory <> 'A'",
            // row-level security policies
            "SELECT 'policy ' || quote_ident(p.polname) || ' on ' || p.polrelid::regclass::text,"
                    + " format('command=%s permissive=%s roles=%s using=%s check=%s', p.polcmd, p.polpermissive,"
                    + " (SELECT string_agg(CASE r WHEN 0 THEN 'public' ELSE pg_get_userbyid(r) END, ',' ORDER BY 1) FROM unnest(p.polroles) r),"
                    + " pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))"
                    + " FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + IN_SCHEMA,
            // rules other than views' own
            "SELECT 'rule ' || quote_ident(r.rulename) || ' on ' || r.ev_class::regclass::text, pg_get_ruledef(r.oid)"
                    + " FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace"
                    + " WHERE " + IN_SCHEMA + " AND r.rulename <> '_RETURN'",
            // extended statistics
            "SELECT 'statistics ' || quote_ident(s.stxname), pg_get_statisticsobjdef(s.oid)"
                    + " FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE " + IN_SCHEMA,
            // default privileges for objects created later in the schema
            "SELECT 'default privileges of ' || pg_get_userbyid(d.defaclrole) || ' for ' || d.defaclobjtype::text,"
                    + " (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(d.defaclacl) x)"
                    + " FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace WHERE " + IN_SCHEMA,
            // comments on the extension, the schema and anything in it
            "SELECT 'comment on ' || pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description FROM pg_description d"
                    + " WHERE (d.classoid = 'pg_extension'::regclass AND d.objoid = " + EXT + ")"
                    + " OR (d.classoid = 'pg_namespace'::regclass AND d.objoid = '" + SCHEMA + "'::regnamespace)"
                    + " OR (pg_identify_object(d.classoid, d.objoid, d.objsubid)).schema = '" + SCHEMA + "'",
            // event triggers (the test databases have no others)
            "SELECT 'event trigger ' || quote_ident(e.evtname), format('event=%s function=%s enabled=%s tags=%s',"
                    + " e.evtevent, e.evtfoid::regprocedure, e.evtenabled, e.evttags) FROM pg_event_trigger e");

    /** The extension's objects in database {@code db} of {@code cluster}. */
    static SortedMap<String, String> of(PgCluster cluster, String db) throws SQLException {
        SortedMap<String, String> objects = new TreeMap<>();
        try (Connection c = cluster.connect(db); Statement st = c.createStatement()) {
            for (String q : QUERIES) {
                try (ResultSet rs = st.executeQuery(q)) {
                    while (rs.next()) {
                        String key = rs.getString(1);
                        String def = rs.getString(2);
                        objects.merge(key, def == null ? "NULL" : def, (a, b) -> a + "\n-- and --\n" + b);
                    }
                } catch (SQLException e) {
                    throw new SQLException("catalog query failed: " + e.getMessage() + "\n" + q, e.getSQLState(), e);
                }
            }
        }
        return objects;
    }

    /**
     * What differs, for a failure message: each object only in {@code a} or only in {@code b} with
     * its definition, and each object defined differently with the lines that differ
     * ({@code -} as in {@code a}, {@code +} as in {@code b}).
     */
    static String report(Map<String, String[]> diffs, String nameA, String nameB) {
        StringBuilder sb = new StringBuilder();
        diffs.forEach((key, d) -> {
            if (d[1] == null) {
                sb.append("\n* only in ").append(nameA).append(": ").append(key).append('\n').append(indent(d[0]));
            } else if (d[0] == null) {
                sb.append("\n* only in ").append(nameB).append(": ").append(key).append('\n').append(indent(d[1]));
            } else {
                sb.append("\n* differs: ").append(key).append(" (- ").append(nameA).append(", + ").append(nameB).append(")\n")
                        .append(lineDiff(d[0], d[1]));
            }
        });
        return sb.toString();
    }

    private static final int MAX_LINES = 40;

    private static String indent(String def) {
        List<String> lines = def.lines().toList();
        StringBuilder sb = new StringBuilder();
        lines.stream().limit(MAX_LINES).forEach(l -> sb.append("    ").append(l).append('\n'));
        if (lines.size() > MAX_LINES) {
            sb.append("    ... (").append(lines.size() - MAX_LINES).append(" more lines)\n");
        }
        return sb.toString();
    }

    /** The lines of {@code a} and {@code b} outside their longest common subsequence, with line numbers. */
    static String lineDiff(String a, String b) {
        List<String> x = a.lines().toList();
        List<String> y = b.lines().toList();
        int[][] lcs = new int[x.size() + 1][y.size() + 1];
        for (int i = x.size() - 1; i >= 0; i--) {
            for (int j = y.size() - 1; j >= 0; j--) {
                lcs[i][j] = x.get(i).equals(y.get(j)) ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
            }
        }
        StringBuilder sb = new StringBuilder();
        int shown = 0;
        int i = 0;
        int j = 0;
        while ((i < x.size() || j < y.size()) && shown < MAX_LINES) {
            if (i < x.size() && j < y.size() && x.get(i).equals(y.get(j))) {
                i++;
                j++;
            } else if (j >= y.size() || (i < x.size() && lcs[i + 1][j] >= lcs[i][j + 1])) {
                sb.append(String.format("    %4d - %s%n", i + 1, x.get(i++)));
                shown++;
            } else {
                sb.append(String.format("    %4d + %s%n", j + 1, y.get(j++)));
                shown++;
            }
        }
        if (shown == MAX_LINES) {
            sb.append("    ... (more differences)\n");
        }
        return sb.toString();
    }

    /** Objects present in only one of the two maps, or defined differently. */
    static Map<String, String[]> differences(SortedMap<String, String> a, SortedMap<String, String> b) {
        SortedMap<String, String[]> out = new TreeMap<>();
        for (String k : a.keySet()) {
            if (!a.get(k).equals(b.get(k))) {
                out.put(k, new String[] {a.get(k), b.get(k)});
            }
        }
        for (String k : b.keySet()) {
            if (!a.containsKey(k)) {
                out.put(k, new String[] {null, b.get(k)});
            }
        }
        return out;
    }
}
