import Synchronization

/// Token text compared byte for byte (Swift `String` equality is canonical equivalence, which
/// would make distinct vocabulary entries collide).
struct TokenKey: Hashable, Sendable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ string: String) { self.bytes = Array(string.utf8) }
    init(scalars: some Sequence<Unicode.Scalar>) { self.bytes = scalars.utf8Bytes }

    static func == (a: TokenKey, b: TokenKey) -> Bool { a.bytes == b.bytes }
    func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
}

/// HF `tokenizers`' BPE model: a vocabulary, ranked merges and the merge loop of
/// `models/bpe/word.rs` (lowest rank first, leftmost on ties), with a per-word cache.
final class BPEModel: Sendable {
    let vocab: [TokenKey: Int32]
    /// id -> token text, for decoding.
    let tokens: [Int32: String]
    /// (left id << 32 | right id) -> (rank << 32 | merged id)
    let merges: [UInt64: UInt64]
    let unknownToken: String?
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?
    let fuseUnknown: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool

    private let unknownID: Int32?
    private let scalarIDs: [UInt32: Int32]
    private let byteFallbackIDs: [Int32?]
    private let cache = Mutex<[TokenKey: [Int32]]>([:])
    private static let cacheCapacity = 100_000
    private static let longestCachedWord = 256

    init(
        vocab: [TokenKey: Int32], merges: [(TokenKey, TokenKey)], unknownToken: String?,
        continuingSubwordPrefix: String?, endOfWordSuffix: String?, fuseUnknown: Bool,
        byteFallback: Bool, ignoreMerges: Bool, file: String
    ) throws(TokenizerError) {
        self.vocab = vocab
        var tokens: [Int32: String] = [:]
        tokens.reserveCapacity(vocab.count)
        var scalarIDs: [UInt32: Int32] = [:]
        for (key, id) in vocab {
            let text = String(decoding: key.bytes, as: UTF8.self)
            tokens[id] = text
            var it = text.unicodeScalars.makeIterator()
            if let first = it.next(), it.next() == nil { scalarIDs[first.value] = id }
        }
        self.tokens = tokens
        self.scalarIDs = scalarIDs
        let prefixLength = continuingSubwordPrefix?.utf8.count ?? 0
        var map: [UInt64: UInt64] = [:]
        map.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let aID = vocab[a] else { throw .mergeTokenOutOfVocabulary(file: file, token: String(decoding: a.bytes, as: UTF8.self)) }
            guard let bID = vocab[b] else { throw .mergeTokenOutOfVocabulary(file: file, token: String(decoding: b.bytes, as: UTF8.self)) }
            let merged = TokenKey(a.bytes + b.bytes.dropFirst(min(prefixLength, b.bytes.count)))
            guard let newID = vocab[merged] else {
                throw .mergeTokenOutOfVocabulary(file: file, token: String(decoding: merged.bytes, as: UTF8.self))
            }
            // A repeated pair keeps its last rank, as HF's HashMap collect does.
            map[UInt64(UInt32(aID)) << 32 | UInt64(UInt32(bID))] = UInt64(rank) << 32 | UInt64(UInt32(newID))
        }
        self.merges = map
        self.unknownToken = unknownToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        if let unknownToken {
            guard let id = vocab[TokenKey(unknownToken)] else { throw .unknownTokenOutOfVocabulary(file: file, token: unknownToken) }
            unknownID = id
        } else {
            unknownID = nil
        }
        byteFallbackIDs = (0..<256).map { b in
            let hex = String(b, radix: 16, uppercase: true)
            return vocab[TokenKey("<0x" + (hex.count == 1 ? "0" + hex : hex) + ">")]
        }
    }

    /// The model part of tokenizer.json (`model.type == "BPE"`).
    static func from(json model: JSONValue, file: String) throws(TokenizerError) -> BPEModel {
        let type = model["type"]?.string ?? "BPE"
        guard type == "BPE" else {
            throw TokenizerError.unsupported(file: file, field: "model.type", value: type, supported: ["BPE"])
        }
        guard let vocabMembers = model["vocab"]?.members else {
            throw TokenizerError.invalidField(file: file, field: "model.vocab", expected: "an object of token -> id")
        }
        var vocab: [TokenKey: Int32] = [:]
        vocab.reserveCapacity(vocabMembers.count)
        for (token, value) in vocabMembers {
            guard let id = value.int, id >= 0, id <= Int(Int32.max) else {
                throw TokenizerError.invalidField(file: file, field: "model.vocab[\"\(token)\"]", expected: "a non-negative integer id")
            }
            vocab[TokenKey(token)] = Int32(id)
        }
        guard let mergeItems = model["merges"]?.array else {
            throw TokenizerError.invalidField(file: file, field: "model.merges", expected: "an array")
        }
        var merges: [(TokenKey, TokenKey)] = []
        merges.reserveCapacity(mergeItems.count)
        var legacyLine = 0
        for (i, item) in mergeItems.enumerated() {
            if let line = item.string {
                // Legacy "a b" form; "#version" lines are skipped and do not take a rank.
                if line.hasPrefix("#version") { continue }
                legacyLine += 1
                // Split on the space byte: `String.split` would see " \u{301}" as one Character.
                let parts = Array(line.utf8).split(separator: 0x20, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError.invalidField(file: file, field: "model.merges[\(i)]", expected: "\"left right\" (merges line \(legacyLine))")
                }
                merges.append((TokenKey(Array(parts[0])), TokenKey(Array(parts[1]))))
            } else if let pair = item.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                merges.append((TokenKey(a), TokenKey(b)))
            } else {
                throw TokenizerError.invalidField(file: file, field: "model.merges[\(i)]", expected: "\"left right\" or [\"left\", \"right\"]")
            }
        }
        if let dropout = model["dropout"], !dropout.isNull, let p = dropout.number, p > 0 {
            throw TokenizerError.unsupported(file: file, field: "model.dropout", value: "\(p)", supported: ["null", "0"])
        }
        return try BPEModel(
            vocab: vocab, merges: merges, unknownToken: model["unk_token"]?.string,
            continuingSubwordPrefix: model["continuing_subword_prefix"]?.string,
            endOfWordSuffix: model["end_of_word_suffix"]?.string,
            fuseUnknown: model["fuse_unk"]?.bool ?? false, byteFallback: model["byte_fallback"]?.bool ?? false,
            ignoreMerges: model["ignore_merges"]?.bool ?? false, file: file)
    }

    func id(of token: String) -> Int? { vocab[TokenKey(token)].map(Int.init) }
    func token(of id: Int) -> String? {
        guard id >= 0, id <= Int(Int32.max) else { return nil }
        return tokens[Int32(id)]
    }

    /// Appends the ids of one pre-tokenized word.
    func tokenize(_ word: [Unicode.Scalar], into out: inout [Int]) {
        if word.isEmpty { return }
        let key = TokenKey(scalars: word)
        if ignoreMerges, let id = vocab[key] {
            out.append(Int(id))
            return
        }
        if let hit = cache.withLock({ $0[key] }) {
            for id in hit { out.append(Int(id)) }
            return
        }
        let ids = merge(word)
        if key.bytes.count < Self.longestCachedWord {
            cache.withLock { cache in
                if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
                cache[key] = ids
            }
        }
        for id in ids { out.append(Int(id)) }
    }

    /// HF `BPE::merge_word` followed by `Word::merge_all`.
    private func merge(_ word: [Unicode.Scalar]) -> [Int32] {
        var symbols: [Int32] = []
        var lengths: [Int32] = []
        symbols.reserveCapacity(word.count)
        var unknown: (id: Int32, length: Int32)? = nil
        func add(_ id: Int32, _ length: Int32) { symbols.append(id); lengths.append(length) }
        for (i, scalar) in word.enumerated() {
            let byteLength = Int32(UTF8.width(scalar))
            var id: Int32? = nil
            var text: String? = nil
            if continuingSubwordPrefix == nil && endOfWordSuffix == nil {
                id = scalarIDs[scalar.value]
            } else {
                var s = String(Character(scalar))
                if i > 0, let p = continuingSubwordPrefix { s = p + s }
                if i == word.count - 1, let e = endOfWordSuffix { s += e }
                id = vocab[TokenKey(s)]
                text = s
            }
            if let id {
                if let u = unknown { add(u.id, u.length); unknown = nil }
                add(id, byteLength)
                continue
            }
            if byteFallback {
                let bytes = text.map { Array($0.utf8) } ?? [Unicode.Scalar](arrayLiteral: scalar).utf8Bytes
                let ids = bytes.map { byteFallbackIDs[Int($0)] }
                if ids.allSatisfy({ $0 != nil }) {
                    for b in ids { add(b!, 1) }
                    continue
                }
            }
            if let unknownID {
                if let u = unknown {
                    if fuseUnknown {
                        unknown = (u.id, u.length + byteLength)
                    } else {
                        add(u.id, u.length)
                        unknown = (unknownID, byteLength)
                    }
                } else {
                    unknown = (unknownID, byteLength)
                }
            }
        }
        if let u = unknown { add(u.id, u.length) }
        if symbols.count < 2 { return symbols }
        return mergeAll(symbols, lengths)
    }

    private func rankAndID(_ a: Int32, _ b: Int32) -> UInt64? {
        merges[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))]
    }

    private func mergeAll(_ initial: [Int32], _ initialLengths: [Int32]) -> [Int32] {
        var c = initial
        var length = initialLengths
        let n = c.count
        var prev = [Int](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = i - 1 }
            count = n
        }
        var next = [Int](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = i + 1 < n ? i + 1 : -1 }
            count = n
        }
        // Min-heap of rank << 32 | position: lowest rank first, then leftmost.
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            if let m = rankAndID(c[i], c[i + 1]) { heap.push((m >> 32) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = top >> 32
            let pos = Int(top & 0xFFFF_FFFF)
            if length[pos] == 0 { continue }
            let right = next[pos]
            if right == -1 { continue }
            // The entry is stale unless the pair now at `pos` is still the one it was made for.
            guard let m = rankAndID(c[pos], c[right]), m >> 32 == rank else { continue }
            c[pos] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            length[pos] += length[right]
            next[pos] = next[right]
            length[right] = 0
            if next[right] != -1 { prev[next[right]] = pos }
            if prev[pos] >= 0, let pm = rankAndID(c[prev[pos]], c[pos]) {
                heap.push((pm >> 32) << 32 | UInt64(prev[pos]))
            }
            if next[pos] != -1, let nm = rankAndID(c[pos], c[next[pos]]) {
                heap.push((nm >> 32) << 32 | UInt64(pos))
            }
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        for i in 0..<n where length[i] != 0 { out.append(c[i]) }
        return out
    }
}

private struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ x: UInt64) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent] <= items[i] { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && items[l] < items[m] { m = l }
            if r < n && items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return first
    }
}

extension JSONValue {
    var number: Double? { if case .number(let d) = self { return d } else { return nil } }
}
