package io.agoralink

import org.junit.jupiter.api.Assertions.assertTrue
import java.io.BufferedReader
import java.io.InputStreamReader
import java.net.HttpURLConnection
import java.net.URI

/** The sandbox binary (system property `agoralink.sandbox`) on an ephemeral loopback port. */
class TestSandbox(vararg options: String) {
    private val process: Process = ProcessBuilder(System.getProperty("agoralink.sandbox"), "--listen", "127.0.0.1:0", *options)
        .redirectError(ProcessBuilder.Redirect.DISCARD)
        .start()

    /** `http://127.0.0.1:<port>`. */
    val baseUrl: String

    init {
        val line = BufferedReader(InputStreamReader(process.inputStream)).readLine()
        assertTrue(line != null && line.contains("listening on"), "sandbox did not start: $line")
        baseUrl = line!!.substringAfterLast(' ')
    }

    /** A config for the sandbox's credentials, password grant. */
    fun config(requestTimeoutMs: Long = 10_000L): AgoraLinkConfig {
        val config = AgoraLinkConfig(Region.CHINA, "sandbox-client-id", Secret("sandbox-client-secret"))
        config.setPasswordGrant("sandbox-user", Secret("sandbox-password"))
        config.setBaseUrl(baseUrl)
        config.setRequestTimeoutMs(requestTimeoutMs)
        return config
    }

    /** One call of the admin API (`/_sandbox/...`); returns the body. */
    fun admin(method: String, path: String, body: String? = null): String {
        val connection = URI.create(baseUrl + path).toURL().openConnection() as HttpURLConnection
        connection.requestMethod = method
        if (body != null) {
            connection.doOutput = true
            connection.setRequestProperty("Content-Type", "application/json")
            connection.outputStream.use { it.write(body.toByteArray()) }
        }
        return connection.inputStream.bufferedReader().use { it.readText() }
    }

    fun stop() {
        process.destroy()
    }
}
