import Foundation
import OmniPipeline
@testable import OmniServer

/// The bundled demo model (tiny Qwen3, random weights, real tokenizer and chat template), loaded
/// once for every test of this target.
enum DemoModel {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../models/demo-qwen3").standardized.path

    static let served: ServedModel = {
        var options = EngineOptions()
        options.threads = 1
        options.kvCacheMemory = 1 << 20
        let omni = try! AsyncOmni(directory: directory, options: options)
        return ServedModel(name: "demo", omni: omni)
    }()
}
