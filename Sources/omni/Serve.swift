import ArgumentParser
import Foundation
import OmniPipeline

/// Options every command that loads a model shares (DESIGN.md §5). Each also reads
/// `OMNI_<FLAG>` from the environment; a flag on the command line wins.
struct ModelOptions: ParsableArguments {
    @Argument(help: "A local model directory in the Hugging Face layout.")
    var modelDir: String

    @Option(help: "cpu or cuda.")
    var device: String = EnvironmentDefault.string("DEVICE") ?? "cpu"

    @Option(help: "auto, float32, bfloat16 or float16 (weight storage dtype).")
    var dtype: String = EnvironmentDefault.string("DTYPE") ?? "auto"

    @Option(help: "Threads for CPU kernels. Default: physical cores.")
    var threads: Int?

    func validate() throws {
        guard ["cpu", "cuda"].contains(device) else { throw ValidationError("--device must be cpu or cuda, got \(device)") }
        guard ["auto", "float32", "bfloat16", "float16"].contains(dtype) else {
            throw ValidationError("--dtype must be auto, float32, bfloat16 or float16, got \(dtype)")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }
}

enum EnvironmentDefault {
    static func string(_ flag: String) -> String? { ProcessInfo.processInfo.environment["OMNI_" + flag] }
    static func int(_ flag: String) -> Int? { string(flag).flatMap(Int.init) }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve a model behind the OpenAI-compatible HTTP API.")

    @OptionGroup var model: ModelOptions

    @Option(help: "Address to listen on.")
    var host: String = EnvironmentDefault.string("HOST") ?? "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port: Int = EnvironmentDefault.int("PORT") ?? 8000

    @Option(help: "Model id in the API (env OMNI_SERVED_MODEL_NAME). Default: MODEL_DIR as given.")
    var servedModelName: String?

    @Option(help: "Require `Authorization: Bearer KEY` on every route but /health (env OMNI_API_KEY).")
    var apiKey: String?

    var resolvedServedModelName: String { servedModelName ?? EnvironmentDefault.string("SERVED_MODEL_NAME") ?? model.modelDir }
    var resolvedAPIKey: String? { apiKey ?? EnvironmentDefault.string("API_KEY") }

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be in 1...65535, got \(port)") }
    }

    func run() async throws {
        let spec = try ModelRegistry.resolve(directory: model.modelDir)
        throw ValidationError("\(model.modelDir): \(spec.name) resolved, but this build has no server yet")
    }
}

