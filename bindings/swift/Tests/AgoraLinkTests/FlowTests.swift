// The whole flow against the sandbox, IoT credentials through the sandbox's SigV4-checking
// gateway, secrets in string forms, Sendable, concurrency and log records.

@testable import AgoraLink
import Foundation
import XCTest

/// Compiles only for `Sendable` types: the checks below are compile-time.
private func assertSendable<T: Sendable>(_: T.Type) {}

final class FlowTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws {
        sandbox = try Sandbox.fromEnvironment()
    }

    override func tearDownWithError() throws {
        try sandbox?.clearFaults()
    }

    func testTheWholeFlow() async throws {
        let client = try sandbox.client()
        let token = try await client.accessToken()
        XCTAssertEqual(token.tokenType.lowercased(), "bearer")
        XCTAssertGreaterThan(token.expiresInS, 0)
        XCTAssertGreaterThan(token.expiresAtMs, Int64(Date().timeIntervalSince1970 * 1000))

        let project = "swift"
        let name = accountName("swift")
        let account = try await client.registerAccount(projectId: project, account: name)
        XCTAssertFalse(account.userId.isEmpty)
        XCTAssertFalse(account.token.reveal().isEmpty)

        let login = try await client.loginAccount(
            projectId: project, account: name, accountToken: account.token)
        XCTAssertFalse(login.lsToken.accessToken.reveal().isEmpty)
        XCTAssertGreaterThan(login.lsToken.expiresAtMs, 0)
        let iot = login.gyToken
        for (field, value) in [
            ("endpoint", iot.endpoint), ("region", iot.region), ("account", iot.account),
            ("identifier", iot.identifier), ("identityId", iot.identityId),
            ("identityPoolId", iot.identityPoolId), ("accessKeyId", iot.accessKeyId),
            ("granwinToken", iot.granwinToken.reveal()), ("cognitoToken", iot.cognitoToken.reveal()),
            ("secretKey", iot.secretKey.reveal()), ("sessionToken", iot.sessionToken.reveal()),
        ] {
            XCTAssertFalse(value.isEmpty, "gyToken.\(field) is empty")
        }
        XCTAssertGreaterThan(iot.expirationS, 0)
        XCTAssertGreaterThan(iot.expiresAtMs, 0)
        XCTAssertGreaterThan(iot.sessionExpirationMs, Int64(Date().timeIntervalSince1970 * 1000))

        // An MQTT URL from the IoT provider, which the sandbox's gateway accepts (its SigV4
        // check), and renewed through Cognito after the gateway refused an expired session.
        let (provider, events) = try IotProvider.makeWithEvents(
            client: client, credentials: iot, cognitoEndpoint: sandbox.url)
        XCTAssertEqual(provider.clientId(), iot.identityId)
        XCTAssertEqual(provider.source(), .proof)
        let url = try await provider.mqttUrl()
        XCTAssertEqual("\(url)", "***")
        XCTAssertEqual(try webSocketUpgrade(url.reveal()).status, 101)
        try sandbox.admin("POST", "/_sandbox/iot/expire-sessions")
        let expired = try await provider.mqttUrl()
        let refused = try webSocketUpgrade(expired.reveal())
        XCTAssertEqual(refused.status, 403)
        try provider.refused(dateHeader: refused.headers["date"])
        let renewed = try await provider.mqttUrl()
        XCTAssertEqual(try webSocketUpgrade(renewed.reveal()).status, 101)
        XCTAssertEqual(provider.source(), .cognito)
        let event = try await within(10) { () -> IotEvent? in
            for await event in events { return event }
            return nil
        }
        guard case let .refreshed(source, expiresAtMs)? = event else {
            return XCTFail("expected a refreshed event, got \(String(describing: event))")
        }
        XCTAssertEqual(source, .cognito)
        XCTAssertGreaterThan(expiresAtMs, 0)

        let packages = try await client.listPackages()
        XCTAssertFalse(packages.isEmpty)
        let first = try await client.getPackage(packageId: packages[0].id)
        XCTAssertEqual(first, packages[0])
        let ordersBefore = try sandbox.orderCount()
        let order = try await client.openPackage(request: OpenPackageRequest(
            appId: "swift-app", userId: account.userId, deviceId: "swift-device",
            paymentOrderId: "swift-pay-\(name)", packageId: first.id, orderNumber: 1))
        XCTAssertFalse(order.isEmpty)
        XCTAssertEqual(try sandbox.orderCount(), ordersBefore + 1)

        try await client.removeAccount(projectId: project, account: name, accountToken: account.token)
        do {
            _ = try await client.loginAccount(projectId: project, account: name, accountToken: account.token)
            XCTFail("a removed account logged in")
        } catch AgoraLinkError.api {
        }
    }

    func testTheIotEventStreamFinishesWithItsProvider() async throws {
        let client = try sandbox.client()
        let name = accountName("swift-iot")
        let account = try await client.registerAccount(projectId: "swift", account: name)
        let login = try await client.loginAccount(projectId: "swift", account: name, accountToken: account.token)
        var provider: IotProvider?
        let events: AsyncStream<IotEvent>
        do {
            let made = try IotProvider.makeWithEvents(
                client: client, credentials: login.gyToken, cognitoEndpoint: sandbox.url)
            provider = made.provider
            events = made.events
        }
        _ = try await provider?.mqttUrl()
        provider = nil
        let ended = try await within(10) { () -> Bool in
            for await _ in events {}
            return true
        }
        XCTAssertTrue(ended, "the stream finishes once its provider is released")
    }

    func testBlockingCallsWork() throws {
        let client = try sandbox.client()
        let name = accountName("swift-blocking")
        let account = try client.registerAccountBlocking(projectId: "swift", account: name)
        let login = try client.loginAccountBlocking(projectId: "swift", account: name, accountToken: account.token)
        XCTAssertFalse(login.gyToken.identityId.isEmpty)
        XCTAssertFalse(try client.listPackagesBlocking().isEmpty)
    }

    func testSecretsPrintAsStars() async throws {
        let client = try sandbox.client()
        let name = accountName("swift-secret")
        let account = try await client.registerAccount(projectId: "swift", account: name)
        let login = try await client.loginAccount(projectId: "swift", account: name, accountToken: account.token)
        let secrets = [
            account.token.reveal(), login.lsToken.accessToken.reveal(),
            login.gyToken.granwinToken.reveal(), login.gyToken.cognitoToken.reveal(),
            login.gyToken.secretKey.reveal(), login.gyToken.sessionToken.reveal(),
            Sandbox.password, Sandbox.clientSecret,
        ]
        XCTAssertEqual("\(account.token)", "***")
        XCTAssertEqual(String(describing: login.gyToken.secretKey), "***")
        XCTAssertEqual(String(reflecting: login.gyToken.secretKey), "Secret(***)")
        let config = try sandbox.config()
        var printed = [
            "\(account)", "\(login)", String(reflecting: login), String(describing: login.gyToken),
            String(reflecting: config), "\(config)",
        ]
        var dumped = ""
        dump(login, to: &dumped)
        printed.append(dumped)
        for text in printed {
            XCTAssertTrue(text.contains("***"), "no *** in \(text)")
            for secret in secrets {
                XCTAssertFalse(text.contains(secret), "a secret in \(text)")
            }
        }
        XCTAssertEqual(Secret("abc").reveal(), "abc")
        XCTAssertFalse(Secret(value: "abcdefghijklmnop").masked().contains("abcdefghijklmnop"))
    }

    func testSendableTypes() {
        // Compile-time: each line fails to build if the type is not Sendable.
        assertSendable(AgoraLinkClient.self)
        assertSendable(AgoraLinkConfig.self)
        assertSendable(IotProvider.self)
        assertSendable(Secret.self)
        assertSendable(AgoraLinkError.self)
        assertSendable(FailureKind.self)
        assertSendable(LoginResult.self)
        assertSendable(IotCredentials.self)
        assertSendable(RestToken.self)
        assertSendable(CloudStoragePackage.self)
        assertSendable(IotEvent.self)
        assertSendable(LogRecord.self)
        assertSendable(ClientStats.self)
        assertSendable(AsyncStream<IotEvent>.self)
    }

    func testConcurrentLoginsShareOneTokenRequest() async throws {
        let client = try sandbox.client()
        let name = accountName("swift-group")
        let before = try sandbox.tokenRequests()
        let account = try await client.registerAccount(projectId: "swift", account: name)
        XCTAssertEqual(try sandbox.tokenRequests(), before + 1)
        let fresh = try sandbox.client()
        let identities = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await fresh.loginAccount(
                        projectId: "swift", account: name, accountToken: account.token
                    ).lsToken.accessToken.reveal()
                }
            }
            var tokens: [String] = []
            for try await token in group { tokens.append(token) }
            return tokens
        }
        XCTAssertEqual(identities.count, 20)
        XCTAssertEqual(Set(identities).count, 20, "every login has its own lsToken")
        XCTAssertEqual(try sandbox.tokenRequests(), before + 2,
                       "20 concurrent logins on a fresh client: one REST token request")
        XCTAssertEqual(fresh.stats().requests, 21)
    }

    func testLogRecordsArriveAsAStreamWithoutSecrets() async throws {
        let records = try logRecords(minLevel: .debug)
        let client = try sandbox.client()
        let name = accountName("swift-log")
        let account = try await client.registerAccount(projectId: "swift", account: name)
        let login = try await client.loginAccount(projectId: "swift", account: name, accountToken: account.token)
        let seen = try await within(10) { () -> [LogRecord] in
            var seen: [LogRecord] = []
            for await record in records {
                seen.append(record)
                if record.message.contains("endpoint=login") { break }
            }
            return seen
        }
        XCTAssertTrue(seen.contains { $0.message.contains("endpoint=login") })
        XCTAssertTrue(seen.allSatisfy { $0.target.hasPrefix("agora_link") })
        XCTAssertTrue(seen.allSatisfy { $0.level != .trace })
        let text = seen.map(\.message).joined(separator: "\n")
        for secret in [account.token.reveal(), login.gyToken.secretKey.reveal(),
                       login.lsToken.accessToken.reveal(), Sandbox.password, Sandbox.clientSecret] {
            XCTAssertFalse(text.contains(secret))
        }
    }

    func testCancellingTheLogStreamRemovesItsListener() async throws {
        let records = try logRecords(minLevel: .debug)
        let first = LogStreams.shared.installed
        XCTAssertNotEqual(first, 0)
        let consumer = Task { () -> Int in
            var count = 0
            for await _ in records { count += 1 }
            return count
        }
        let client = try sandbox.client()
        _ = try await client.listPackages()
        consumer.cancel()
        _ = await consumer.value
        XCTAssertEqual(LogStreams.shared.installed, 0, "cancelling the consumer removed the listener")

        // A stream whose listener is replaced directly finishes, and is no longer the installed one.
        let again = try logRecords(minLevel: .debug)
        XCTAssertNotEqual(LogStreams.shared.installed, 0)
        _ = try await client.getPackage(packageId: 1)
        try setLogListener(listener: Ignore(), minLevel: .error)
        XCTAssertEqual(LogStreams.shared.installed, 0)
        let count = try await within(10) { () -> Int in
            var count = 0
            for await _ in again { count += 1 }
            return count
        }
        XCTAssertGreaterThan(count, 0, "the records logged before the replacement were delivered")
        clearLogListener()
    }
}

private final class Ignore: LogListener {
    func log(record: LogRecord) {}
}
