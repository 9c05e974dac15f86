import Foundation
import OmniEngine
import OmniTensor
import OmniWeights
import Testing

/// `FlowMatchEulerDiscreteScheduler` against diffusers 0.42.1 (Tests/Fixtures/scheduler/, written by
/// tools/reference/make_scheduler_fixtures.py). Timesteps, sigmas and every Euler step's sample
/// must equal diffusers' float32 values bit for bit; `calculateShift` must equal Python's float.
@Suite("FlowMatchEulerDiscreteScheduler")
struct FlowMatchEulerDiscreteSchedulerTests {
    struct Run: Decodable {
        let shape: [Int]
        let seed: UInt64
        let noise_seed: UInt64?
        let model_dtype: String?
        let steps: [[String]]
    }

    struct Given: Decodable {
        let num_inference_steps: Int?
        let mu: Double?
        let sigmas: [Double]?
        let timesteps: [Double]?
    }

    struct Case: Decodable {
        let name: String
        let config: JSONValue
        let given: Given
        let timesteps: [String]
        let sigmas: [String]
        let run: Run?
    }

    struct Fixture: Decodable {
        struct Shift: Decodable {
            let image_seq_len, base_seq_len, max_seq_len: Int
            let base_shift, max_shift, mu: Double
        }
        struct Linspace: Decodable {
            let n: Int
            let values: [String]
        }
        let shifts: [Shift]
        let linspace: [Linspace]
        let cases: [Case]
    }

    static let fixture: Fixture? = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/scheduler/flow_match_euler.json")
        return (try? Data(contentsOf: url)).flatMap { try? JSONDecoder().decode(Fixture.self, from: $0) }
    }()

    static var caseNames: [String] { fixture?.cases.map(\.name) ?? ["<fixture missing or unreadable>"] }

    static let backend = CPUBackend(threads: 1)

    @Test("schedule and steps equal diffusers", arguments: caseNames)
    func matchesDiffusers(_ name: String) throws {
        let c = try #require(Self.fixture?.cases.first { $0.name == name })
        let config = try FlowMatchEulerDiscreteSchedulerConfig(ConfigObject(json: c.config, path: "\(name).config"))
        var scheduler = FlowMatchEulerDiscreteScheduler(config: config)
        let given = c.given
        try scheduler.setTimesteps(given.num_inference_steps, sigmas: given.sigmas, mu: given.mu, timesteps: given.timesteps)
        expectBits(scheduler.timesteps, c.timesteps, "\(name) timesteps")
        expectBits(scheduler.sigmas, c.sigmas, "\(name) sigmas")

        guard let run = c.run else { return }
        let modelDType: DType = run.model_dtype == "bf16" ? .bf16 : .f32
        var sampleGenerator = TorchGenerator(seed: run.seed)
        var sample = sampleGenerator.randn(run.shape)
        var noiseGenerator = TorchGenerator(seed: run.noise_seed ?? 0)
        scheduler.setBeginIndex(0)
        #expect(run.steps.count == scheduler.timesteps.count)
        for (i, t) in scheduler.timesteps.enumerated() {
            var outputs = TorchGenerator(seed: run.seed + 1 + UInt64(i))
            let modelOutput = outputs.randn(run.shape, dtype: modelDType)
            let noise = config.stochasticSampling ? noiseGenerator.randn(run.shape) : nil
            sample = try scheduler.step(modelOutput, timestep: t, sample: sample, noise: noise, backend: Self.backend)
            #expect(sample.dtype == modelDType)
            expectBits(sample, run.steps[i], "\(name) step \(i)")
        }
    }

    @Test func calculateShiftEqualsPython() throws {
        let shifts = try #require(Self.fixture?.shifts)
        for s in shifts {
            let mu = FlowMatchEulerDiscreteScheduler.calculateShift(
                imageSeqLen: s.image_seq_len, baseSeqLen: s.base_seq_len, maxSeqLen: s.max_seq_len,
                baseShift: s.base_shift, maxShift: s.max_shift)
            #expect(mu.bitPattern == s.mu.bitPattern, "calculate_shift(\(s.image_seq_len)): \(mu) vs \(s.mu)")
        }
    }

    @Test func zImageDefaultSigmasEqualTorchLinspace() throws {
        let cases = try #require(Self.fixture?.linspace)
        for c in cases {
            let got = SigmaSchedules.zImageDefault(steps: c.n).map(Float.init)
            expectBits(got, c.values, "torch.linspace(1, 1/\(c.n), \(c.n))")
        }
    }

    @Test func dynamicShiftingWithoutMuIsAnError() throws {
        var scheduler = FlowMatchEulerDiscreteScheduler(config: .init(useDynamicShifting: true))
        #expect(throws: SchedulerError.missingMu) { try scheduler.setTimesteps(4) }
    }

    @Test func stepBeyondTheScheduleIsAnError() throws {
        var scheduler = FlowMatchEulerDiscreteScheduler()
        try scheduler.setTimesteps(2)
        let x = Tensor(zeros: [1, 2])
        #expect(throws: SchedulerError.indexOutOfRange(2, steps: 2)) {
            try scheduler.step(x, sample: x, at: 2, backend: Self.backend)
        }
    }

    @Test func configRejectsBetaSigmasAndUnknownShiftTypes() throws {
        for json in [#"{"use_beta_sigmas": true}"#, #"{"time_shift_type": "cubic"}"#,
                     #"{"use_karras_sigmas": true, "use_exponential_sigmas": true}"#] {
            let object = try ConfigObject(json: JSONValue(parsing: Data(json.utf8)), path: "scheduler_config.json")
            #expect(throws: WeightsError.self) { try FlowMatchEulerDiscreteSchedulerConfig(object) }
        }
    }

    func expectBits(_ got: [Float], _ want: [String], _ label: String) {
        #expect(got.count == want.count, "\(label): \(got.count) values, diffusers \(want.count)")
        for (i, (g, w)) in zip(got, want).enumerated() where UInt32(w, radix: 16) != g.bitPattern {
            let diffusers = Float(bitPattern: UInt32(w, radix: 16) ?? 0)
            Issue.record("\(label)[\(i)]: \(g) (bits \(String(g.bitPattern, radix: 16))), diffusers \(diffusers) (bits \(w))")
            return
        }
    }

    func expectBits(_ got: Tensor, _ want: [String], _ label: String) {
        if got.dtype == .f32 { return expectBits(got.toFloats(), want, label) }
        let p = got.rawPointer.assumingMemoryBound(to: UInt16.self)
        let bits = (0..<got.count).map { p[$0] }
        let mismatches = zip(bits, want).filter { UInt16($1, radix: 16) != $0 }.count
        #expect(bits.count == want.count && mismatches == 0, "\(label): \(mismatches) of \(want.count) bf16 values differ")
    }
}
