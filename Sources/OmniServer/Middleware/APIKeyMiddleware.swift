import Hummingbird

/// `--api-key`: every route but /health needs `Authorization: Bearer <key>`, else 401. The key is
/// compared in constant time, so response timing does not reveal how much of a guess was right.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: [UInt8]
    /// Paths open without a key.
    let openPaths: Set<String> = ["/health"]

    init(key: String) {
        self.key = Array(key.utf8)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !openPaths.contains(request.uri.path) else { return try await next(request, context) }
        guard let header = request.headers[.authorization], Self.isAuthorized(header: header, key: key) else {
            throw APIError.invalidAPIKey
        }
        return try await next(request, context)
    }

    /// Whether `header` is `Bearer <key>` (scheme case-insensitive, as RFC 7235 has it).
    static func isAuthorized(header: String, key: [UInt8]) -> Bool {
        let bytes = Array(header.utf8)
        let scheme = Array("bearer ".utf8)
        guard bytes.count >= scheme.count,
              bytes[..<scheme.count].map({ $0 | 0x20 }) == scheme.map({ $0 | 0x20 }) else { return false }
        return constantTimeEquals(Array(bytes[scheme.count...]), key)
    }

    /// Equality whose time depends only on the lengths, never on where the bytes differ.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        let length = max(a.count, b.count)
        for i in 0..<length {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}
