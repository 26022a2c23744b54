// The sandbox the tests run against (started by scripts/test-swift, which passes its URL in
// AGORA_LINK_SANDBOX_URL), its admin API, and a minimal HTTP/1.1 client over a POSIX socket
// (so that the tests need neither FoundationNetworking nor libcurl).

import AgoraLink
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if os(Linux)
let streamSocket = Int32(SOCK_STREAM.rawValue)
let sendFlags = Int32(MSG_NOSIGNAL)
#else
let streamSocket = SOCK_STREAM
let sendFlags: Int32 = 0
#endif

struct TimedOut: Error {}

/// Runs `work`, throwing `TimedOut` after `seconds` (so that a regression fails, never hangs).
func within<T: Sendable>(
    _ seconds: Double, _ work: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            throw TimedOut()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TimedOut() }
        return first
    }
}

enum SandboxError: Error, CustomStringConvertible {
    case notConfigured
    case io(String)

    var description: String {
        switch self {
        case .notConfigured:
            return "AGORA_LINK_SANDBOX_URL is not set: run scripts/test-swift (it starts the sandbox)"
        case .io(let what): return what
        }
    }
}

/// An HTTP answer: status, lower-cased header names, body.
struct HttpAnswer {
    let status: Int
    let headers: [String: String]
    let body: Data
}

/// One HTTP/1.1 exchange with `Connection: close` to `host:port` (loopback only). With
/// `headOnly`, reads the head only (a WebSocket upgrade answers 101 and keeps the socket open).
func http(
    host: String, port: UInt16, method: String, path: String, body: Data? = nil,
    extraHeaders: [String] = [], connection: String = "close", headOnly: Bool = false
) throws -> HttpAnswer {
    let fd = socket(AF_INET, streamSocket, 0)
    guard fd >= 0 else { throw SandboxError.io("socket() failed") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
        throw SandboxError.io("\(host) is not an IPv4 address")
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { throw SandboxError.io("cannot connect to \(host):\(port)") }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: \(connection)\r\n"
    for header in extraHeaders { head += header + "\r\n" }
    if let body {
        head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
    }
    var request = Data((head + "\r\n").utf8)
    if let body { request.append(body) }
    try request.withUnsafeBytes { raw in
        var sent = 0
        while sent < raw.count {
            let n = send(fd, raw.baseAddress! + sent, raw.count - sent, sendFlags)
            guard n > 0 else { throw SandboxError.io("send failed") }
            sent += n
        }
    }
    var answer = Data()
    var buffer = [UInt8](repeating: 0, count: 4096)
    let separator = Data("\r\n\r\n".utf8)
    while true {
        if headOnly, answer.range(of: separator) != nil { break }
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        answer.append(contentsOf: buffer[0..<n])
    }
    guard let end = answer.range(of: separator) else {
        throw SandboxError.io("no HTTP answer from \(host):\(port)\(path)")
    }
    let lines = String(decoding: answer[..<end.lowerBound], as: UTF8.self)
        .components(separatedBy: "\r\n")
    guard let statusLine = lines.first, statusLine.count >= 12,
          let status = Int(statusLine.dropFirst(9).prefix(3))
    else { throw SandboxError.io("bad status line from \(path)") }
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] =
            line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return HttpAnswer(status: status, headers: headers, body: answer[end.upperBound...])
}

/// The running sandbox and its admin API (`/_sandbox/...`).
struct Sandbox {
    static let clientId = "sandbox-client-id"
    static let clientSecret = "sandbox-client-secret"
    static let username = "sandbox-user"
    static let password = "sandbox-password"

    let url: String
    let host: String
    let port: UInt16

    static func fromEnvironment() throws -> Sandbox {
        guard let url = ProcessInfo.processInfo.environment["AGORA_LINK_SANDBOX_URL"],
              let authority = url.split(separator: "/").last,
              let colon = authority.lastIndex(of: ":"),
              let port = UInt16(authority[authority.index(after: colon)...])
        else { throw SandboxError.notConfigured }
        return Sandbox(url: url, host: String(authority[..<colon]), port: port)
    }

    @discardableResult
    func admin(_ method: String, _ path: String, _ json: Any? = nil) throws -> Any? {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) }
        let answer = try http(host: host, port: port, method: method, path: path, body: body)
        guard (200..<300).contains(answer.status) else {
            throw SandboxError.io("\(method) \(path): HTTP \(answer.status)")
        }
        return answer.body.isEmpty ? nil : try JSONSerialization.jsonObject(with: answer.body)
    }

    /// Token requests the sandbox has answered, all grants together.
    func tokenRequests() throws -> Int {
        let stats = try admin("GET", "/_sandbox/stats") as? [String: Any]
        let byGrant = stats?["token_requests_by_grant"] as? [String: Any] ?? [:]
        return byGrant.values.compactMap { ($0 as? NSNumber)?.intValue }.reduce(0, +)
    }

    func orderCount() throws -> Int {
        (try admin("GET", "/_sandbox/orders") as? [Any])?.count ?? -1
    }

    /// Makes the next `times` requests whose path ends with `pathSuffix` do `action`.
    func inject(_ pathSuffix: String, _ action: [String: Any], times: Int = 1) throws {
        try admin("POST", "/_sandbox/faults",
                  ["path_suffix": pathSuffix, "action": action, "times": times])
    }

    func clearFaults() throws {
        try admin("DELETE", "/_sandbox/faults")
    }

    /// A configuration for the sandbox: password grant, a 20 ms back-off between attempts.
    func config(requestTimeoutMs: Int64 = 10_000) throws -> AgoraLinkConfig {
        let config = AgoraLinkConfig(
            region: .china, clientId: Sandbox.clientId, clientSecret: Secret(Sandbox.clientSecret))
        config.setPasswordGrant(username: Sandbox.username, password: Secret(Sandbox.password))
        config.setBaseUrl(baseUrl: url)
        try config.setRequestTimeoutMs(timeoutMs: requestTimeoutMs)
        var settings = defaultFailoverSettings()
        settings.backoffMs = [20]
        try config.setFailover(settings: settings)
        return config
    }

    func client(requestTimeoutMs: Int64 = 10_000) throws -> AgoraLinkClient {
        try AgoraLinkClient(config: config(requestTimeoutMs: requestTimeoutMs))
    }
}

/// The status and headers of a WebSocket upgrade to a presigned `ws://` URL.
func webSocketUpgrade(_ url: String) throws -> HttpAnswer {
    guard url.hasPrefix("ws://") else { throw SandboxError.io("not a ws:// URL") }
    let rest = url.dropFirst(5)
    guard let slash = rest.firstIndex(of: "/") else { throw SandboxError.io("no path in the URL") }
    let authority = rest[..<slash]
    guard let colon = authority.lastIndex(of: ":"),
          let port = UInt16(authority[authority.index(after: colon)...])
    else { throw SandboxError.io("no port in the URL") }
    return try http(
        host: String(authority[..<colon]), port: port, method: "GET", path: String(rest[slash...]),
        extraHeaders: [
            "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: mqtt",
        ],
        connection: "Upgrade", headOnly: true)
}

/// A fresh account name.
func accountName(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(12).lowercased())"
}
