import Foundation
import Testing
@testable import OmniBench

@Suite struct BenchmarkRecordTests {
    @Test func jsonHasThePeerSchemaFieldNames() throws {
        let record = BenchmarkRecord(benchmark: "decode", model: "m", dtype: "bfloat16", threads: 2, value: 31.5, unit: "tok/s",
                                     roofFraction: 0.5, details: ["prompt_tokens": 16, "bytes_per_token": 987_654_321.5, "note": "x",
                                                                  "steps": .numbers([1, 2])])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(record.jsonLine().utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["system", "benchmark", "model", "dtype", "threads", "value", "unit", "roof_fraction", "details"])
        #expect(object["system"] as? String == "swift-omni")
        #expect(object["roof_fraction"] as? Double == 0.5)
        let details = try #require(object["details"] as? [String: Any])
        #expect(details["prompt_tokens"] as? Int == 16)
        #expect(details["note"] as? String == "x")
        // (A whole-valued double would come back as an integer: JSON does not tell them apart.)
        #expect(try JSONDecoder().decode(BenchmarkRecord.self, from: Data(record.jsonLine().utf8)) == record)
        #expect(!record.jsonLine().contains("\n"))
    }

    @Test func recordsSayHowBusyTheHostWasAndNameModelsByAbsolutePath() {
        let record = BenchmarkRecord(benchmark: "decode", model: "m", dtype: "bfloat16", threads: 1, value: 1, unit: "tok/s")
        if case .numbers(let load)? = record.details["load_average"] {
            #expect(load.count == 3 && load.allSatisfy { $0 >= 0 })
        } else {
            Issue.record("no load_average in \(record.details)")
        }
        // As Python's os.path.abspath: against the working directory, "." and ".." resolved, no trailing slash.
        let cwd = FileManager.default.currentDirectoryPath
        #expect(BenchmarkRecord.absolutePath("models/../models/./demo-qwen3/") == cwd + "/models/demo-qwen3")
        #expect(BenchmarkRecord.absolutePath("/a/b/../c") == "/a/c")
    }

    @Test func aRecordWithoutRoofLeavesTheFieldOut() throws {
        let record = BenchmarkRecord(benchmark: "dit_step", model: "m", dtype: "bfloat16", threads: 2, value: 1, unit: "s/step")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(record.jsonLine().utf8)) as? [String: Any])
        #expect(object["roof_fraction"] == nil)
    }

    @Test func throughputWorkloadIsTheSameForASeedAndInRange() {
        let a = ThroughputBenchmark.workload(requests: 32, inputRange: 100...1024, outputRange: 5...9, seed: 3)
        let b = ThroughputBenchmark.workload(requests: 32, inputRange: 100...1024, outputRange: 5...9, seed: 3)
        let c = ThroughputBenchmark.workload(requests: 32, inputRange: 100...1024, outputRange: 5...9, seed: 4)
        #expect(a == b)
        #expect(a != c)
        #expect(a.allSatisfy { (100...1024).contains($0.promptTokenIds.count) && (5...9).contains($0.maxTokens) })
        #expect(a.allSatisfy { $0.promptTokenIds.allSatisfy { (0..<10_000).contains($0) } })
        #expect(Set(a.map(\.maxTokens)).count > 1)
    }
}
