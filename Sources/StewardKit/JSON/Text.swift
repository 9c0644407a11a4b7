/// Small text helpers, so that the modules the agent links need only FoundationEssentials.
extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    public var trimmingSpaces: String {
        var chars = Substring(self)
        while let c = chars.first, c == " " || c == "\t" { chars.removeFirst() }
        while let c = chars.last, c == " " || c == "\t" { chars.removeLast() }
        return String(chars)
    }
}

/// Decimal digits padded with zeros to `width`.
func zeroPadded(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

/// Two hexadecimal digits of a byte.
func hexByte(_ byte: UInt8, uppercase: Bool = false) -> String {
    let digits = Array(uppercase ? "0123456789ABCDEF" : "0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
}

extension Sequence where Element == UInt8 {
    /// Lower-case hexadecimal digits of the bytes.
    public var hexString: String { map { hexByte($0) }.joined() }
}
