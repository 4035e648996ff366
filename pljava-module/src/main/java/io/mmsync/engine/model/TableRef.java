package io.mmsync.engine.model;

import java.util.Objects;

/** A table named by schema and name, the identity of a table across nodes. */
public final class TableRef {
    private final String schema;
    private final String name;

    public TableRef(String schema, String name) {
        this.schema = Objects.requireNonNull(schema, "schema");
        this.name = Objects.requireNonNull(name, "name");
    }

    public String schema() {
        return schema;
    }

    public String name() {
        return name;
    }

    /** The SQL form, both parts always double-quoted: {@code "Audit Trail"."Login Events"}. */
    public String quoted() {
        return quoteIdent(schema) + "." + quoteIdent(name);
    }

    public static String quoteIdent(String ident) {
        return "\"" + ident.replace("\"", "\"\"") + "\"";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TableRef && ((TableRef) o).schema.equals(schema) && ((TableRef) o).name.equals(name);
    }

    @Override
    public int hashCode() {
        return Objects.hash(schema, name);
    }

    @Override
    public String toString() {
        return quoted();
    }
}
