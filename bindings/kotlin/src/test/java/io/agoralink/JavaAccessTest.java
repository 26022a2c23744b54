package io.agoralink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The binding as a Java user sees it: every field has a getter Java can call, every method a
 *  name Java can write (Kotlin's unsigned types would mangle both), and the flow works. */
class JavaAccessTest {
    private static Process sandbox;
    private static String baseUrl;

    @BeforeAll
    static void startSandbox() throws IOException {
        sandbox = new ProcessBuilder(System.getProperty("agoralink.sandbox"), "--listen", "127.0.0.1:0")
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
        String line = new BufferedReader(new InputStreamReader(sandbox.getInputStream())).readLine();
        assertTrue(line != null && line.contains("listening on"), "sandbox did not start: " + line);
        baseUrl = line.substring(line.lastIndexOf(' ') + 1);
    }

    @AfterAll
    static void stopSandbox() {
        sandbox.destroy();
    }

    /** Every public class of the package, from the compiled classes. */
    private static List<Class<?>> packageClasses() throws Exception {
        Path dir = Paths.get(AgoraLinkClient.class.getProtectionDomain().getCodeSource().getLocation().toURI())
            .resolve("io/agoralink");
        List<Class<?>> classes = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                String name = file.getFileName().toString();
                if (!name.endsWith(".class")) continue;
                Class<?> cls = Class.forName("io.agoralink." + name.substring(0, name.length() - 6), false,
                    JavaAccessTest.class.getClassLoader());
                if (Modifier.isPublic(cls.getModifiers())) classes.add(cls);
            }
        }
        return classes;
    }

    @Test
    void everyPublicMethodHasANameJavaCanCall() throws Exception {
        List<String> mangled = new ArrayList<>();
        int checked = 0;
        for (Class<?> cls : packageClasses()) {
            // The generated FFI plumbing (FfiConverter*, Uniffi*) is not API.
            String simple = cls.getName().substring(cls.getName().lastIndexOf('.') + 1);
            if (simple.startsWith("FfiConverter") || simple.startsWith("Uniffi")) continue;
            for (Method method : cls.getDeclaredMethods()) {
                // `$` ends the names of Kotlin `internal` members.
                if (!Modifier.isPublic(method.getModifiers()) || method.isSynthetic()
                    || method.getName().contains("$")) continue;
                checked++;
                if (method.getName().contains("-")) mangled.add(cls.getSimpleName() + "." + method.getName());
            }
        }
        assertTrue(checked > 200, "only " + checked + " methods found");
        assertEquals(List.of(), mangled, "methods Java cannot call (Kotlin unsigned/inline types)");
    }

    @Test
    void everyRecordFieldHasAGetter() throws Exception {
        List<String> missing = new ArrayList<>();
        int records = 0;
        for (Class<?> cls : packageClasses()) {
            boolean isRecord = false;
            try {
                cls.getMethod("component1");
                isRecord = true;
            } catch (NoSuchMethodException notData) {
                // not a data class
            }
            if (!isRecord && !Throwable.class.isAssignableFrom(cls)) continue;
            records++;
            for (Field field : cls.getDeclaredFields()) {
                if (Modifier.isStatic(field.getModifiers())) continue;
                String name = field.getName();
                String getter = (name.startsWith("is") ? name : "get" + Character.toUpperCase(name.charAt(0)) + name.substring(1));
                boolean found = false;
                for (Method method : cls.getMethods()) {
                    if (method.getParameterCount() == 0 && method.getName().equals(getter)) found = true;
                }
                if (!found) missing.add(cls.getSimpleName() + "." + name);
            }
        }
        assertTrue(records >= 15, "only " + records + " records found");
        assertEquals(List.of(), missing, "fields without a getter Java can call");
    }

    private static AgoraLinkClient client() throws AgoraLinkException {
        AgoraLinkConfig config = new AgoraLinkConfig(Region.CHINA, "sandbox-client-id", new Secret("sandbox-client-secret"));
        config.setPasswordGrant("sandbox-user", new Secret("sandbox-password"));
        config.setBaseUrl(baseUrl);
        config.setRequestTimeoutMs(10_000L);
        config.setConnectTimeoutMs(5_000L);
        config.setPoolIdleTimeoutMs(4_000L);
        return new AgoraLinkClient(config);
    }

    @Test
    void theFlowAndEveryFieldFromJava() throws Exception {
        try (AgoraLinkClient client = client()) {
            RestToken token = client.accessTokenBlocking();
            long expiresIn = token.getExpiresInS();
            long expiresAt = token.getExpiresAtMs();
            assertEquals(31969L, expiresIn);
            assertTrue(expiresAt > System.currentTimeMillis());
            assertEquals("bearer", token.getTokenType());
            String account = "java-" + UUID.randomUUID().toString().substring(0, 12);
            RegisteredAccount registered = client.registerAccountBlocking("java", account);
            LoginResult login = client.loginAccountBlocking("java", account, registered.getToken());
            IotCredentials gy = login.getGyToken();
            long expiration = gy.getExpirationS();
            assertEquals(7200L, expiration);
            assertTrue(gy.getSessionExpirationMs() > System.currentTimeMillis());
            assertNotNull(gy.getIdentityId());
            List<CloudStoragePackage> packages = client.listPackagesBlocking();
            assertEquals(5, packages.size());
            long id = packages.get(0).getId();
            assertEquals(1L, id);

            AgoraLinkException.Failure failure =
                assertThrows(AgoraLinkException.Failure.class, () -> client.getPackageBlocking(4242L));
            Integer status = failure.getHttpStatus();
            assertEquals(200, status);
            assertEquals(FailureKind.API, failure.getKind());
            assertEquals(Long.valueOf(999999L), failure.getServerCode());
            assertNotNull(failure.getTraceId());
            assertNotNull(failure.getAttempts());

            ClientStats stats = client.stats();
            long requests = stats.getRequests();
            assertTrue(requests >= 5);
            HostStats host = stats.getHosts().get(0);
            long attempts = host.getAttempts();
            long cooldown = host.getCooldownRemainingMs();
            assertTrue(attempts >= 1 && cooldown >= 0);

            FailoverSettings settings = Agora_linkKt.defaultFailoverSettings();
            List<Long> backoff = settings.getBackoffMs();
            assertEquals(List.of(1000L, 3000L, 6000L), backoff);
            int jitter = settings.getJitterPercent();
            assertEquals(20, jitter);
        }
        // Checked exceptions are declared where Java needs them (these lines would not compile
        // otherwise: "exception ... is never thrown in body of corresponding try statement").
        AgoraLinkConfig refused = new AgoraLinkConfig(Region.CHINA, "id", new Secret("secret"));
        refused.setBaseUrl("ftp://nope");
        try {
            new AgoraLinkClient(refused).close();
            throw new AssertionError("an ftp base URL was accepted");
        } catch (AgoraLinkException expected) {
            assertEquals(FailureKind.CONFIG, ((AgoraLinkException.Failure) expected).getKind());
        }
        try (AgoraLinkClient client = client()) {
            AgoraLinkClientInterface viaInterface = client;
            try {
                assertEquals(5, viaInterface.listPackagesBlocking().size());
            } catch (InterruptedException unexpected) {
                throw new AssertionError(unexpected);
            }
        }
        AgoraLinkConfigInterface configInterface = new AgoraLinkConfig(Region.CHINA, "id", new Secret("secret"));
        try {
            configInterface.setConnectTimeoutMs(0L);
            throw new AssertionError("a zero timeout was accepted");
        } catch (AgoraLinkException expected) {
            assertEquals(FailureKind.INVALID_ARGUMENT, ((AgoraLinkException.Failure) expected).getKind());
        }
        AgoraLinkConfig config = new AgoraLinkConfig(Region.CHINA, "id", new Secret("secret"));
        AgoraLinkException.Failure negative =
            assertThrows(AgoraLinkException.Failure.class, () -> config.setRequestTimeoutMs(-1L));
        assertEquals(FailureKind.INVALID_ARGUMENT, negative.getKind());
    }
}
