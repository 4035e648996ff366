package io.mmsync.engine.apply;

/**
 * A forward-only scanner over one JSON text (a row image as jsonb prints it), for {@link CopyText}:
 * keys and scalars come out decoded, nested values as their raw text, and nothing else is built.
 * Malformed input throws {@link IllegalArgumentException}.
 */
final class JsonScan {
    private String s;
    private int pos;
    private final StringBuilder buf = new StringBuilder();

    void reset(String json) {
        s = json;
        pos = 0;
    }

    /** Whether the next non-blank character is {@code c} (not consumed). */
    boolean peekIs(char c) {
        ws();
        return pos < s.length() && s.charAt(pos) == c;
    }

    void expect(char c) {
        if (!peekIs(c)) {
            throw new IllegalArgumentException("expected '" + c + "' at " + pos);
        }
        pos++;
    }

    /** Consumes {@code c} if it is next. */
    boolean next(char c) {
        if (peekIs(c)) {
            pos++;
            return true;
        }
        return false;
    }

    /** An object's key and its colon. */
    String key() {
        String k = scalar().toString();
        expect(':');
        return k;
    }

    /** Consumes a {@code null} if it is next. */
    boolean nullValue() {
        ws();
        if (s.startsWith("null", pos)) {
            pos += 4;
            return true;
        }
        return false;
    }

    /**
     * A string (decoded), number or boolean (its JSON text); valid until the next call. Not for
     * objects and arrays.
     */
    CharSequence scalar() {
        ws();
        if (pos >= s.length()) {
            throw new IllegalArgumentException("value expected at " + pos);
        }
        if (s.charAt(pos) != '"') {
            int start = pos;
            while (pos < s.length() && "-+.0123456789eEtrufalsn".indexOf(s.charAt(pos)) >= 0) {
                pos++;
            }
            if (pos == start) {
                throw new IllegalArgumentException("value expected at " + pos);
            }
            return s.substring(start, pos);
        }
        buf.setLength(0);
        pos++;
        while (true) {
            int start = pos;
            while (pos < s.length() && s.charAt(pos) != '"' && s.charAt(pos) != '\\') {
                pos++;
            }
            buf.append(s, start, pos);
            if (pos >= s.length()) {
                throw new IllegalArgumentException("unterminated string");
            }
            if (s.charAt(pos++) == '"') {
                return buf;
            }
            char e = s.charAt(pos++);
            switch (e) {
                case 'b':
                    buf.append('\b');
                    break;
                case 'f':
                    buf.append('\f');
                    break;
                case 'n':
                    buf.append('\n');
                    break;
                case 'r':
                    buf.append('\r');
                    break;
                case 't':
                    buf.append('\t');
                    break;
                case 'u':
                    buf.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                    pos += 4;
                    break;
                default: // " \ /
                    buf.append(e);
            }
        }
    }

    /** The next value's raw JSON text. */
    String raw() {
        ws();
        int start = pos;
        skipValue();
        return s.substring(start, pos);
    }

    /** Skips the next value, however nested. */
    void skipValue() {
        ws();
        if (pos >= s.length()) {
            throw new IllegalArgumentException("value expected at " + pos);
        }
        char c = s.charAt(pos);
        if (c != '{' && c != '[') {
            scalar();
            return;
        }
        int depth = 0;
        do {
            c = s.charAt(pos);
            if (c == '"') {
                scalar();
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                depth--;
            }
            pos++;
        } while (depth > 0);
    }

    private void ws() {
        while (pos < s.length() && s.charAt(pos) <= ' ') {
            pos++;
        }
    }
}
