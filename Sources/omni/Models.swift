import ArgumentParser
import OmniPipeline

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the supported architectures and their stage graphs.")

    func run() throws {
        if ModelRegistry.architectures.isEmpty {
            print("No architectures are registered in this build yet.")
            return
        }
        for spec in ModelRegistry.architectures {
            print("\(spec.name): \(spec.stages.map(\.rawValue).joined(separator: " -> "))  \(spec.summary)")
        }
    }
}
