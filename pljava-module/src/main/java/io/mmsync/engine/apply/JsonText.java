package io.mmsync.engine.apply;

/**
 * JSON text written by hand where a page writes it per row: a Gson tree of 5,000 keys cost the
 * agent more than the statement it feeds, and the just-in-time compiler about a second of CPU
 * to compile Gson's writer when a catch-up first needed it.
 */
final class JsonText {
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private JsonText() {
    }

    /** Appends {@code s} as a JSON string (quoted, with the escapes JSON requires). */
    static StringBuilder string(StringBuilder sb, String s) {
        sb.append('"');
        int n = s.length();
        int from = 0;
        for (int i = 0; i < n; i++) {
            char ch = s.charAt(i);
            if (ch >= 0x20 && ch != '"' && ch != '\\') {
                continue;
            }
            sb.append(s, from, i);
            from = i + 1;
            switch (ch) {
                case '"':
                    sb.append("\\\"");
                    break;
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
                    sb.append("\\u00").append(HEX[ch >> 4]).append(HEX[ch & 15]);
            }
        }
        return sb.append(s, from, n).append('"');
    }
}
