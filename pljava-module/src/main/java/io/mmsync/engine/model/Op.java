package io.mmsync.engine.model;



/**
 * The kind of a captured row change. The codes are persisted in {@code mmsync.changes.op}:
 * this list is append-only, removing or recoding a value breaks queued changes.
 */
public enum Op {
    INSERT('I'), UPDATE('U'), DELETE('D'), TRUNCATE('T');

    /** values() copies the array at every call: once per change read (issue 14, the agent's CPU per change) */
    private static final Op[] ALL = values();

    private final char code;

    Op(char code) {
        this.code = code;
    }

    public char code() {
        return code;
    }

    public static Op fromCode(String code) {
        if (code != null && code.length() == 1) {
            for (Op op : ALL) {
                if (op.code == code.charAt(0)) {
                    return op;
                }
            }
        }
        throw new IllegalArgumentException("unknown change operation code: " + code);
    }
}
