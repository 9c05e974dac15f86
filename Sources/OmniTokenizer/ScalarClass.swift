/// Character classes as HF `tokenizers` sees them, on Unicode scalars (Rust `char`s).
/// `\p{L}`, `\p{N}`, `\p{M}` are general categories; `\s` is White_Space, which is what both
/// Oniguruma (the `onig` crate HF uses for Split regexes) and Rust's `regex` crate (used for the
/// added-token `lstrip`/`rstrip`/`single_word` checks) match in Unicode mode.
enum ScalarClass {
    private static let letter: UInt8 = 1
    private static let number: UInt8 = 2
    private static let whitespace: UInt8 = 4
    private static let mark: UInt8 = 8
    private static let word: UInt8 = 16

    /// ASCII answers from a table; everything else from the stdlib's Unicode properties.
    private static let ascii: [UInt8] = (0..<128).map { value in
        let s = Unicode.Scalar(UInt8(value))
        var bits: UInt8 = 0
        if (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") { bits |= letter | word }
        if s >= "0" && s <= "9" { bits |= number | word }
        if s == "_" { bits |= word }
        if (0x09...0x0D).contains(value) || value == 0x20 { bits |= whitespace }
        return bits
    }

    /// Letter, number, whitespace and mark as one lookup (what the word splitter needs).
    @inline(__always) static func classes(_ s: Unicode.Scalar) -> (letter: Bool, number: Bool, whitespace: Bool, mark: Bool) {
        let b = bits(s)
        return (b & letter != 0, b & number != 0, b & whitespace != 0, b & mark != 0)
    }

    /// The Unicode version of Oniguruma's tables in HF `tokenizers` (onig 6.9.x): scalars the
    /// stdlib knows but that were assigned later are unassigned (`\p{Cn}`) there.
    static let referenceUnicodeVersion = (major: 16, minor: 0)

    @inline(__always) private static func bits(_ s: Unicode.Scalar) -> UInt8 {
        if s.value < 128 { return ascii[Int(s.value)] }
        let p = s.properties
        var b: UInt8 = 0
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: b |= letter
        case .decimalNumber, .letterNumber, .otherNumber: b |= number
        case .nonspacingMark, .spacingMark, .enclosingMark: b |= mark
        default: break
        }
        if b != 0, let age = p.age, (age.major, age.minor) > referenceUnicodeVersion { b = 0 }
        if p.isWhitespace { b |= whitespace }
        return b
    }

    /// `\p{L}`
    @inline(__always) static func isLetter(_ s: Unicode.Scalar) -> Bool { bits(s) & letter != 0 }
    /// `\p{N}`; also Rust's `char::is_numeric`.
    @inline(__always) static func isNumber(_ s: Unicode.Scalar) -> Bool { bits(s) & number != 0 }
    /// `\p{M}`
    @inline(__always) static func isMark(_ s: Unicode.Scalar) -> Bool { bits(s) & mark != 0 }
    /// `\s`; also Rust's `char::is_whitespace`.
    @inline(__always) static func isWhitespace(_ s: Unicode.Scalar) -> Bool { bits(s) & whitespace != 0 }

    /// Rust `regex`'s Unicode `\w`: Alphabetic, marks, decimal digits, connector punctuation,
    /// Join_Control.
    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return ascii[Int(s.value)] & word != 0 }
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// Rust's `char::is_alphanumeric`.
    static func isAlphanumeric(_ s: Unicode.Scalar) -> Bool { s.properties.isAlphabetic || isNumber(s) }
}
