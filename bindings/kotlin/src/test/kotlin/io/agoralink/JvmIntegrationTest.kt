package io.agoralink

import ch.qos.logback.classic.Level
import ch.qos.logback.classic.Logger
import ch.qos.logback.classic.spi.ILoggingEvent
import ch.qos.logback.core.read.ListAppender
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.slf4j.LoggerFactory
import java.io.File
import java.nio.file.Files
import java.nio.file.Paths
import java.util.UUID
import java.util.concurrent.atomic.AtomicReference

/** What a JVM program expects: Thread.interrupt() on blocking calls, Flows, SLF4J, close(). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JvmIntegrationTest {
    private lateinit var sandbox: TestSandbox
    private val baseUrl get() = sandbox.baseUrl

    @BeforeAll
    fun startSandbox() {
        sandbox = TestSandbox("--iot-gateway")
    }

    @AfterAll
    fun stopSandbox() {
        sandbox.stop()
    }

    private fun client(): AgoraLinkClient = AgoraLinkClient(sandbox.config(requestTimeoutMs = 60_000L))

    private fun admin(method: String, path: String, body: String? = null): String = sandbox.admin(method, path, body)

    /** This process's established TCP connections to the sandbox's port (from /proc). */
    private fun connectionsToSandbox(): Int {
        val port = baseUrl.substringAfterLast(':').toInt()
        val inodes = File("/proc/self/fd").listFiles()!!.mapNotNull {
            runCatching { Files.readSymbolicLink(it.toPath()).toString() }.getOrNull()
        }.filter { it.startsWith("socket:[") }.map { it.removePrefix("socket:[").removeSuffix("]") }.toSet()
        return Files.readAllLines(Paths.get("/proc/self/net/tcp")).drop(1).count { line ->
            val f = line.trim().split(Regex("\\s+"))
            f[3] == "01" && f[9] in inodes && f[2].substringAfter(':').toInt(16) == port
        }
    }

    @Test
    fun threadInterruptEndsABlockingReadAndClosesItsConnection() {
        client().use { client ->
            client.accessTokenBlocking()
            admin("POST", "/_sandbox/faults", """{"path_suffix":"/getAll","action":{"kind":"delay","millis":12000},"times":1}""")
            val outcome = AtomicReference<Any>()
            val caughtAt = AtomicReference<Long>()
            val worker = Thread {
                try {
                    outcome.set(client.listPackagesBlocking())
                } catch (interrupted: InterruptedException) {
                    caughtAt.set(System.nanoTime())
                    outcome.set(interrupted)
                }
            }
            worker.start()
            Thread.sleep(500)
            assertEquals(1, connectionsToSandbox())
            val sent = System.nanoTime()
            worker.interrupt()
            worker.join(30_000)
            assertTrue(outcome.get() is InterruptedException, "got ${outcome.get()}")
            val latencyMs = (caughtAt.get() - sent) / 1_000_000.0
            println("Thread.interrupt() to InterruptedException: %.1f ms".format(latencyMs))
            // Without the fix the call returns after the 12 s delay.
            assertTrue(latencyMs < 2_000, "took $latencyMs ms")
            val deadline = System.currentTimeMillis() + 5_000
            while (connectionsToSandbox() > 0 && System.currentTimeMillis() < deadline) Thread.sleep(10)
            assertEquals(0, connectionsToSandbox(), "the aborted request's connection is still open")
            admin("DELETE", "/_sandbox/faults")
            // The client is still usable, and an already interrupted thread fails at once.
            assertEquals(5, client.listPackagesBlocking().size)
            Thread.currentThread().interrupt()
            val thrown = runCatching { client.listPackagesBlocking() }.exceptionOrNull()
            assertTrue(thrown is InterruptedException, "got $thrown")
            assertTrue(!Thread.interrupted())
        }
    }

    @Test
    fun logsReachSlf4jWithoutAnySetUp() {
        val logger = LoggerFactory.getLogger("agora_link") as Logger
        val appender = ListAppender<ILoggingEvent>().apply { start() }
        logger.addAppender(appender)
        logger.level = Level.DEBUG
        try {
            Slf4jBridge.install() // as the first client did (another test may have replaced it)
            client().use { it.listPackagesBlocking() }
            val ours = appender.list.filter { it.loggerName.startsWith("agora_link") }
            assertTrue(ours.isNotEmpty(), "no record reached SLF4J")
            assertTrue(ours.any { it.loggerName == "agora_link.transport" && it.level == Level.DEBUG })
            assertTrue(ours.none { it.formattedMessage.contains("sandbox-client-secret") })
        } finally {
            logger.detachAppender(appender)
            logger.level = null
        }
    }

    @Test
    fun logRecordsAreAFlow() = runBlocking {
        client().use { client ->
            val records = launch {
                val first = withTimeout(10_000) { logRecords(LogLevel.DEBUG).first { it.target.startsWith("agora_link") } }
                assertEquals(LogLevel.DEBUG, first.level)
            }
            while (!records.isCompleted) {
                client.listPackages()
                kotlinx.coroutines.delay(20)
            }
            records.join()
        }
    }

    @Test
    fun iotEventsAreAFlow() = runBlocking {
        client().use { client ->
            val account = "kt-" + UUID.randomUUID().toString().take(12)
            val registered = client.registerAccount("kt", account)
            val login = client.loginAccount("kt", account, registered.token)
            val events = IotEventFlow()
            IotProvider(client, login.gyToken, baseUrl, events).use { provider ->
                provider.mqttUrl()
                provider.refused(null) // the gateway refused the credentials: renewed from Cognito
                assertTrue(provider.mqttUrl().reveal().startsWith("ws://127.0.0.1:"))
                val first = withTimeout(10_000) { events.events.take(1).toList() }
                val refreshed = first.single() as IotEvent.Refreshed
                assertEquals(IotCredentialSource.COGNITO, refreshed.source)
            }
        }
    }

    @Test
    fun closeEndsTheClient() {
        val client = client()
        client.accessTokenBlocking()
        client.shutdown()
        assertTrue(client.isShutDown())
        val failure = runCatching { client.listPackagesBlocking() }.exceptionOrNull()
        assertTrue(failure is AgoraLinkException.Failure && failure.kind == FailureKind.SHUTDOWN, "got $failure")
        client.close()
    }
}
