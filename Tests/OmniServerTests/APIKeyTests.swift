import Testing
@testable import OmniServer

@Suite struct APIKeyTests {
    typealias Middleware = APIKeyMiddleware<OmniRequestContext>
    let key = Array("sk-secret".utf8)

    @Test func bearerWithTheKeyIsAuthorized() {
        #expect(Middleware.isAuthorized(header: "Bearer sk-secret", key: key))
        #expect(Middleware.isAuthorized(header: "bearer sk-secret", key: key))
    }

    @Test func wrongMissingOrPrefixedKeysAreRefused() {
        for header in ["Bearer sk-secreT", "Bearer sk-secret ", "Bearer sk-secre", "Bearer ", "sk-secret", "Basic sk-secret",
                       "Bearersk-secret", "Bearer  sk-secret", ""] {
            #expect(!Middleware.isAuthorized(header: header, key: key), "\(header) should be refused")
        }
    }

    @Test func constantTimeEqualsComparesWholeArrays() {
        #expect(Middleware.constantTimeEquals([], []))
        #expect(Middleware.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!Middleware.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!Middleware.constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(!Middleware.constantTimeEquals([0], []))
    }
}
