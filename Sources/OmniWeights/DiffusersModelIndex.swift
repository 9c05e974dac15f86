import Foundation

/// A diffusers pipeline directory's `model_index.json`: the pipeline class and its components,
/// each `"name": [library, className]` and stored in the folder `name/`. A component written as
/// `[null, null]` is part of the pipeline's signature but absent from this checkpoint.
public struct DiffusersModelIndex: Sendable {
    public struct Component: Sendable, Equatable {
        public let name: String
        /// `diffusers`, `transformers`, ...; nil for an absent component.
        public let library: String?
        /// `AutoencoderKL`, `Qwen3Model`, `FlowMatchEulerDiscreteScheduler`, ...; nil for an absent component.
        public let className: String?

        public init(name: String, library: String?, className: String?) {
            self.name = name
            self.library = library
            self.className = className
        }

        public var isPresent: Bool { library != nil && className != nil }
    }

    public let directory: URL
    /// `_class_name`: the pipeline class (`ZImagePipeline`, `StableDiffusionPipeline`, ...).
    public let className: String
    public let diffusersVersion: String?
    /// Every component by name, absent ones included.
    public let components: [String: Component]
    /// The whole file, for pipeline options (`force_zeros_for_empty_prompt`, ...).
    public let raw: ConfigObject

    /// Reads `model_index.json` in `directory`.
    public init(directory: URL) throws(WeightsError) {
        self.directory = directory
        let config = try ConfigObject(contentsOf: directory.appendingPathComponent("model_index.json"))
        raw = config
        className = try config.requiredString("_class_name")
        diffusersVersion = try config.string("_diffusers_version")
        var components = [String: Component]()
        for (name, value) in config.members where !name.hasPrefix("_") {
            // Pipeline options are plain values; components are [library, class] pairs.
            guard let pair = value.array else { continue }
            guard pair.count == 2, pair.allSatisfy({ $0.string != nil || $0.isNull }), (pair[0].isNull == pair[1].isNull) else {
                throw config.invalid(name, "must be a component [library, class name] (or [null, null])", value)
            }
            components[name] = Component(name: name, library: pair[0].string, className: pair[1].string)
        }
        self.components = components
    }

    /// Names of the components this checkpoint holds, sorted.
    public var presentComponents: [String] { components.values.filter(\.isPresent).map(\.name).sorted() }

    /// The folder of a component.
    public func directory(of component: String) -> URL {
        directory.appendingPathComponent(component, isDirectory: true)
    }

    /// A component's `config.json` (models) or `scheduler_config.json` (schedulers).
    public func config(of component: String) throws(WeightsError) -> ConfigObject {
        try requirePresent(component)
        let folder = directory(of: component)
        for file in ["config.json", "scheduler_config.json"] {
            let url = folder.appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: url.path) { return try ConfigObject(contentsOf: url) }
        }
        throw .fileNotFound(path: folder.appendingPathComponent("config.json").path)
    }

    /// A component's weights.
    public func checkpoint(of component: String) throws(WeightsError) -> Checkpoint {
        try requirePresent(component)
        return try Checkpoint(directory: directory(of: component))
    }

    private func requirePresent(_ component: String) throws(WeightsError) {
        guard let entry = components[component] else {
            throw .missingField(path: raw.path, field: component)
        }
        guard entry.isPresent else {
            throw .invalidField(path: raw.path, field: component, reason: "is [null, null]: this checkpoint has no such component")
        }
    }
}
