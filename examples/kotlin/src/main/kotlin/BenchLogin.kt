// Benchmark: N third-party logins at concurrency 64 through the Kotlin binding (suspend calls)
// and through the JDK's own java.net.http.HttpClient doing the same exchange (sendAsync),
// against one sandbox binary. Prints calls/s of both and the ratio.
//   (cd examples/kotlin && mvn -q compile exec:java -Dmain.class=BenchLoginKt -Dexec.args="3000 3")
import io.agoralink.AgoraLinkClient
import io.agoralink.AgoraLinkConfig
import io.agoralink.Region
import io.agoralink.Secret
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.future.await
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.sync.Semaphore
import kotlinx.coroutines.sync.withPermit
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.UUID

private const val CONCURRENCY = 64

private fun field(json: String, name: String): String =
    Regex("\"$name\"\\s*:\\s*\"([^\"]*)\"").find(json)?.groupValues?.get(1) ?: error("no $name in $json")

private suspend fun <T> timed(total: Int, call: suspend () -> T): Double = kotlinx.coroutines.coroutineScope {
    val limit = Semaphore(CONCURRENCY)
    val started = System.nanoTime()
    (1..total).map { async { limit.withPermit { call() } } }.awaitAll()
    total / ((System.nanoTime() - started) / 1e9)
}

private suspend fun binding(base: String, total: Int): Double {
    val config = AgoraLinkConfig(Region.CHINA, "sandbox-client-id", Secret("sandbox-client-secret"))
    config.setBaseUrl(base)
    config.setPasswordGrant("sandbox-user", Secret("sandbox-password"))
    return AgoraLinkClient(config).use { client ->
        val name = "kt-bench-" + UUID.randomUUID().toString().take(8)
        val token = client.registerAccount("bench", name).token
        timed(200) { client.loginAccount("bench", name, token) }
        timed(total) { check(client.loginAccount("bench", name, token).gyToken.identityId.isNotEmpty()) }
    }
}

private suspend fun jdk(base: String, total: Int): Double {
    val http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
    val api = "$base/agoralink/cn/api"
    fun post(path: String, body: String, bearer: String?): HttpRequest {
        val builder = HttpRequest.newBuilder(URI.create(api + path)).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
        if (bearer != null) builder.header("Authorization", "Bearer $bearer")
        return builder.build()
    }
    val tokenJson = http.send(post("/oauth/rest-token",
        """{"grant_type":"password","username":"sandbox-user","password":"sandbox-password","scope":"read","client_id":"sandbox-client-id","client_secret":"sandbox-client-secret"}""",
        null), HttpResponse.BodyHandlers.ofString()).body()
    val bearer = field(tokenJson, "access_token")
    val name = "jdk-bench-" + UUID.randomUUID().toString().take(8)
    val registered = http.send(post("/oauth/third-party/register", """{"projectId":"bench","thirdPartyAccount":"$name"}""", bearer),
        HttpResponse.BodyHandlers.ofString()).body()
    val body = """{"clientId":"sandbox-client-id","clientSecret":"sandbox-client-secret","projectId":"bench","thirdPartyAccount":"$name","token":"${field(registered, "token")}"}"""
    suspend fun login() {
        val reply = http.sendAsync(post("/oauth/third-party/login", body, bearer), HttpResponse.BodyHandlers.ofString()).await()
        check(reply.statusCode() == 200 && field(reply.body(), "identityId").isNotEmpty())
    }
    timed(200) { login() }
    return timed(total) { login() }
}

fun main(args: Array<String>) = runBlocking {
    val total = args.getOrNull(0)?.toInt() ?: 3000
    val rounds = args.getOrNull(1)?.toInt() ?: 3
    val root = System.getProperty("agoralink.root", ".")
    val sandbox = ProcessBuilder(sandboxBinary(root), "--listen", "127.0.0.1:0")
        .redirectError(ProcessBuilder.Redirect.DISCARD).start()
    try {
        val base = sandbox.inputStream.bufferedReader().readLine().substringAfterLast(' ')
        val results = (1..rounds).map { Pair(binding(base, total), jdk(base, total)) }
        fun median(values: List<Double>) = values.sorted()[values.size / 2]
        val b = median(results.map { it.first })
        val j = median(results.map { it.second })
        println("BenchLogin.kt: $total logins, concurrency $CONCURRENCY, median of $rounds rounds")
        println("  Kotlin binding (suspend)      %8.0f calls/s".format(b))
        println("  JDK HttpClient (sendAsync)    %8.0f calls/s".format(j))
        println("  ratio %.2fx".format(median(results.map { it.first / it.second })))
    } finally {
        sandbox.destroy()
    }
}
