package io.mmsync.engine;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine's rooms stay as the package comments say: which package of the main sources may use
 * which (read from their imports and fully qualified names), and no cycle among them.
 */
class EngineDependenciesTest {
    private static final String E = "io.mmsync.engine";
    /** For each package: the mmsync packages it may use (besides itself). */
    private static final Map<String, Set<String>> ALLOWED = Map.ofEntries(
            Map.entry(E + ".model", Set.of()),
            Map.entry(E + ".time", Set.of()),
            Map.entry(E + ".error", Set.of()),
            Map.entry(E + ".conn", Set.of(E + ".error")),
            Map.entry(E + ".apply", Set.of(E + ".model", E + ".time", E + ".error")),
            Map.entry(E + ".files", Set.of(E + ".time", E + ".error", E + ".conn")),
            // compare, merge, repair (issue 12): reads both nodes, writes rows with capture off
            Map.entry(E + ".compare", Set.of(E + ".model", E + ".conn")),
            // initial copy (issue 12), run by a link before it sends
            Map.entry(E + ".copy", Set.of(E + ".model", E + ".conn", E + ".error")),
            Map.entry(E + ".send", Set.of(E + ".apply", E + ".model", E + ".time", E + ".error", E + ".conn", E + ".copy",
                    E + ".compare")),
            // the engine runs scheduled compares (issue 17: compare.Verifier)
            Map.entry(E, Set.of(E + ".send", E + ".files", E + ".compare", E + ".model", E + ".time", E + ".error", E + ".conn")),
            Map.entry("io.mmsync.health", Set.of(E, E + ".conn", E + ".error", E + ".time")),
            Map.entry("io.mmsync.pljava", Set.of(E, E + ".conn")),
            Map.entry("io.mmsync.agent", Set.of(E, E + ".time", "io.mmsync.health", E + ".compare", E + ".conn")));
    private static final Pattern PACKAGE = Pattern.compile("^package ([\\w.]+);", Pattern.MULTILINE);
    private static final Pattern COMMENT = Pattern.compile("/\\*.*?\\*/|//[^\n]*", Pattern.DOTALL);
    private static final Pattern USE = Pattern.compile("\\b(io\\.mmsync(?:\\.[a-z]\\w*)+)\\.[A-Z]");

    private static Path mainSources() {
        String root = System.getProperty("mmsync.root");
        Path p = root != null ? Paths.get(root, "pljava-module", "src", "main", "java") : Paths.get("src", "main", "java");
        assertTrue(Files.isDirectory(p), "main sources not found at " + p.toAbsolutePath());
        return p;
    }

    /** package -> mmsync packages its sources use. */
    private static Map<String, Set<String>> uses() {
        Map<String, Set<String>> out = new TreeMap<>();
        try (Stream<Path> files = Files.walk(mainSources())) {
            for (Path f : (Iterable<Path>) files.filter(x -> x.toString().endsWith(".java"))::iterator) {
                // comments may name any class; code and imports may not
                String src = COMMENT.matcher(Files.readString(f)).replaceAll(" ");
                Matcher pm = PACKAGE.matcher(src);
                assertTrue(pm.find(), "no package in " + f);
                String pkg = pm.group(1);
                Set<String> used = out.computeIfAbsent(pkg, k -> new TreeSet<>());
                Matcher m = USE.matcher(src);
                while (m.find()) {
                    if (!m.group(1).equals(pkg)) {
                        used.add(m.group(1));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    @Test
    void packagesUseOnlyWhatTheyMay() {
        List<String> wrong = new ArrayList<>();
        Map<String, Set<String>> uses = uses();
        for (Map.Entry<String, Set<String>> e : uses.entrySet()) {
            Set<String> allowed = ALLOWED.get(e.getKey());
            if (allowed == null) {
                wrong.add(e.getKey() + " is a new package: add it to ALLOWED and write its package-info.java");
                continue;
            }
            for (String used : e.getValue()) {
                if (!allowed.contains(used)) {
                    wrong.add(e.getKey() + " uses " + used);
                }
            }
        }
        assertEquals(List.of(), wrong);
        assertTrue(uses.containsKey(E + ".apply") && uses.containsKey(E + ".send"), "read " + uses.keySet());
    }

    @Test
    void everyPackageSaysWhatLivesThere() {
        List<String> missing = new ArrayList<>();
        for (String pkg : uses().keySet()) {
            if (!Files.exists(mainSources().resolve(pkg.replace('.', '/')).resolve("package-info.java"))) {
                missing.add(pkg);
            }
        }
        assertEquals(List.of(), missing);
    }

    @Test
    void noCycleAmongPackages() {
        Map<String, Set<String>> uses = uses();
        for (String start : uses.keySet()) {
            // every package reachable from start must not reach start again
            Set<String> seen = new TreeSet<>();
            List<String> todo = new ArrayList<>(uses.get(start));
            while (!todo.isEmpty()) {
                String p = todo.remove(todo.size() - 1);
                assertTrue(!p.equals(start), "package cycle through " + start + " (reached again via " + seen + ")");
                if (seen.add(p)) {
                    todo.addAll(uses.getOrDefault(p, Set.of()));
                }
            }
        }
    }
}
