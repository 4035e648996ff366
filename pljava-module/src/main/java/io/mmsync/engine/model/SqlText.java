package io.mmsync.engine.model;

import java.util.Arrays;
import java.util.stream.Collectors;

/** A value kept in SQL as text: {@link #sql()} is that text, {@link #parse} the one way back. */
interface SqlText {
    String sql();

    /**
     * The value of {@code type} whose text is {@code text}; throws naming the text, the column
     * ({@code where}) and the texts allowed.
     */
    static <E extends Enum<E> & SqlText> E parse(Class<E> type, String text, String what, String where) {
        E[] values = type.getEnumConstants();
        for (E v : values) {
            if (v.sql().equals(text)) {
                return v;
            }
        }
        throw new IllegalArgumentException("mmsync: unknown " + what + " \"" + text + "\" in " + where + "; expected "
                + Arrays.stream(values).map(SqlText::sql).collect(Collectors.joining(", ")));
    }
}
