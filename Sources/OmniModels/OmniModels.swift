import OmniTensor

/// A model that maps token ids to next-token logits, the seam between engines and architectures.
/// One file per architecture implements it (DESIGN.md §2); layers are shared across them.
public protocol LanguageModel: AnyObject, Sendable {
    var backend: any Backend { get }
    var vocabularySize: Int { get }
}
