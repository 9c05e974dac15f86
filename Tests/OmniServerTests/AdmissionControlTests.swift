import Testing
@testable import OmniServer

@Suite struct AdmissionControlTests {
    @Test func refusesWhatWouldPassTheLimitAndFreesOnRelease() {
        let control = AdmissionControl(limit: 4)
        let a = control.reserve(3)
        #expect(a != nil)
        #expect(control.reserve(2) == nil)
        let b = control.reserve(1)
        #expect(b != nil && control.count == 4)
        a?.release()
        a?.release()
        #expect(control.count == 1)
        _ = b
    }

    @Test func droppingAReservationGivesItsPlacesBack() {
        let control = AdmissionControl(limit: 2)
        do { _ = control.reserve(2) }
        #expect(control.count == 0)
    }

    @Test func aRequestLargerThanTheLimitRunsAlone() {
        let control = AdmissionControl(limit: 2)
        let big = control.reserve(5)
        #expect(big != nil)
        #expect(control.reserve(1) == nil)
        big?.release()
        #expect(control.reserve(1) != nil)
    }
}
