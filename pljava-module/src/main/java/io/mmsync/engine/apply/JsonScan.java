package io.mmsync.engine.apply;

/**
 * A forward-only scanner over one JSON text (a row image as jsonb prints it), for {@link CopyText}:
 * keys and scalars come out decoded, nested values as their raw text, and nothing else is built.
 * Malformed input throws {@link IllegalArgumentException}.
 */
final class JsonScan {
    private String s;
    private int pos;
    private int plainEnd;
    /** where the next backslash at or after {@link #pos} is (-1: none), or below pos when not looked up since */
    private int nextEscape = -1;
    private boolean escapeKnown;
    private final StringBuilder buf = new StringBuilder();

    void reset(String json) {
        s = json;
        pos = 0;
        escapeKnown = false;
    }

    /** The position as it stands (blanks after a value not skipped). */
    int pos() {
        return pos;
    }

    /** Moves to {@code at} of the same text (the start of a value, for {@link #skipValue()}). */
    void seek(int at) {
        pos = at;
        escapeKnown = false;
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

    /**
     * An object's key and its colon, as its index in {@code names}, or -1 if it is none of them;
     * {@code guess} is tried first (jsonb prints a table's keys in the same order in every row).
     * Allocates nothing unless the key has escapes.
     */
    int key(String[] names, int guess) {
        ws();
        if (pos >= s.length() || s.charAt(pos) != '"') {
            throw new IllegalArgumentException("key expected at " + pos);
        }
        int start = pos + 1;
        // the closing quote by indexOf (a tight loop), unless a backslash comes first
        int end = s.indexOf('"', start);
        if (end >= 0 && escapeBefore(start, end)) {
            end = -1;
        }
        int found = -1;
        if (end >= 0) {
            pos = end + 1;
            int len = end - start;
            if (guess >= 0 && guess < names.length && matches(names[guess], start, len)) {
                found = guess;
            } else {
                for (int i = 0; i < names.length && found < 0; i++) {
                    found = matches(names[i], start, len) ? i : -1;
                }
            }
        } else {
            String k = scalar().toString(); // escapes, or unterminated (throws)
            for (int i = 0; i < names.length && found < 0; i++) {
                found = names[i].equals(k) ? i : -1;
            }
        }
        expect(':');
        return found;
    }

    private boolean matches(String name, int start, int len) {
        return name.length() == len && s.regionMatches(start, name, 0, len);
    }

    /**
     * Appends the next scalar to {@code out} as COPY text: a string decoded, a number or boolean
     * its JSON text; what {@link #scalar()} returns, escaped as {@code CopyText} does, without the
     * intermediate copy.
     */
    void copyScalar(StringBuilder out) {
        ws();
        int n = s.length();
        if (pos >= n) {
            throw new IllegalArgumentException("value expected at " + pos);
        }
        if (s.charAt(pos) != '"') {
            int start = pos;
            skipLiteral();
            out.append(s, start, pos);
            return;
        }
        pos++;
        while (true) {
            int start = pos;
            char ch = 0;
            while (pos < n && (ch = s.charAt(pos)) != '"' && ch != '\\' && ch >= ' ') {
                pos++;
            }
            out.append(s, start, pos);
            if (pos >= n) {
                throw new IllegalArgumentException("unterminated string");
            }
            pos++;
            if (ch == '"') {
                return;
            }
            if (ch != '\\') {
                copyChar(ch, out); // a raw control character (jsonb escapes them; kept exact anyway)
                continue;
            }
            if (pos >= n) {
                throw new IllegalArgumentException("unterminated string");
            }
            char e = s.charAt(pos++);
            switch (e) {
                case 'b':
                    out.append('\b');
                    break;
                case 'f':
                    out.append('\f');
                    break;
                case 'u':
                    copyChar((char) Integer.parseInt(s, pos, pos + 4, 16), out);
                    pos += 4;
                    break;
                default: // " \ / n r t
                    copyChar(e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e, out);
            }
        }
    }

    /**
     * If the next scalar's COPY text is a range of the image as it stands (a number or boolean, or
     * a string without escapes or control characters: neither JSON nor COPY text changes it), its
     * start, with {@link #plainEnd()} its end and the scalar consumed; else -1 and nothing consumed.
     * Not for objects and arrays. Lets {@link CopyText} copy the range in bulk from the image.
     */
    int plainScalar() {
        ws();
        int n = s.length();
        if (pos >= n) {
            throw new IllegalArgumentException("value expected at " + pos);
        }
        if (s.charAt(pos) != '"') {
            int start = pos;
            skipLiteral();
            plainEnd = pos;
            return start;
        }
        int start = pos + 1;
        int p = start;
        char ch = 0;
        while (p < n && (ch = s.charAt(p)) != '"' && ch != '\\' && ch >= ' ') {
            p++;
        }
        if (p >= n || ch != '"') {
            return -1;
        }
        pos = p + 1;
        plainEnd = p;
        return start;
    }

    /** Moves past a number, boolean or null at {@code pos}; there must be one. */
    private void skipLiteral() {
        int start = pos;
        int n = s.length();
        while (pos < n && literal(s.charAt(pos))) {
            pos++;
        }
        if (pos == start) {
            throw new IllegalArgumentException("value expected at " + pos);
        }
    }

    /** The end of the range {@link #plainScalar()} found. */
    int plainEnd() {
        return plainEnd;
    }

    /** One decoded character as COPY text (backslash, newline, carriage return and tab escaped). */
    private static void copyChar(char ch, StringBuilder out) {
        switch (ch) {
            case '\\':
                out.append("\\\\");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            default:
                out.append(ch);
        }
    }

    /** A character of a JSON number, true, false or null. */
    private static boolean literal(char ch) {
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || ch == '-' || ch == '+' || ch == '.' || ch == 'E';
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

    /** Skips blanks; the position of the next character (the start of a value, or the end of the one just skipped). */
    int at() {
        ws();
        return pos;
    }

    /** Whether the text between {@code start} and {@code end} equals that of {@code other} between its positions. */
    boolean sameText(int start, int end, JsonScan other, int otherStart, int otherEnd) {
        return end - start == otherEnd - otherStart && s.regionMatches(start, other.s, otherStart, end - start);
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
        if (c == '"') {
            skipString();
            return;
        }
        if (c != '{' && c != '[') {
            skipLiteral(); // a number, true, false or null: nothing built
            return;
        }
        int depth = 0;
        do {
            c = s.charAt(pos);
            if (c == '"') {
                skipString();
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

    /**
     * Moves past the string at {@code pos} without decoding it: its closing quote found by
     * {@link String#indexOf(int, int)} (a tight loop, where {@code charAt} per character was most of
     * {@link LateDelta#deltaAlone}'s cost under pgbench -N: the accounts' 84-blank filler), escapes
     * by the next backslash, looked up once per text until passed.
     */
    private void skipString() {
        int p = pos + 1;
        while (true) {
            int quote = s.indexOf('"', p);
            if (quote < 0) {
                throw new IllegalArgumentException("unterminated string");
            }
            if (!escapeBefore(p, quote)) {
                pos = quote + 1;
                return;
            }
            // an escape before the quote: past it (its character, whatever it is, is not the end)
            p = nextEscape + 2;
            if (p > s.length()) {
                throw new IllegalArgumentException("unterminated string");
            }
        }
    }

    /** Whether a backslash is at {@code from} or after it and before {@code to} (the next one looked up once, until passed). */
    private boolean escapeBefore(int from, int to) {
        if (!escapeKnown || (nextEscape >= 0 && nextEscape < from)) {
            nextEscape = s.indexOf('\\', from);
            escapeKnown = true;
        }
        return nextEscape >= 0 && nextEscape < to;
    }

    private void ws() {
        while (pos < s.length() && s.charAt(pos) <= ' ') {
            pos++;
        }
    }
}
