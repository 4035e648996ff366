package io.mmsync.engine.model;

import java.util.Objects;

/** A table named by schema and name, the identity of a table across nodes. */
public final class TableRef {
    private final String schema;
    private final String name;
    /** computed once: a page looks its changes' tables up in maps many times per change */
    private final int hash;

    public TableRef(String schema, String name) {
        this.schema = Objects.requireNonNull(schema, "schema");
        this.name = Objects.requireNonNull(name, "name");
        this.hash = Objects.hash(schema, name);
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
        if (o == this) {
            return true;
        }
        return o instanceof TableRef && ((TableRef) o).hash == hash && ((TableRef) o).schema.equals(schema)
                && ((TableRef) o).name.equals(name);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return quoted();
    }
}
