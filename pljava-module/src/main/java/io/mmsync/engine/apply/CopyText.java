package io.mmsync.engine.apply;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

import java.nio.charset.StandardCharsets;
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
     * the order of {@code columns} with their {@code kinds}; null if a value cannot be written exactly.
     */
    static <T> byte[] encode(List<T> rows, Function<T, String> image, List<String> columns, String kinds) {
        StringBuilder sb = new StringBuilder(rows.size() * 64);
        StringBuilder scratch = new StringBuilder();
        for (T row : rows) {
            JsonObject o = JsonParser.parseString(image.apply(row)).getAsJsonObject();
            for (int i = 0; i < columns.size(); i++) {
                if (i > 0) {
                    sb.append('\t');
                }
                JsonElement v = o.get(columns.get(i));
                if (v == null || v.isJsonNull()) {
                    sb.append("\\N");
                } else if (!value(v, kinds.charAt(i), sb, scratch)) {
                    return null;
                }
            }
            sb.append('\n');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static boolean value(JsonElement v, char kind, StringBuilder sb, StringBuilder scratch) {
        switch (kind) {
            case SCALAR:
                if (!v.isJsonPrimitive()) {
                    return false;
                }
                escape(v.getAsString(), sb);
                return true;
            case JSON:
                if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                    return false;
                }
                escape(v.getAsString(), sb);
                return true;
            case JSONB:
                escape(v.toString(), sb);
                return true;
            case ARRAY:
                scratch.setLength(0);
                if (!v.isJsonArray() || !arrayLiteral(v.getAsJsonArray(), scratch)) {
                    return false;
                }
                escape(scratch, sb);
                return true;
            default:
                return false;
        }
    }

    /** A JSON array of scalars (nested for more dimensions) as an array literal, every element quoted. */
    private static boolean arrayLiteral(JsonArray a, StringBuilder out) {
        out.append('{');
        for (int i = 0; i < a.size(); i++) {
            if (i > 0) {
                out.append(',');
            }
            JsonElement e = a.get(i);
            if (e.isJsonNull()) {
                out.append("NULL");
            } else if (e.isJsonArray()) {
                if (!arrayLiteral(e.getAsJsonArray(), out)) {
                    return false;
                }
            } else if (e.isJsonPrimitive()) {
                String s = ((JsonPrimitive) e).getAsString();
                out.append('"');
                for (int j = 0; j < s.length(); j++) {
                    char ch = s.charAt(j);
                    if (ch == '"' || ch == '\\') {
                        out.append('\\');
                    }
                    out.append(ch);
                }
                out.append('"');
            } else {
                return false;
            }
        }
        out.append('}');
        return true;
    }

    /** COPY text escaping: backslash, newline, carriage return and tab. */
    private static void escape(CharSequence s, StringBuilder sb) {
        for (int i = 0; i < s.length(); i++) {
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
}
