// Quickstart from Swift: token -> register -> login (IoT credentials) -> MQTT URL -> packages
// -> open -> remove; the same walk as the Rust and Python quickstarts.
//
//   swift run            (in examples/swift; on Linux with the flags of Package.swift)
//
// With no AGORA_LINK_* variables it starts the sandbox binary (target/release/agora-link-sandbox,
// built with `cargo build --release -p agora-link-sandbox`; AGORA_LINK_SANDBOX_BIN names another)
// and runs against it; with AGORA_LINK_ENDPOINT / AGORA_LINK_CLIENT_ID / ... set, against that
// deployment instead (AGORA_LINK_QUICKSTART_OPEN=yes to really open a package there).

import AgoraLink
import Foundation

let environment = ProcessInfo.processInfo.environment

func env(_ name: String) -> String? {
    guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty
    else { return nil }
    return value
}

struct QuickstartError: Error, CustomStringConvertible {
    let description: String
}

/// Starts the sandbox binary on an ephemeral loopback port; returns it and its URL.
func startSandbox() throws -> (Process, String) {
    let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    let binary = env("AGORA_LINK_SANDBOX_BIN")
        ?? root.appendingPathComponent("target/release/agora-link-sandbox").path
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        throw QuickstartError(description:
            "no sandbox at \(binary): cargo build --release -p agora-link-sandbox")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["--listen", "127.0.0.1:0"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    // The first line is "... listening on http://127.0.0.1:<port>".
    var line = Data()
    while true {
        let byte = output.fileHandleForReading.readData(ofLength: 1)
        if byte.isEmpty || byte == Data("\n".utf8) { break }
        line.append(byte)
    }
    let text = String(decoding: line, as: UTF8.self)
    guard text.contains("listening on"), let url = text.split(separator: " ").last else {
        process.terminate()
        throw QuickstartError(description: "the sandbox did not start: \(text)")
    }
    return (process, String(url))
}

func configuration(sandboxUrl: String?) throws -> AgoraLinkConfig {
    if let sandboxUrl {
        let config = AgoraLinkConfig(
            region: .china, clientId: "sandbox-client-id", clientSecret: Secret("sandbox-client-secret"))
        config.setPasswordGrant(username: "sandbox-user", password: Secret("sandbox-password"))
        config.setBaseUrl(baseUrl: sandboxUrl)
        return config
    }
    let region: Region
    switch (env("AGORA_LINK_REGION") ?? "cn").lowercased() {
    case "cn": region = .china
    case "na": region = .northAmerica
    case let other: throw QuickstartError(description: "AGORA_LINK_REGION is cn or na, not \(other)")
    }
    guard let clientId = env("AGORA_LINK_CLIENT_ID"), let secret = env("AGORA_LINK_CLIENT_SECRET") else {
        throw QuickstartError(description: "set AGORA_LINK_CLIENT_ID and AGORA_LINK_CLIENT_SECRET")
    }
    let config = AgoraLinkConfig(region: region, clientId: clientId, clientSecret: Secret(secret))
    if let username = env("AGORA_LINK_USERNAME"), let password = env("AGORA_LINK_PASSWORD") {
        config.setPasswordGrant(username: username, password: Secret(password))
    }
    if let endpoint = env("AGORA_LINK_ENDPOINT") { config.setBaseUrl(baseUrl: endpoint) }
    return config
}

func run() async throws {
    var sandbox: Process?
    var sandboxUrl: String?
    if env("AGORA_LINK_ENDPOINT") == nil && env("AGORA_LINK_CLIENT_ID") == nil {
        let (process, url) = try startSandbox()
        sandbox = process
        sandboxUrl = url
        print("0. sandbox at \(url)")
    }
    defer { sandbox?.terminate() }

    let client = try AgoraLinkClient(config: configuration(sandboxUrl: sandboxUrl))
    let token = try await client.accessToken()
    print("1. REST token \(token.accessToken.masked()), expires in \(token.expiresInS) s")

    let project = env("AGORA_LINK_PROJECT_ID") ?? "swift-quickstart"
    let name = env("AGORA_LINK_ACCOUNT") ?? "swift-quickstart-\(Int(Date().timeIntervalSince1970 * 1000))"
    let account = try await client.registerAccount(projectId: project, account: name)
    print("2. registered \(name): userId \(account.userId), token \(account.token.masked())")

    let login = try await client.loginAccount(projectId: project, account: name, accountToken: account.token)
    let iot = login.gyToken
    let left = Double(iot.sessionExpirationMs) / 1000 - Date().timeIntervalSince1970
    // Every credential printed the same way: its first 4 characters and its length (the access key
    // id is an identifier, not a secret, but is shown masked too).
    print("3. MQTT client id \(iot.identityId) at \(iot.endpoint) (\(iot.region)); "
        + "keys \(Secret(iot.accessKeyId).masked())/\(iot.secretKey.masked()) expire in \(Int(left)) s")

    let (provider, _) = try IotProvider.makeWithEvents(
        client: client, credentials: iot, cognitoEndpoint: sandboxUrl)
    let url = try await provider.mqttUrl()
    print("4. MQTT-over-WebSocket URL for \(provider.clientId()): \(url.masked())")

    let packages = try await client.listPackages()
    print("5. \(packages.count) packages: "
        + packages.map { "#\($0.id) \($0.name)" }.joined(separator: ", "))
    if let first = packages.first, sandbox != nil || env("AGORA_LINK_QUICKSTART_OPEN") == "yes" {
        let package = try await client.getPackage(packageId: first.id)
        let order = try await client.openPackage(request: OpenPackageRequest(
            appId: env("AGORA_LINK_APP_ID") ?? "swift-quickstart-app", userId: account.userId,
            deviceId: "swift-device", paymentOrderId: "swift-pay-\(name)",
            packageId: package.id, orderNumber: 1))
        print("6. opened package #\(package.id) (\(package.name)): order \(order)")
    }
    try await client.removeAccount(projectId: project, account: name, accountToken: account.token)
    print("7. removed the account; done")
}

do {
    try await run()
} catch let error as AgoraLinkError {
    print("failed: \(error.kind): \(error.localizedDescription) (server code "
        + "\(error.serverCode.map(String.init) ?? "-"), HTTP \(error.httpStatus.map(String.init) ?? "-"))")
    exit(1)
} catch {
    print("failed: \(error)")
    exit(1)
}
