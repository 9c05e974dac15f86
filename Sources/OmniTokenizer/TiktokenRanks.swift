import Foundation

/// tiktoken's BPE ranks file (`qwen.tiktoken`, `cl100k_base.tiktoken`): one `<base64 bytes> <rank>`
/// per line. Turned into the same byte-level vocabulary and merges as transformers'
/// `TikTokenConverter.extract_vocab_merges_from_model`, so the BPE it gives is the one
/// `tokenizers` runs on the converted tokenizer.json.
enum TiktokenRanks {
    /// Reads the ranks, in file order.
    static func read(_ bytes: [UInt8], file: String) throws(TokenizerError) -> [(token: [UInt8], rank: Int)] {
        var out: [(token: [UInt8], rank: Int)] = []
        out.reserveCapacity(bytes.count / 16)
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]
            if trimmed.isEmpty { continue }
            let fields = trimmed.split(separator: UInt8(ascii: " "))
            guard fields.count == 2,
                  let token = Data(base64Encoded: Data(fields[0])),
                  let rank = Int(String(decoding: fields[1], as: UTF8.self))
            else { throw TokenizerError.invalidRanksLine(file: file, line: lineNumber) }
            out.append((Array(token), rank))
        }
        return out
    }

    /// The BPE model of `TikTokenConverter`: vocab keyed by the byte-level text of each token,
    /// merges every split of a token into two ranked tokens, ordered by the merged token's rank
    /// then by the ranks of the two halves; `ignore_merges` on.
    static func model(ranks: [(token: [UInt8], rank: Int)], file: String) throws(TokenizerError) -> BPEModel {
        var rankOf: [TokenKey: Int] = [:]
        rankOf.reserveCapacity(ranks.count)
        for (token, rank) in ranks { rankOf[TokenKey(token)] = rank }

        var vocab: [TokenKey: Int32] = [:]
        vocab.reserveCapacity(ranks.count)
        var merges: [(left: [UInt8], right: [UInt8], rank: Int, leftRank: Int, rightRank: Int)] = []
        for (token, rank) in ranks {
            vocab[byteLevelKey(token)] = Int32(rank)
            if token.count == 1 { continue }
            for index in 1..<token.count {
                let left = Array(token[..<index]), right = Array(token[index...])
                if let l = rankOf[TokenKey(left)], let r = rankOf[TokenKey(right)] {
                    merges.append((left, right, rank, l, r))
                }
            }
        }
        // Python's sorts are stable: by (left rank, right rank) within a token, then by token rank.
        let order = merges.indices.sorted { a, b in
            let x = merges[a], y = merges[b]
            if x.rank != y.rank { return x.rank < y.rank }
            if x.leftRank != y.leftRank { return x.leftRank < y.leftRank }
            if x.rightRank != y.rightRank { return x.rightRank < y.rightRank }
            return a < b
        }
        let pairs = order.map { (byteLevelKey(merges[$0].left), byteLevelKey(merges[$0].right)) }
        return try BPEModel(
            vocab: vocab, merges: pairs, unknownToken: nil, continuingSubwordPrefix: nil, endOfWordSuffix: nil,
            fuseUnknown: false, byteFallback: false, ignoreMerges: true, file: file)
    }

    private static func byteLevelKey(_ bytes: [UInt8]) -> TokenKey {
        TokenKey(scalars: bytes.map { ByteLevel.byteToScalar[Int($0)] })
    }
}
