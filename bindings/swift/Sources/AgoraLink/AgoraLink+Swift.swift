// AgoraLink+Swift.swift: hand-written Swift conveniences over the generated bindings
// (AgoraLink.swift, made by scripts/gen-swift; do not edit that one). Nothing here holds state
// of its own beyond the streams' bookkeeping, and nothing here reaches Rust except through the
// generated API.

import Foundation

// MARK: - Errors

extension AgoraLinkError {
    /// What kind of failure this is. Branch on it with `switch error.kind`, or catch one kind:
    ///
    /// ```swift
    /// do { try await client.loginAccount(projectId: p, account: a, accountToken: t) }
    /// catch AgoraLinkError.auth { /* client credentials refused (a REST-token grant or a 401) */ }
    /// catch AgoraLinkError.network, AgoraLinkError.timeout { /* try again later */ }
    /// catch let error as AgoraLinkError { print(error.localizedDescription, error.serverCode ?? 0) }
    /// ```
    public var kind: FailureKind {
        fields.kind
    }

    /// A description of the failure, free of secrets (the same text as `localizedDescription`).
    public var reason: String {
        fields.reason
    }

    /// The server's `code` when the server answered with one (`AUTH` and `API` failures).
    public var serverCode: Int64? {
        fields.serverCode
    }

    /// The server's `msg` when the server answered with one.
    public var serverMessage: String? {
        fields.serverMessage
    }

    /// The HTTP status code when there was a response (Agora answers some failures with 200 or
    /// 201 and a non-zero `code`).
    public var httpStatus: Int32? {
        fields.httpStatus
    }

    /// The `traceId` of a cloud-storage request, when the server gave one.
    public var traceId: String? {
        fields.traceId
    }

    /// The failed attempts in order (hosts the call moved away from under domain switching, and
    /// the host whose failure ended it); empty when the first answer was final.
    public var attempts: [FailedAttempt] {
        fields.attempts
    }

    /// The fields of the (only) generated case, by name.
    private var fields: (
        kind: FailureKind, reason: String, serverCode: Int64?, serverMessage: String?,
        httpStatus: Int32?, traceId: String?, attempts: [FailedAttempt]
    ) {
        switch self {
        case let .Failure(kind, reason, serverCode, serverMessage, httpStatus, traceId, attempts):
            return (kind, reason, serverCode, serverMessage, httpStatus, traceId, attempts)
        }
    }

    /// Catches configuration errors: `catch AgoraLinkError.config`.
    public static let config = FailureKind.config
    /// Catches invalid arguments (nothing was sent): `catch AgoraLinkError.invalidArgument`.
    public static let invalidArgument = FailureKind.invalidArgument
    /// Catches unreachable servers and failed connections: `catch AgoraLinkError.network`.
    public static let network = FailureKind.network
    /// Catches expired connect or request timeouts: `catch AgoraLinkError.timeout`.
    public static let timeout = FailureKind.timeout
    /// Catches failed TLS handshakes: `catch AgoraLinkError.tls`.
    public static let tls = FailureKind.tls
    /// Catches refused credentials or tokens: `catch AgoraLinkError.auth`.
    public static let auth = FailureKind.auth
    /// Catches a server answer with a non-zero code: `catch AgoraLinkError.api`.
    public static let api = FailureKind.api
    /// Catches responses that could not be decoded: `catch AgoraLinkError.decode`.
    public static let decode = FailureKind.decode
    /// Catches calls after `shutdownRuntime`: `catch AgoraLinkError.shutdown`.
    public static let shutdown = FailureKind.shutdown
    /// Catches blocking calls made on a library thread (inside a listener):
    /// `catch AgoraLinkError.wouldDeadlock`.
    public static let wouldDeadlock = FailureKind.wouldDeadlock
}

/// Matches an error against a failure kind, so that `catch AgoraLinkError.auth` catches exactly
/// the `AgoraLinkError`s of that kind, as `catch URLError.timedOut` does for `URLError`.
public func ~= (pattern: FailureKind, value: any Error) -> Bool {
    (value as? AgoraLinkError)?.kind == pattern
}

extension AgoraLinkError: LocalizedError {
    /// The reason (`localizedDescription`), e.g. `authentication failed: invalid_grant`. Never
    /// holds a secret: the SDK leaves tokens, keys and passwords out of every message.
    public var errorDescription: String? { reason }

    /// The server's message, when it answered with one.
    public var failureReason: String? { serverMessage }
}

extension AgoraLinkError: CustomStringConvertible {
    /// `AgoraLinkError.<kind>: <reason>` plus the server code, HTTP status and trace id when
    /// present; never a secret.
    public var description: String {
        var text = "AgoraLinkError.\(kind): \(reason)"
        if let serverCode { text += " (server code \(serverCode))" }
        if let httpStatus { text += " (HTTP \(httpStatus))" }
        if let traceId { text += " (trace \(traceId))" }
        return text
    }
}

// MARK: - Secrets

extension Secret {
    /// Wraps a secret value (token, key, password): `Secret("s3cr3t")`, the same as
    /// `Secret(value:)`. Its string forms are `***`; `reveal()` gives the value back.
    public convenience init(_ value: String) {
        self.init(value: value)
    }
}

// MARK: - IoT events as an AsyncStream

/// An `AsyncStream` and its continuation: what `AsyncStream.makeStream` (Swift 5.9) gives, for
/// compilers before it.
private func makeStream<Element>(
    of _: Element.Type, _ bufferingPolicy: AsyncStream<Element>.Continuation.BufferingPolicy
) -> (AsyncStream<Element>, AsyncStream<Element>.Continuation) {
    var continuation: AsyncStream<Element>.Continuation?
    let stream = AsyncStream(Element.self, bufferingPolicy: bufferingPolicy) { continuation = $0 }
    // The build closure runs before AsyncStream.init returns.
    return (stream, continuation!)
}

/// Feeds an `AsyncStream` from the provider's listener; finishes the stream when the provider
/// (the only holder of this listener) goes away.
private final class IotEventContinuation: IotEventListener {
    let continuation: AsyncStream<IotEvent>.Continuation

    init(_ continuation: AsyncStream<IotEvent>.Continuation) {
        self.continuation = continuation
    }

    func onEvent(event: IotEvent) {
        continuation.yield(event)
    }

    deinit {
        continuation.finish()
    }
}

extension IotProvider {
    /// A provider for `credentials` (a login's `gyToken`) whose events arrive as an
    /// `AsyncStream`, beside the `IotEventListener` protocol of
    /// `init(client:credentials:cognitoEndpoint:listener:)`:
    ///
    /// ```swift
    /// let (provider, events) = try IotProvider.makeWithEvents(client: client, credentials: login.gyToken)
    /// Task { for await event in events { if case .loginRequired = event { /* log in again */ } } }
    /// let url = try await provider.mqttUrl()   // a Secret: connect with url.reveal()
    /// ```
    ///
    /// Events are produced when the provider renews credentials (on `mqttUrl()` after
    /// expiry or `refused(dateHeader:)`). The stream finishes when the provider is released
    /// (and its calls in flight have ended). A task iterating the stream must not hold the
    /// provider strongly (capture it `weak`), or the two keep each other alive: cancel that
    /// task to stop iterating.
    /// `bufferingPolicy`: what to keep while nobody iterates (default: the newest 64).
    /// `cognitoEndpoint`: `nil` for the region's Cognito; plain `http` only to loopback.
    /// Throws `AgoraLinkError` (`invalidArgument`, `config`) for unusable credentials.
    public static func makeWithEvents(
        client: AgoraLinkClient,
        credentials: IotCredentials,
        cognitoEndpoint: String? = nil,
        bufferingPolicy: AsyncStream<IotEvent>.Continuation.BufferingPolicy = .bufferingNewest(64)
    ) throws -> (provider: IotProvider, events: AsyncStream<IotEvent>) {
        let (events, continuation) = makeStream(of: IotEvent.self, bufferingPolicy)
        do {
            let provider = try IotProvider(
                client: client, credentials: credentials, cognitoEndpoint: cognitoEndpoint,
                listener: IotEventContinuation(continuation))
            return (provider, events)
        } catch {
            continuation.finish()
            throw error
        }
    }
}

// MARK: - Log records as an AsyncStream

/// Which stream of `logRecords(minLevel:)` holds the SDK's (single, process-wide) listener.
final class LogStreams: @unchecked Sendable {
    static let shared = LogStreams()
    /// Orders installing and removing listeners (held across the calls into the SDK).
    private let order = NSLock()
    /// Guards `current` and `next`; never held across a call into the SDK.
    private let state = NSLock()
    private var current: UInt64 = 0
    private var next: UInt64 = 0

    func install(_ listener: LogListener, minLevel: LogLevel) throws -> UInt64 {
        order.lock()
        defer { order.unlock() }
        // Replacing a previous stream's listener releases it, which finishes that stream.
        try setLogListener(listener: listener, minLevel: minLevel)
        state.lock()
        defer { state.unlock() }
        next &+= 1
        current = next
        return next
    }

    /// The id of the stream whose listener is installed; 0 when none is (for tests).
    var installed: UInt64 {
        state.lock()
        defer { state.unlock() }
        return current
    }

    /// The SDK released stream `id`'s listener (replaced or cleared): it is no longer installed.
    func released(_ id: UInt64) {
        state.lock()
        defer { state.unlock() }
        if current == id { current = 0 }
    }

    /// The consumer of stream `id` stopped: remove its listener if it is still the SDK's.
    func cancelled(_ id: UInt64) {
        order.lock()
        defer { order.unlock() }
        state.lock()
        let installed = current == id
        if installed { current = 0 }
        state.unlock()
        if installed { clearLogListener() }
    }
}

private final class LogRecordContinuation: LogListener {
    let continuation: AsyncStream<LogRecord>.Continuation

    init(_ continuation: AsyncStream<LogRecord>.Continuation) {
        self.continuation = continuation
    }

    func log(record: LogRecord) {
        continuation.yield(record)
    }

    deinit {
        continuation.finish()
    }
}

/// The SDK's log records (targets `agora_link::*`, at `minLevel` and above) as an
/// `AsyncStream`, beside the `LogListener` protocol of `setLogListener(listener:minLevel:)`:
///
/// ```swift
/// let records = try logRecords(minLevel: .info)
/// Task { for await record in records { logger.log("\(record.target): \(record.message)") } }
/// ```
///
/// The SDK has one listener per process: this replaces any listener set before, and a later
/// `setLogListener` or `logRecords` replaces this one, and `clearLogListener()` removes it
/// (the stream then finishes). Cancelling the iterating task also removes the stream's
/// listener. Records arrive on library threads and never contain a
/// secret. `bufferingPolicy`: what to keep while the consumer is behind (default: the newest
/// 1,000; older ones are dropped, so a slow consumer never holds the SDK up).
/// Throws `AgoraLinkError.config` when the process already has its own `tracing` subscriber.
public func logRecords(
    minLevel: LogLevel = .info,
    bufferingPolicy: AsyncStream<LogRecord>.Continuation.BufferingPolicy = .bufferingNewest(1000)
) throws -> AsyncStream<LogRecord> {
    let (records, continuation) = makeStream(of: LogRecord.self, bufferingPolicy)
    do {
        let id = try LogStreams.shared.install(
            LogRecordContinuation(continuation), minLevel: minLevel)
        continuation.onTermination = { termination in
            switch termination {
            // The consumer stopped: remove the listener if it is still installed.
            case .cancelled: LogStreams.shared.cancelled(id)
            // The SDK released the listener (replaced or cleared): nothing to remove.
            case .finished: LogStreams.shared.released(id)
            @unknown default: LogStreams.shared.released(id)
            }
        }
        return records
    } catch {
        continuation.finish()
        throw error
    }
}
