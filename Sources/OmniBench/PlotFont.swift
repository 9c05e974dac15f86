/// A 5x7 bitmap font for chart labels: digits, upper- and lower-case ASCII letters and the
/// symbols benchmark labels use. Each glyph is seven rows of five bits, most significant bit on
/// the left, written as 14 hex digits after the character.
enum PlotFont {
    static let glyphWidth = 5
    static let glyphHeight = 7
    /// Pixels from one glyph's left edge to the next one's, at scale 1.
    static let advance = 6

    /// The rows of `character`'s glyph; characters without one draw as "?".
    static func rows(_ character: Character) -> [UInt8] {
        glyphs[character] ?? glyphs["?"]!
    }

    /// Width in pixels of `text` drawn at `scale`.
    static func width(of text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : (text.count * advance - 1) * scale
    }

    private static let table = """
    0 0E11131519110E|1 040C040404040E|2 0E11010204081F|3 1F02040201110E|4 02060A121F0202|5 1F101E0101110E|\
    6 0608101E11110E|7 1F010204080808|8 0E11110E11110E|9 0E11110F01020C|A 0E1111111F1111|B 1E11111E11111E|\
    C 0E11101010110E|D 1C12111111121C|E 1F10101E10101F|F 1F10101E101010|G 0E11101711110F|H 1111111F111111|\
    I 0E04040404040E|J 0702020202120C|K 11121418141211|L 1010101010101F|M 111B1515111111|N 11111915131111|\
    O 0E11111111110E|P 1E11111E101010|Q 0E11111115120D|R 1E11111E141211|S 0F10100E01011E|T 1F040404040404|\
    U 1111111111110E|V 11111111110A04|W 1111111515150A|X 11110A040A1111|Y 1111110A040404|Z 1F01020408101F|\
    a 00000E010F110F|b 1010161911111E|c 00000E1010110E|d 01010D1311110F|e 00000E111F100E|f 0609081C080808|\
    g 000F11110F010E|h 10101619111111|i 04000C0404040E|j 0200060202120C|k 10101214181412|l 0C04040404040E|\
    m 00001A15151111|n 00001619111111|o 00000E1111110E|p 00001E111E1010|q 00000F110F0101|r 00001619101010|\
    s 00000E100E011E|t 08081C08080906|u 0000111111130D|v 00001111110A04|w 0000111115150A|x 0000110A040A11|\
    y 000011110F010E|z 00001F0204081F|. 00000000000C0C|, 000000000C0408|: 000C0C000C0C00|/ 00010204081000|\
    - 0000001F000000|+ 0004041F040400|% 18190204081303|( 02040808080402|) 08040202020408|= 00001F001F0000|\
    _ 0000000000001F|^ 040A1100000000|* 0004150E150400|? 0E110102040004|[ 0E08080808080E|] 0E02020202020E|\
    < 02040810080402|> 08040201020408|' 0C040800000000|! 04040404040004|# 0A0A1F0A1F0A0A
    """

    private static let glyphs: [Character: [UInt8]] = {
        var glyphs: [Character: [UInt8]] = [" ": [UInt8](repeating: 0, count: glyphHeight)]
        for entry in table.split(separator: "|") {
            let character = entry.first!
            let hex = Array(entry.dropFirst().filter { !$0.isWhitespace })
            precondition(hex.count == 2 * glyphHeight, "PlotFont: glyph \(character) needs \(2 * glyphHeight) hex digits")
            glyphs[character] = (0..<glyphHeight).map { UInt8(String(hex[2 * $0...2 * $0 + 1]), radix: 16)! }
        }
        return glyphs
    }()
}
