package io.mmsync.health;

import java.util.regex.Pattern;

/** Masks credentials in any text the health endpoint shows or logs (errors can quote conninfo). */
final class Redact {
    private static final Pattern KEYWORD = Pattern.compile(
            "(?i)\\b((?:ssl)?password\\s*=\\s*)('(?:[^'\\\\]|\\\\.)*'|[^\\s&;,)]+)");
    private static final Pattern URI_USERINFO = Pattern.compile("(?i)(\\b[a-z][a-z0-9+.-]*://[^:/@\\s]*:)[^@\\s/]*@");

    private Redact() {
    }

    static String text(String s) {
        if (s == null) {
            return null;
        }
        String out = KEYWORD.matcher(s).replaceAll("$1***");
        return URI_USERINFO.matcher(out).replaceAll("$1***@");
    }
}
