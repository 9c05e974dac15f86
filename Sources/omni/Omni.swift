import ArgumentParser
import OmniServer

@main
struct Omni: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "omni",
        abstract: "Inference and serving engine for text, image, audio and any-to-any models.",
        version: OmniServerInfo.version,
        subcommands: [Serve.self, Generate.self, Bench.self, Models.self]
    )
}
