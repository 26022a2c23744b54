// Quickstart from Kotlin with suspend calls: token -> register -> login -> packages -> open.
// With no AGORA_LINK_* variables it starts a sandbox: the binary named by AGORA_LINK_SANDBOX, else
// the checkout's release build (under $CARGO_TARGET_DIR when set; built with
// `cargo build --release -p agora-link-sandbox` when missing);
// otherwise it uses AGORA_LINK_ENDPOINT, AGORA_LINK_CLIENT_ID, AGORA_LINK_CLIENT_SECRET,
// AGORA_LINK_USERNAME, AGORA_LINK_PASSWORD, AGORA_LINK_PROJECT_ID and AGORA_LINK_ACCOUNT.
import io.agoralink.AgoraLinkClient
import io.agoralink.AgoraLinkConfig
import io.agoralink.AgoraLinkException
import io.agoralink.OpenPackageRequest
import io.agoralink.regionFromName
import io.agoralink.Secret
import kotlinx.coroutines.runBlocking
import java.io.File
import kotlin.system.exitProcess

fun main() = runBlocking {
    val env = System.getenv().toMutableMap()
    var sandbox: Process? = null
    if (env["AGORA_LINK_ENDPOINT"].isNullOrEmpty() && env["AGORA_LINK_CLIENT_ID"].isNullOrEmpty()) {
        val root = System.getProperty("agoralink.root", ".")
        sandbox = ProcessBuilder(sandboxBinary(root), "--listen", "127.0.0.1:0")
            .redirectError(ProcessBuilder.Redirect.DISCARD).start()
        env["AGORA_LINK_ENDPOINT"] = sandbox.inputStream.bufferedReader().readLine().substringAfterLast(' ')
        env["AGORA_LINK_CLIENT_ID"] = "sandbox-client-id"
        env["AGORA_LINK_CLIENT_SECRET"] = "sandbox-client-secret"
        env["AGORA_LINK_USERNAME"] = "sandbox-user"
        env["AGORA_LINK_PASSWORD"] = "sandbox-password"
        println("0. sandbox at ${env["AGORA_LINK_ENDPOINT"]}")
    }
    try {
        val region = regionFromName(env["AGORA_LINK_REGION"] ?: "cn")  // cn/na, any case; else a CONFIG failure
        val config = AgoraLinkConfig(region, env.getValue("AGORA_LINK_CLIENT_ID"), Secret(env.getValue("AGORA_LINK_CLIENT_SECRET")))
        env["AGORA_LINK_ENDPOINT"]?.let { config.setBaseUrl(it) }
        if (env["AGORA_LINK_USERNAME"] != null) {
            config.setPasswordGrant(env.getValue("AGORA_LINK_USERNAME"), Secret(env.getValue("AGORA_LINK_PASSWORD")))
        }
        AgoraLinkClient(config).use { client ->
            val token = client.accessToken()
            println("1. REST token ${token.accessToken.masked()}, expires in ${token.expiresInS} s")
            val project = env["AGORA_LINK_PROJECT_ID"] ?: "kt-quickstart"
            val account = env["AGORA_LINK_ACCOUNT"] ?: "kt-quickstart-${System.currentTimeMillis()}"
            val registered = client.registerAccount(project, account)
            println("2. registered $account: userId ${registered.userId}, token ${registered.token.masked()}")
            val iot = client.loginAccount(project, account, registered.token).gyToken
            val left = (iot.sessionExpirationMs - System.currentTimeMillis()) / 1000
            // Every credential printed the same way: its first 4 characters and its length (the access key
            // id is an identifier, not a secret, but is shown masked too).
            val accessKeyId = Secret(iot.accessKeyId).use { it.masked() }
            println("3. MQTT client id ${iot.identityId} at ${iot.endpoint}; keys $accessKeyId/${iot.secretKey.masked()} expire in $left s")
            val packages = client.listPackages()
            println("4. ${packages.size} packages: " + packages.joinToString { "#${it.id} ${it.name}" })
            if (sandbox != null || env["AGORA_LINK_QUICKSTART_OPEN"] == "yes") {
                val order = client.openPackage(
                    OpenPackageRequest("kt-quickstart-app", registered.userId, "kt-device", "kt-pay-$account", packages[0].id, 1),
                )
                println("5. opened package #${packages[0].id}: order $order")
            }
            client.removeAccount(project, account, registered.token)
            println("6. removed the account; done")
        }
    } catch (error: AgoraLinkException.Failure) {
        println("failed: ${error.kind}: ${error.reason} (server code ${error.serverCode}, HTTP ${error.httpStatus}, trace ${error.traceId})")
        exitProcess(1)
    } finally {
        sandbox?.destroy()
    }
}

/**
 * The sandbox to start: `AGORA_LINK_SANDBOX` when set, else the release build of the repository at
 * [root] (in `$CARGO_TARGET_DIR` when set), built with cargo first when it is missing.
 */
fun sandboxBinary(root: String): String {
    System.getenv("AGORA_LINK_SANDBOX")?.takeIf { it.isNotEmpty() }?.let { named ->
        if (File(named).canExecute()) return named
        System.err.println("quickstart: AGORA_LINK_SANDBOX=$named is not an executable file")
        exitProcess(1)
    }
    val target = System.getenv("CARGO_TARGET_DIR")?.takeIf { it.isNotEmpty() }
        ?.let { File(it).let { dir -> if (dir.isAbsolute) dir else File(root, it) } }
        ?: File(root, "target")
    val binary = File(target, "release/agora-link-sandbox")
    if (!binary.exists()) {
        println("building the sandbox: cargo build --release -p agora-link-sandbox (about 3 minutes on 2 cores)")
        val status = try {
            ProcessBuilder("cargo", "build", "--release", "-p", "agora-link-sandbox")
                .directory(File(root)).inheritIO().start().waitFor()
        } catch (error: java.io.IOException) {
            -1 // no cargo on PATH
        }
        if (status != 0 || !binary.exists()) {
            System.err.println("quickstart: no sandbox to start (cargo build exit status $status): set " +
                "AGORA_LINK_SANDBOX to an agora-link-sandbox binary, or AGORA_LINK_ENDPOINT and your credentials")
            exitProcess(1)
        }
    }
    return binary.path
}
