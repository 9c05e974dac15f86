import Testing
@testable import OmniEngine

@Suite struct StopCheckerTests {
    /// Feeds deltas, returning what was emitted at each and the stop string found.
    private func feed(_ checker: inout StopChecker, _ deltas: [String]) -> ([String], String?) {
        var emitted: [String] = []
        for delta in deltas {
            let (text, stop) = checker.append(delta)
            emitted.append(text)
            if let stop { return (emitted, stop) }
        }
        return (emitted, nil)
    }

    @Test func stopStringSplitAcrossDeltasIsNeverEmitted() {
        var checker = StopChecker(stopStrings: ["END"], includeStopString: false)
        let (emitted, stop) = feed(&checker, ["foo E", "N", "Dbar"])
        #expect(stop == "END")
        #expect(emitted == ["foo", " ", ""])
        #expect(emitted.joined() == "foo ")
        #expect(checker.outputText == "foo ")
    }

    @Test func heldBackTextIsReleasedOnceItCannotStartTheStopString() {
        var checker = StopChecker(stopStrings: ["END"], includeStopString: false)
        let (emitted, stop) = feed(&checker, ["abcE", "N", "x", "yz"])
        #expect(stop == nil)
        #expect(emitted == ["ab", "c", "E", "Nx"])
        #expect(checker.flush() == "yz")
        #expect(checker.flush() == "")
    }

    @Test func includeStopStringKeepsItAndHoldsNothingBack() {
        var checker = StopChecker(stopStrings: ["END"], includeStopString: true)
        let (emitted, stop) = feed(&checker, ["ab", "EN", "D tail"])
        #expect(stop == "END")
        #expect(emitted == ["ab", "EN", "D"])
    }

    @Test func theEarliestStopStringWins() {
        var checker = StopChecker(stopStrings: ["b", "a"], includeStopString: false)
        let (emitted, stop) = feed(&checker, ["xab"])
        #expect(stop == "a")
        #expect(emitted == ["x"])
    }

    @Test func unsearchableTextIsNotMatchedButMayStartAMatch() {
        var checker = StopChecker(stopStrings: ["ab"], includeStopString: false)
        #expect(checker.append("xab", searchable: false).stopString == nil)
        #expect(checker.append("a", searchable: false).stopString == nil)
        let (text, stop) = checker.append("b")
        #expect(stop == "ab")
        #expect(checker.outputText == "xab")
        #expect(text == "")
    }

    @Test func stopStringsMatchUnicodeScalarsLikePython() {
        // "e" + combining acute is one Character in Swift but two code points, as in Python.
        var checker = StopChecker(stopStrings: ["\u{301}"], includeStopString: false)
        let (emitted, stop) = feed(&checker, ["cafe", "\u{301} au lait"])
        #expect(stop == "\u{301}")
        #expect(emitted.joined() == "cafe")
    }

    @Test func tokenStopsFollowVLLMsOrder() {
        func finish(_ token: Int, output: Int, total: Int = 10, minTokens: Int = 0, maxTokens: Int = 5, eos: Int? = 2, stops: Set<Int> = [7])
            -> (FinishReason, StopReason?)? {
            StopChecker.finish(
                lastToken: token, numOutputTokens: output, numTokens: total, minTokens: minTokens,
                maxTokens: maxTokens, maxModelLen: 32, eosTokenId: eos, stopTokenIds: stops
            ).map { ($0.reason, $0.stopReason) }
        }
        #expect(finish(9, output: 1) == nil)
        #expect(finish(2, output: 1)! == (.stop, .eos))
        #expect(finish(2, output: 5)! == (.stop, .eos), "EOS on the last allowed token is a stop")
        #expect(finish(7, output: 1)! == (.stop, .tokenId(7)))
        #expect(finish(9, output: 5)! == (.length, nil))
        #expect(finish(9, output: 1, total: 32)! == (.length, nil), "a full context ends it")
        #expect(finish(2, output: 1, eos: nil) == nil, "ignore_eos")
        #expect(finish(2, output: 1, minTokens: 3) == nil, "min_tokens holds back EOS")
        #expect(finish(9, output: 1, total: 32, minTokens: 3)! == (.length, nil), "but never past the context")
    }
}
