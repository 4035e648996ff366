package io.mmsync.engine.apply;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * Row images (jsonb text, as the capture trigger writes them) as the text format of {@code COPY},
 * giving each column the same text its type's input function gets from
 * {@code json_populate_record} in the statements of {@link TableShape}: a JSON string its
 * value, a number or boolean its JSON text, a jsonb column its JSON text, a json column the exact
 * text the trigger kept (a JSON string), an array its array literal. Each column has a kind
 * ({@link #KIND_SQL}); a value its kind cannot take exactly (an object for a scalar column, say)
 * makes the whole run fall back to the statement.
 */
final class CopyText {
    static final char SCALAR = 's';
    static final char JSON = 'j';
    static final char JSONB = 'b';
    static final char ARRAY = 'a';
    /** A column COPY text does not take here (composite, domain over a non-scalar, arrays of those, ...). */
    static final char NONE = 'x';

    /** Joins for {@link #KIND_SQL}: the column's type {@code ty}, its base type {@code b}, an array's element {@code el}. */
    static final String KIND_JOINS = "JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid "
            + "JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END "
            + "LEFT JOIN pg_catalog.pg_type el ON el.oid = b.typelem AND b.typcategory = 'A' ";
    /** A column's kind, one of the constants. */
    static final String KIND_SQL = "CASE WHEN b.typtype = 'd' THEN 'x' "
            + "WHEN b.typcategory = 'A' THEN CASE WHEN ty.typtype <> 'd' AND el.typtype IN ('b', 'e', 'r', 'm') "
            + "  AND el.typcategory <> 'A' AND el.typdelim = ',' "
            + "  AND el.oid NOT IN ('pg_catalog.json'::pg_catalog.regtype, 'pg_catalog.jsonb'::pg_catalog.regtype) "
            + "  THEN 'a' ELSE 'x' END "
            + "WHEN b.oid = 'pg_catalog.jsonb'::pg_catalog.regtype THEN CASE WHEN ty.typtype = 'd' THEN 'x' ELSE 'b' END "
            + "WHEN b.oid = 'pg_catalog.json'::pg_catalog.regtype THEN CASE WHEN ty.typtype = 'd' THEN 'x' ELSE 'j' END "
            + "WHEN b.typtype IN ('b', 'e', 'r', 'm') THEN 's' ELSE 'x' END";

    private CopyText() {
    }

    /**
     * The images {@code image} picks from each of {@code rows} as COPY text (UTF-8), columns in
     * the order of {@code columns} with their {@code kinds}; null if a value cannot be written
     * exactly. The images are scanned once, without building JSON values (a tree per row cost
     * the agent about as much CPU as COPY saves the peer).
     */
    static <T> byte[] encode(List<T> rows, Function<T, String> image, List<String> columns, String kinds) {
        Row row = new Row(columns.toArray(new String[0]), kinds);
        StringBuilder sb = new StringBuilder(rows.size() * 64);
        try {
            for (T r : rows) {
                if (!row.encode(image.apply(r), sb)) {
                    return null;
                }
            }
        } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
            return null; // not the JSON the trigger writes: the statement reports it as before
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * One row at a time, in a method of its own: the loop over a page stays small, so the JIT
     * compiles this once instead of recompiling one large loop (on-stack replacement, then again)
     * during the first catch-up, which cost a fresh agent more CPU than the rows themselves.
     */
    private static final class Row {
        private final String[] names;
        private final String kinds;
        private final JsonScan scan = new JsonScan();
        private final StringBuilder values = new StringBuilder();
        private final int[] from;
        private final int[] to;
        /** whether the column's text is {@code from..to} of the image, else of {@code values} */
        private final boolean[] inImage;
        /** the column of the n-th key of the previous row: jsonb orders a table's keys alike in every row */
        private final int[] order;

        Row(String[] names, String kinds) {
            this.names = names;
            this.kinds = kinds;
            this.from = new int[names.length];
            this.to = new int[names.length];
            this.inImage = new boolean[names.length];
            this.order = new int[names.length];
            Arrays.fill(order, -1);
        }

        /** Appends the image as a line of COPY text; false (out then partly written) if a value cannot be. */
        boolean encode(String image, StringBuilder out) {
            values.setLength(0);
            Arrays.fill(from, -1);
            scan.reset(image);
            scan.expect('{');
            if (!scan.peekIs('}')) {
                int n = 0;
                do {
                    int col = scan.key(names, n < order.length ? order[n] : -1);
                    if (n < order.length) {
                        order[n] = col;
                    }
                    n++;
                    if (col < 0) {
                        scan.skipValue();
                    } else if (scan.nullValue()) {
                        from[col] = -1;
                    } else if (kinds.charAt(col) == SCALAR && !scan.peekIs('{') && !scan.peekIs('[')
                            && (from[col] = scan.plainScalar()) >= 0) {
                        to[col] = scan.plainEnd(); // a range of the image itself
                        inImage[col] = true;
                    } else {
                        from[col] = values.length();
                        if (!value(scan, kinds.charAt(col), values)) {
                            return false;
                        }
                        to[col] = values.length();
                        inImage[col] = false;
                    }
                } while (scan.next(','));
            }
            scan.expect('}');
            for (int i = 0; i < from.length; i++) {
                if (i > 0) {
                    out.append('\t');
                }
                if (from[i] < 0) {
                    out.append("\\N");
                } else if (inImage[i]) {
                    out.append(image, from[i], to[i]); // from a String: in bulk (a StringBuilder goes char by char)
                } else {
                    out.append(values, from[i], to[i]);
                }
            }
            out.append('\n');
            return true;
        }
    }

    /** Appends the value at the scanner as COPY text of a column of {@code kind}; false if it cannot. */
    private static boolean value(JsonScan scan, char kind, StringBuilder out) {
        switch (kind) {
            case SCALAR:
                if (scan.peekIs('{') || scan.peekIs('[')) {
                    return false;
                }
                scan.copyScalar(out);
                return true;
            case JSON:
                if (!scan.peekIs('"')) {
                    return false;
                }
                scan.copyScalar(out);
                return true;
            case JSONB:
                escape(scan.raw(), out);
                return true;
            case ARRAY:
                if (!scan.peekIs('[')) {
                    return false;
                }
                StringBuilder literal = new StringBuilder();
                if (!arrayLiteral(scan, literal)) {
                    return false;
                }
                escape(literal, out);
                return true;
            default:
                return false;
        }
    }

    /** A JSON array of scalars (nested for more dimensions) as an array literal, every element quoted. */
    private static boolean arrayLiteral(JsonScan scan, StringBuilder out) {
        scan.expect('[');
        out.append('{');
        if (!scan.peekIs(']')) {
            int n = 0;
            do {
                if (n++ > 0) {
                    out.append(',');
                }
                if (scan.nullValue()) {
                    out.append("NULL");
                } else if (scan.peekIs('[')) {
                    if (!arrayLiteral(scan, out)) {
                        return false;
                    }
                } else if (scan.peekIs('{')) {
                    return false;
                } else {
                    CharSequence s = scan.scalar();
                    out.append('"');
                    for (int j = 0; j < s.length(); j++) {
                        char ch = s.charAt(j);
                        if (ch == '"' || ch == '\\') {
                            out.append('\\');
                        }
                        out.append(ch);
                    }
                    out.append('"');
                }
            } while (scan.next(','));
        }
        scan.expect(']');
        out.append('}');
        return true;
    }

    /** COPY text escaping: backslash, newline, carriage return and tab. */
    private static void escape(CharSequence s, StringBuilder sb) {
        int n = s.length();
        int plain = 0;
        while (plain < n && !special(s.charAt(plain))) {
            plain++;
        }
        if (plain == n) {
            sb.append(s); // in bulk
            return;
        }
        sb.append(s, 0, plain);
        for (int i = plain; i < n; i++) {
            char ch = s.charAt(i);
            switch (ch) {
                case '\\':
                    sb.append("\\\\");
                    break;
                case '\n':
                    sb.append("\\n");
                    break;
                case '\r':
                    sb.append("\\r");
                    break;
                case '\t':
                    sb.append("\\t");
                    break;
                default:
                    sb.append(ch);
            }
        }
    }

    private static boolean special(char ch) {
        return ch == '\\' || ch == '\n' || ch == '\r' || ch == '\t';
    }
}
