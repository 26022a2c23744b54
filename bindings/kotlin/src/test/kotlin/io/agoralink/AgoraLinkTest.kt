package io.agoralink

import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.TimeoutCancellationException
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import java.util.UUID

/** The Kotlin binding against the sandbox binary: suspend calls, errors, secrets, concurrency. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AgoraLinkTest {
    private lateinit var sandbox: TestSandbox
    private val baseUrl get() = sandbox.baseUrl

    @BeforeAll
    fun startSandbox() {
        sandbox = TestSandbox()
    }

    @AfterAll
    fun stopSandbox() {
        sandbox.stop()
    }

    private fun client(timeoutMs: Long = 10_000L): AgoraLinkClient = AgoraLinkClient(sandbox.config(timeoutMs))

    private fun admin(method: String, path: String, body: String? = null): String = sandbox.admin(method, path, body)

    private fun tokenRequests(): Int =
        Regex("\"token_requests_by_grant\":\\{([^}]*)}").find(admin("GET", "/_sandbox/stats"))!!
            .groupValues[1].split(',').filter { it.isNotBlank() }.sumOf { it.substringAfter(':').trim().toInt() }

    private fun name() = "kt-" + UUID.randomUUID().toString().take(12)

    @Test
    fun fullFlowWithSuspendCalls() = runBlocking {
        client().use { client ->
            val token = client.accessToken()
            assertEquals("bearer", token.tokenType)
            assertEquals(31969L, token.expiresInS)
            val account = name()
            val registered = client.registerAccount("kt", account)
            assertTrue(registered.userId.startsWith("100000000000000000_"))
            val login = client.loginAccount("kt", account, registered.token)
            val gy = login.gyToken
            assertTrue(gy.endpoint.endsWith(".iot.cn-north-1.amazonaws.com.cn"))
            assertTrue(gy.identityId.startsWith("cn-north-1:"))
            assertTrue(gy.identityPoolId.startsWith("cn-north-1:"))
            assertTrue(gy.accessKeyId.startsWith("ASIA"))
            assertEquals(40, gy.secretKey.reveal().length)
            assertTrue(gy.sessionToken.reveal().isNotEmpty() && gy.cognitoToken.reveal().startsWith("eyJ"))
            assertTrue(gy.sessionExpirationMs > System.currentTimeMillis() + 3_500_000)
            assertEquals(7200L, gy.expirationS)
            assertEquals(43199L, login.lsToken.expiresInS)
            val packages = client.listPackages()
            assertEquals(listOf(1L, 2L, 3L, 4L, 5L), packages.map { it.id })
            assertEquals(packages[1], client.getPackage(2))
            val order = client.openPackage(
                OpenPackageRequest("kt-app", registered.userId, "kt-device", "pay-$account", 2, 1),
            )
            assertTrue(admin("GET", "/_sandbox/orders").contains(order))
            client.removeAccount("kt", account, registered.token)
        }
    }

    @Test
    fun failuresAreTypedExceptionsWithServerDetails() = runBlocking {
        client().use { client ->
            val error = assertThrows(AgoraLinkException.Failure::class.java) {
                runBlocking { client.getPackage(4242) }
            }
            assertEquals(FailureKind.API, error.kind)
            assertEquals(999999L, error.serverCode)
            assertEquals(200, error.httpStatus)
            assertNotNull(error.traceId)
            val missing = assertThrows(AgoraLinkException.Failure::class.java) {
                client.loginAccountBlocking("kt", name(), Secret("nope"))
            }
            assertEquals(201, missing.httpStatus)
            val invalid = assertThrows(AgoraLinkException.Failure::class.java) {
                client.registerAccountBlocking("kt", "")
            }
            assertEquals(FailureKind.INVALID_ARGUMENT, invalid.kind)
        }
        val config = AgoraLinkConfig(Region.CHINA, "id", Secret("secret"))
        config.setBaseUrl("http://api.sd-rtn.com")
        val configError = assertThrows(AgoraLinkException.Failure::class.java) { AgoraLinkClient(config) }
        assertEquals(FailureKind.CONFIG, configError.kind)
    }

    @Test
    fun secretsAreRedactedInToString() {
        client().use { client ->
            val account = name()
            val registered = client.registerAccountBlocking("kt", account)
            val login = client.loginAccountBlocking("kt", account, registered.token)
            val shown = login.toString() + registered.toString()
            for (secret in listOf(registered.token, login.gyToken.secretKey, login.gyToken.sessionToken,
                login.gyToken.cognitoToken, login.lsToken.accessToken)) {
                assertFalse(shown.contains(secret.reveal()), "a secret leaked into toString()")
            }
            assertEquals("***", Secret("hunter2").toString())
            assertTrue(login.gyToken.toString().contains("accessKeyId=" + Secret(login.gyToken.accessKeyId).masked()))
        }
    }

    @Test
    fun configsClientsAndIotCredentialsPrintOneLineWithoutSecrets() {
        val config = AgoraLinkConfig(Region.CHINA, "client-id-abc", Secret("topsecret-value-0123"))
        config.setPasswordGrant("alice", Secret("pa55word-value-4567"))
        config.setBaseUrl("http://127.0.0.1:8080")
        assertEquals("AgoraLinkConfig(region=Region.CHINA, client_id=\"client-id-abc\", client_secret=***, " +
            "username=\"alice\", password=***, base_url=\"http://127.0.0.1:8080\")", config.toString())
        AgoraLinkClient(config).use { client ->
            assertEquals("AgoraLinkClient(region=Region.CHINA, api_base=\"http://127.0.0.1:8080/agoralink/cn/api\", " +
                "state=open)", client.toString())
            client.shutdown()
            assertTrue(client.toString().endsWith("state=closed)"))
        }
        val credentials = IotCredentials("host", "cn-north-1", "acct", 3600L, 1L, Secret("granwin-token-value-0000"),
            "ident", "cn-north-1:id", "cn-north-1:pool", Secret("cognito-token-value-0000"), "ASIA0123456789ABCDEF",
            Secret("secret-key-value-00000000"), Secret("session-token-value-0000"), 2L)
        val shown = credentials.toString()
        assertTrue(shown.startsWith("IotCredentials(endpoint=host, ") && shown.endsWith(", sessionExpirationMs=2)"), shown)
        assertTrue(shown.contains("accessKeyId=ASIA…(20), secretKey=***"), shown)
        for (hidden in listOf("ASIA0123456789ABCDEF", "granwin-token", "cognito-token", "secret-key-value", "session-token-value")) {
            assertFalse(shown.contains(hidden), "$hidden in $shown")
        }
        assertEquals("ASIA0123456789ABCDEF", credentials.accessKeyId)
    }

    @Test
    fun concurrentCoroutinesShareOneTokenRequest() = runBlocking {
        client().use { client ->
            val before = tokenRequests()
            val packages = (1..200).map { async { client.listPackages() } }.awaitAll()
            assertTrue(packages.all { it.size == 5 })
            assertEquals(before + 1, tokenRequests())
        }
    }

    @Test
    fun cancellationLeavesTheClientUsable() = runBlocking {
        client().use { client ->
            client.accessToken()
            admin("POST", "/_sandbox/faults", """{"path_suffix":"/getAll","action":{"kind":"delay","millis":1500},"times":1}""")
            assertThrows(TimeoutCancellationException::class.java) {
                runBlocking { withTimeout(200) { client.listPackages() } }
            }
            assertEquals(5, client.listPackages().size)
        }
    }

    @Test
    fun aDeadPrimaryFailsOverAndShowsInTheCounters() = runBlocking {
        val dead = java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()).use { "127.0.0.1:${it.localPort}" }
        val live = baseUrl.substringAfter("://")
        val config = AgoraLinkConfig(Region.CHINA, "sandbox-client-id", Secret("sandbox-client-secret"))
        config.setPasswordGrant("sandbox-user", Secret("sandbox-password"))
        config.setBaseUrl("http://$dead")
        val settings = defaultFailoverSettings()
        config.setFailover(settings.copy(backoffMs = listOf(10L), regional = RegionalStep.Hosts(listOf(live))))
        AgoraLinkClient(config).use { client ->
            repeat(3) { assertEquals(5, client.listPackages().size) }
            val stats = client.stats()
            assertEquals(4L, stats.requests)
            assertEquals(1L, stats.failovers)
            val primary = stats.hosts.first { it.host == dead }
            assertEquals(2L, primary.attempts)
            assertEquals(3L, primary.skipped)
            assertTrue(primary.coolingDown)
            assertEquals(HostFailure.REFUSED, primary.lastFailure)
        }
        config.setFailover(settings.copy(backoffMs = listOf(10L), regional = RegionalStep.Off))
        AgoraLinkClient(config).use { client ->
            val error = assertThrows(AgoraLinkException.Failure::class.java) { client.accessTokenBlocking() }
            assertEquals(listOf(dead, dead), error.attempts.map { it.host })
        }
        val bad = assertThrows(AgoraLinkException.Failure::class.java) {
            config.setFailover(settings.copy(jitterPercent = 101))
        }
        assertEquals(FailureKind.INVALID_ARGUMENT, bad.kind)
    }

    @Test
    fun aProxyThatIsDownIsNamedWithoutItsPasswordAndLoopbackNeverUsesOne() = runBlocking {
        val port = java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()).use { it.localPort }
        // Loopback (the sandbox) is reached directly whatever the proxy setting.
        val direct = AgoraLinkConfig(Region.CHINA, "sandbox-client-id", Secret("sandbox-client-secret"))
        direct.setPasswordGrant("sandbox-user", Secret("sandbox-password"))
        direct.setBaseUrl(baseUrl)
        direct.setProxy(Secret("http://127.0.0.1:$port"))
        direct.setPoolIdleTimeoutMs(2_000L)
        AgoraLinkClient(direct).use { client -> assertEquals(5, client.listPackages().size) }

        val config = AgoraLinkConfig(Region.CHINA, "sandbox-client-id", Secret("sandbox-client-secret"))
        config.setBaseUrl("https://api.sd-rtn.com")
        config.setFailover(defaultFailoverSettings().copy(enabled = false))
        config.setProxy(Secret("http://alice:Pr0xy-Pa55@127.0.0.1:$port"))
        AgoraLinkClient(config).use { client ->
            val error = assertThrows(AgoraLinkException.Failure::class.java) { client.accessTokenBlocking() }
            assertEquals(FailureKind.NETWORK, error.kind)
            assertEquals(listOf(HostFailure.PROXY), error.attempts.map { it.failure })
            assertTrue(error.reason.contains("http://***@127.0.0.1:$port"), error.reason)
            assertFalse(error.toString().contains("Pr0xy-Pa55"))
            assertFalse(error.reason.contains("Pr0xy-Pa55"))
        }
        config.setNoProxy("*")
        config.setProxy(Secret("socks5://bob:S3cret@127.0.0.1:1080"))
        val bad = assertThrows(AgoraLinkException.Failure::class.java) { AgoraLinkClient(config) }
        assertEquals(FailureKind.CONFIG, bad.kind)
        assertFalse(bad.reason.contains("S3cret"))
    }
}
