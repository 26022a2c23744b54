// Every error kind reaching Swift as the right case (caught with `catch AgoraLinkError.<kind>`),
// with a readable, secret-free `localizedDescription`; and Task cancellation.

import AgoraLink
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback port nothing listens on.
private func closedPortUrl() -> String {
    let fd = socket(AF_INET, streamSocket, 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 ? getsockname(fd, pointer, &length) : -1
        }
    }
    return "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
}

/// A log listener that makes a blocking call on the library thread that logs.
private final class BlockingCaller: LogListener, @unchecked Sendable {
    let client: AgoraLinkClient
    let lock = NSLock()
    var outcome: String?

    init(client: AgoraLinkClient) { self.client = client }

    func result() -> String? {
        lock.lock()
        defer { lock.unlock() }
        return outcome
    }

    func log(record: LogRecord) {
        guard record.message.contains("agora link response") else { return }
        lock.lock()
        defer { lock.unlock() }
        guard outcome == nil else { return }
        do {
            _ = try client.listPackagesBlocking()
            outcome = "returned"
        } catch AgoraLinkError.wouldDeadlock {
            outcome = "wouldDeadlock"
        } catch {
            outcome = "other: \(error)"
        }
    }
}

final class ErrorTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws {
        sandbox = try Sandbox.fromEnvironment()
    }

    override func tearDownWithError() throws {
        try sandbox?.clearFaults()
    }

    /// Runs `work`, which must throw an `AgoraLinkError` caught by `catch AgoraLinkError.<kind>`
    /// of `expected` (and by no other kind's pattern); returns it.
    @discardableResult
    private func expect(
        _ expected: FailureKind, file: StaticString = #filePath, line: UInt = #line,
        _ work: () async throws -> Void
    ) async -> AgoraLinkError? {
        var caughtKind: FailureKind?
        var error: AgoraLinkError?
        do {
            try await work()
            XCTFail("no error; expected \(expected)", file: file, line: line)
            return nil
        } catch AgoraLinkError.config {
            caughtKind = .config
        } catch AgoraLinkError.invalidArgument {
            caughtKind = .invalidArgument
        } catch AgoraLinkError.network {
            caughtKind = .network
        } catch AgoraLinkError.timeout {
            caughtKind = .timeout
        } catch AgoraLinkError.tls {
            caughtKind = .tls
        } catch AgoraLinkError.auth {
            caughtKind = .auth
        } catch AgoraLinkError.api {
            caughtKind = .api
        } catch AgoraLinkError.decode {
            caughtKind = .decode
        } catch AgoraLinkError.shutdown {
            caughtKind = .shutdown
        } catch AgoraLinkError.wouldDeadlock {
            caughtKind = .wouldDeadlock
        } catch {
            XCTFail("not an AgoraLinkError: \(error)", file: file, line: line)
            return nil
        }
        XCTAssertEqual(caughtKind, expected, file: file, line: line)
        // The same error again, as a value, to look at.
        do {
            try await work()
            XCTFail("the second run did not fail; expected \(expected)", file: file, line: line)
        } catch let thrown as AgoraLinkError {
            error = thrown
            XCTAssertEqual(thrown.kind, expected, file: file, line: line)
            let text = thrown.localizedDescription
            XCTAssertEqual(text, thrown.reason, file: file, line: line)
            XCTAssertFalse(text.isEmpty, file: file, line: line)
            XCTAssertFalse(text.contains("Failure("), "readable, not a reflection: \(text)", file: file, line: line)
            XCTAssertTrue("\(thrown)".hasPrefix("AgoraLinkError.\(expected): "), file: file, line: line)
            for secret in [Sandbox.password, Sandbox.clientSecret, "wrong-password"] {
                XCTAssertFalse(text.contains(secret), file: file, line: line)
                XCTAssertFalse("\(thrown)".contains(secret), file: file, line: line)
                XCTAssertFalse(String(reflecting: thrown).contains(secret), file: file, line: line)
            }
            // The generated case still matches (existing code keeps working).
            if case let .Failure(kind, reason, _, _, _, _, _) = thrown {
                XCTAssertEqual(kind, expected, file: file, line: line)
                XCTAssertEqual(reason, text, file: file, line: line)
            }
        } catch {
            XCTFail("second run: \(error)", file: file, line: line)
        }
        return error
    }

    func testConfig() async throws {
        let config = AgoraLinkConfig(region: .china, clientId: "i", clientSecret: Secret("s"))
        config.setBaseUrl(baseUrl: "http://api.sd-rtn.com")
        let error = await expect(.config) { _ = try AgoraLinkClient(config: config) }
        XCTAssertTrue(error?.reason.contains("loopback") ?? false)
        let bad = AgoraLinkConfig(region: .china, clientId: "i", clientSecret: Secret("s"))
        bad.addRootCertificatesPem(pem: "not a certificate")
        await expect(.config) { _ = try AgoraLinkClient(config: bad) }
    }

    func testInvalidArgument() async throws {
        let client = try sandbox.client()
        await expect(.invalidArgument) { _ = try await client.registerAccount(projectId: "p", account: "") }
        let config = AgoraLinkConfig(region: .china, clientId: "i", clientSecret: Secret("s"))
        await expect(.invalidArgument) { try config.setRequestTimeoutMs(timeoutMs: 0) }
        await expect(.invalidArgument) { try config.addResolve(host: "api.sd-rtn.com", address: "nope") }
        await expect(.invalidArgument) {
            _ = try presignMqttUrl(endpoint: "broker.example.com", region: nil, accessKeyId: "A",
                                   secretAccessKey: Secret("S"), sessionToken: nil, timeMs: nil)
        }
    }

    func testNetwork() async throws {
        let config = try sandbox.config()
        config.setBaseUrl(baseUrl: closedPortUrl())
        let client = try AgoraLinkClient(config: config)
        let error = await expect(.network) { _ = try await client.listPackages() }
        XCTAssertNil(error?.httpStatus)
        XCTAssertNil(error?.serverCode)
        XCTAssertFalse(error?.attempts.isEmpty ?? true)
    }

    func testTimeout() async throws {
        let client = try sandbox.client(requestTimeoutMs: 300)
        _ = try await client.accessToken()
        // Enough for every attempt of both runs (the first attempt and the spec's retry on the
        // same host, each run); the rest are cleared after the test.
        try sandbox.inject("/getAll", ["kind": "delay", "millis": 3000], times: 8)
        await expect(.timeout) { _ = try await client.listPackages() }
    }

    func testTls() async throws {
        // TLS to the sandbox's plain-HTTP port: the handshake fails.
        let config = try sandbox.config()
        config.setBaseUrl(baseUrl: "https://api.sd-rtn.com")
        try config.addResolve(host: "api.sd-rtn.com", address: "127.0.0.1:\(sandbox.port)")
        let client = try AgoraLinkClient(config: config)
        await expect(.tls) { _ = try client.accessTokenBlocking() }
    }

    func testAuth() async throws {
        let config = try sandbox.config()
        config.setPasswordGrant(username: Sandbox.username, password: Secret("wrong-password"))
        let client = try AgoraLinkClient(config: config)
        let error = await expect(.auth) { _ = try await client.listPackages() }
        XCTAssertEqual(error?.serverCode, 400)
        XCTAssertEqual(error?.serverMessage, "invalid_grant")
        XCTAssertEqual(error?.httpStatus, 400)
        XCTAssertEqual(error?.failureReason, "invalid_grant")
    }

    func testApi() async throws {
        let client = try sandbox.client()
        let error = await expect(.api) { _ = try await client.getPackage(packageId: 4242) }
        XCTAssertEqual(error?.serverCode, 999_999)
        XCTAssertEqual(error?.httpStatus, 200)
        XCTAssertTrue(error?.serverMessage?.contains("4242") ?? false)
        XCTAssertEqual(error?.traceId?.count, 36)
    }

    func testDecode() async throws {
        let client = try sandbox.client()
        _ = try await client.accessToken()
        try sandbox.inject("/getAll", ["kind": "respond", "status": 200, "body": "<html>portal</html>"], times: 4)
        let error = await expect(.decode) { _ = try await client.listPackages() }
        XCTAssertEqual(error?.httpStatus, 200)
        XCTAssertTrue(error?.reason.contains("portal") ?? false)
    }

    func testWouldDeadlock() async throws {
        let client = try sandbox.client()
        let caller = BlockingCaller(client: client)
        try setLogListener(listener: caller, minLevel: .debug)
        defer { clearLogListener() }
        _ = try await client.listPackages()
        XCTAssertEqual(caller.result(), "wouldDeadlock")
    }

    /// `shutdownRuntime` is final for the whole process: it runs in a child process (this test
    /// binary again, running only `testShutdownInThisProcess`).
    func testShutdown() throws {
        #if !os(Linux)
        throw XCTSkip("re-runs this test binary, which is the xctest runner's bundle on Apple platforms")
        #endif
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["AgoraLinkTests.ErrorTests/testShutdownInThisProcess"]
        var environment = ProcessInfo.processInfo.environment
        environment["AGORA_LINK_SWIFT_SHUTDOWN_CHILD"] = "1"
        child.environment = environment
        let output = Pipe()
        child.standardOutput = output
        child.standardError = output
        try child.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        XCTAssertEqual(child.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("shutdown reported as AgoraLinkError.shutdown"), text)
    }

    func testShutdownInThisProcess() async throws {
        guard ProcessInfo.processInfo.environment["AGORA_LINK_SWIFT_SHUTDOWN_CHILD"] == "1" else {
            throw XCTSkip("runs in the child process of testShutdown")
        }
        let client = try sandbox.client()
        let packages = try await client.listPackages()
        XCTAssertFalse(packages.isEmpty)
        XCTAssertTrue(try shutdownRuntime(timeoutMs: 2000))
        XCTAssertFalse(try shutdownRuntime(timeoutMs: 2000))
        await expect(.shutdown) { _ = try await client.listPackages() }
        await expect(.shutdown) { _ = try client.listPackagesBlocking() }
        print("shutdown reported as AgoraLinkError.shutdown")
    }
}

final class CancellationTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws {
        sandbox = try Sandbox.fromEnvironment()
    }

    override func tearDownWithError() throws {
        try sandbox?.clearFaults()
    }

    func testCancellingTheTaskCancelsTheCall() async throws {
        let client = try sandbox.client(requestTimeoutMs: 60_000)
        _ = try await client.accessToken()
        // The server would answer after 20 s: only cancellation can end the call sooner.
        try sandbox.inject("/getAll", ["kind": "delay", "millis": 20_000])
        let started = Date()
        let task = Task { try await client.listPackages() }
        try await Task.sleep(nanoseconds: 200_000_000)
        task.cancel()
        do {
            let returned = try await task.value
            XCTFail("the cancelled call returned \(returned.count) packages")
        } catch is CancellationError {
        } catch {
            XCTFail("expected CancellationError, got \(error)")
        }
        let elapsed = Date().timeIntervalSince(started)
        print("cancelled call ended after \(Int(elapsed * 1000)) ms (the server would answer after 20,000 ms)")
        // Not a speed limit: half the server's delay, so the answer cannot have been awaited.
        XCTAssertLessThan(elapsed, 10)
        // The client keeps working.
        try sandbox.clearFaults()
        let packages = try await client.listPackages()
        XCTAssertFalse(packages.isEmpty)
    }

    func testATaskCancelledBeforeTheCallNeverWaits() async throws {
        let client = try sandbox.client()
        let task = Task { () -> [CloudStoragePackage] in
            while !Task.isCancelled { await Task.yield() }
            return try await client.listPackages()
        }
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("a call in a cancelled task returned")
        } catch is CancellationError {
        }
        XCTAssertEqual(client.stats().requests, 0, "nothing was sent")
    }

    func testACancelledPurchaseIsSentOnceAndNeverRepeated() async throws {
        let client = try sandbox.client()
        let name = accountName("swift-buy")
        let account = try await client.registerAccount(projectId: "swift", account: name)
        let before = try sandbox.orderCount()
        try sandbox.inject("/open", ["kind": "delay", "millis": 500])
        let task = Task {
            try await client.openPackage(request: OpenPackageRequest(
                appId: "a", userId: account.userId, deviceId: "d", paymentOrderId: name,
                packageId: 1, orderNumber: 1))
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("the cancelled purchase returned")
        } catch is CancellationError {
        }
        // The request was already sent: it completes on the server, exactly once.
        var orders = try sandbox.orderCount()
        for _ in 0..<50 where orders == before {
            try await Task.sleep(nanoseconds: 100_000_000)
            orders = try sandbox.orderCount()
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        XCTAssertEqual(try sandbox.orderCount(), before + 1)
    }
}
