/// Package version ordering as the package managers define it, so that "openssl below 3.0.13" means what dpkg or
/// rpm would say, not what string order says ("3.0.9" < "3.0.13").
public enum VersionOrder: String, Sendable, Codable {
    /// Debian: `[epoch:]upstream[-revision]`, `~` before everything, letters before other symbols.
    case dpkg
    /// RPM (and its `rpmvercmp`): alphanumeric segments, numbers newer than letters, `~` older, `^` newer than the end.
    case rpm

    /// -1, 0 or 1.
    public func compare(_ a: String, _ b: String) -> Int {
        switch self {
        case .dpkg: Self.dpkgCompare(a, b)
        case .rpm: Self.rpmCompare(a, b)
        }
    }

    public func lessThan(_ a: String, _ b: String) -> Bool { compare(a, b) < 0 }

    /// The ordering used by the platforms' package managers (an rpm family or Debian-style otherwise).
    public static func forPlatform(_ platformName: String) -> VersionOrder {
        let name = platformName.lowercased()
        let rpmFamily = ["amazon", "amzn", "red hat", "rhel", "centos", "fedora", "rocky", "alma", "oracle", "suse", "sles", "opensuse"]
        return rpmFamily.contains { name.contains($0) } ? .rpm : .dpkg
    }

    // MARK: dpkg

    static func dpkgCompare(_ a: String, _ b: String) -> Int {
        let (ea, ua, ra) = parts(a)
        let (eb, ub, rb) = parts(b)
        if ea != eb { return ea < eb ? -1 : 1 }
        let u = verrevcmp(Array(ua.utf8), Array(ub.utf8))
        if u != 0 { return u }
        return verrevcmp(Array(ra.utf8), Array(rb.utf8))
    }

    /// `[epoch:]version[-release]`, as both dpkg and rpm write it.
    static func parts(_ v: String) -> (Int, Substring, Substring) {
        var rest = Substring(v)
        var epoch = 0
        if let colon = rest.firstIndex(of: ":"), let e = Int(rest[..<colon]) {
            epoch = e
            rest = rest[rest.index(after: colon)...]
        }
        if let dash = rest.lastIndex(of: "-") { return (epoch, rest[..<dash], rest[rest.index(after: dash)...]) }
        return (epoch, rest, "")
    }

    static func order(_ c: UInt8?) -> Int {
        guard let c else { return 0 }
        if c == UInt8(ascii: "~") { return -1 }
        if isDigit(c) { return 0 }
        if isLetter(c) { return Int(c) }
        return Int(c) + 256
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    static func isLetter(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }

    static func verrevcmp(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            var firstDiff = 0
            while (i < a.count && !isDigit(a[i])) || (j < b.count && !isDigit(b[j])) {
                let ac = order(i < a.count ? a[i] : nil)
                let bc = order(j < b.count ? b[j] : nil)
                if ac != bc { return ac < bc ? -1 : 1 }
                i += 1
                j += 1
            }
            while i < a.count && a[i] == UInt8(ascii: "0") { i += 1 }
            while j < b.count && b[j] == UInt8(ascii: "0") { j += 1 }
            while i < a.count && isDigit(a[i]) && j < b.count && isDigit(b[j]) {
                if firstDiff == 0 { firstDiff = Int(a[i]) - Int(b[j]) }
                i += 1
                j += 1
            }
            if i < a.count && isDigit(a[i]) { return 1 }
            if j < b.count && isDigit(b[j]) { return -1 }
            if firstDiff != 0 { return firstDiff < 0 ? -1 : 1 }
        }
        return 0
    }

    // MARK: rpm

    static func rpmCompare(_ a: String, _ b: String) -> Int {
        let (ea, va, ra) = parts(a)
        let (eb, vb, rb) = parts(b)
        if ea != eb { return ea < eb ? -1 : 1 }
        let v = rpmvercmp(Array(va.utf8), Array(vb.utf8))
        if v != 0 { return v }
        return rpmvercmp(Array(ra.utf8), Array(rb.utf8))
    }

    static func rpmvercmp(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a == b { return 0 }
        let tilde = UInt8(ascii: "~")
        let caret = UInt8(ascii: "^")
        func alnum(_ c: UInt8) -> Bool { isDigit(c) || isLetter(c) }
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            while i < a.count && !alnum(a[i]) && a[i] != tilde && a[i] != caret { i += 1 }
            while j < b.count && !alnum(b[j]) && b[j] != tilde && b[j] != caret { j += 1 }
            // Tilde: older than anything, even the end.
            let at = i < a.count && a[i] == tilde
            let bt = j < b.count && b[j] == tilde
            if at || bt {
                if !at { return 1 }
                if !bt { return -1 }
                i += 1
                j += 1
                continue
            }
            // Caret: newer than the end, older than anything else.
            let ac = i < a.count && a[i] == caret
            let bc = j < b.count && b[j] == caret
            if ac || bc {
                if i >= a.count { return -1 }
                if j >= b.count { return 1 }
                if !ac { return 1 }
                if !bc { return -1 }
                i += 1
                j += 1
                continue
            }
            if i >= a.count || j >= b.count { break }
            let numeric = isDigit(a[i])
            var ie = i
            var je = j
            if numeric {
                while ie < a.count && isDigit(a[ie]) { ie += 1 }
                while je < b.count && isDigit(b[je]) { je += 1 }
            } else {
                while ie < a.count && isLetter(a[ie]) { ie += 1 }
                while je < b.count && isLetter(b[je]) { je += 1 }
            }
            if je == j { return numeric ? 1 : -1 }  // segments of different kinds: numbers are newer
            var sa = Array(a[i..<ie])
            var sb = Array(b[j..<je])
            if numeric {
                while sa.first == UInt8(ascii: "0") && sa.count > 1 { sa.removeFirst() }
                while sb.first == UInt8(ascii: "0") && sb.count > 1 { sb.removeFirst() }
                if sa.count != sb.count { return sa.count < sb.count ? -1 : 1 }
            }
            if sa != sb { return sa.lexicographicallyPrecedes(sb) ? -1 : 1 }
            i = ie
            j = je
        }
        if i >= a.count && j >= b.count { return 0 }
        return i >= a.count ? -1 : 1
    }
}
