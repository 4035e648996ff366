package io.mmsync.health;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A raw HTTP/1.0 client for the tests: sends one request and reads the whole response until the
 * server closes, so a test sees exactly the bytes on the wire (e.g. that HEAD sends no body).
 */
final class Http {
    private Http() {
    }

    record Response(int status, String head, String body, int rawLength) {
    }

    static Response get(InetSocketAddress at, String pathAndQuery) {
        return request(at, "GET", pathAndQuery);
    }

    static Response request(InetSocketAddress at, String method, String pathAndQuery) {
        try (Socket s = new Socket()) {
            s.connect(at, 2000);
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            out.write((method + " " + pathAndQuery + " HTTP/1.0\r\nHost: test\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            in.transferTo(buf);
            String raw = buf.toString(StandardCharsets.UTF_8);
            int end = raw.indexOf("\r\n\r\n");
            if (end < 0) {
                throw new IllegalStateException("no end of headers in response: " + raw);
            }
            String head = raw.substring(0, end);
            String statusLine = head.split("\r\n", 2)[0];
            int status = Integer.parseInt(statusLine.split(" ")[1]);
            return new Response(status, head, raw.substring(end + 4), buf.size());
        } catch (IOException e) {
            throw new UncheckedIOException(method + " " + at + pathAndQuery + ": " + e, e);
        }
    }
}
