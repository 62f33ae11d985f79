import Protocol

/// Cheaper spellings of what a stream or a page writes for every row or bucket: a timestamp
/// whose day the previous one shared, a whole number or one with at most three decimals,
/// written through a pointer into room reserved once per row. Each writes exactly the bytes of the
/// general path (`OCPPTimestamp.appendISO8601`, the number's canonical text).
extension HistoryFormat {
    /// Writes bytes through a pointer into room the caller reserved (and bounds).
    struct ByteWriter {
        let base: UnsafeMutablePointer<UInt8>
        private(set) var count = 0

        init(_ base: UnsafeMutablePointer<UInt8>) { self.base = base }

        @inline(__always) mutating func byte(_ value: UInt8) {
            base[count] = value
            count += 1
        }

        mutating func bytes(_ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { source in
                guard let address = source.baseAddress else { return }
                (base + count).update(from: address, count: source.count)
            }
            count += bytes.count
        }

        /// `text`'s bytes (at most the room the caller reserved for it).
        mutating func literal(_ text: StaticString) {
            (base + count).update(from: text.utf8Start, count: text.utf8CodeUnitCount)
            count += text.utf8CodeUnitCount
        }

        /// A string's UTF-8 bytes (the caller reserved room for them).
        mutating func text(_ text: String) {
            var text = text
            let written = text.withUTF8 { utf8 in
                guard let address = utf8.baseAddress else { return 0 }
                (base + count).update(from: address, count: utf8.count)
                return utf8.count
            }
            count += written
        }

        /// `value`'s decimal digits, `width` of them (zero-padded).
        @inline(__always) mutating func digits(_ value: Int, width: Int) {
            digits(UInt64(value), width: width)
        }

        @inline(__always) mutating func digits(_ value: UInt64, width: Int) {
            var remaining = value
            var index = count + width - 1
            while index >= count {
                base[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
                index -= 1
            }
            count += width
        }

        /// At most 20 bytes.
        mutating func integer(_ value: Int64) {
            if value < 0 { byte(UInt8(ascii: "-")) }
            let magnitude = value.magnitude
            var width = 1
            var bound: UInt64 = 10
            while magnitude >= bound, width < 19 {
                width += 1
                bound &*= 10
            }
            if width == 19, magnitude >= bound { width = 20 }
            digitPairs(magnitude, width: width)
        }

        /// `value` as ``HistoryFormat/jsonNumber(_:)`` spells it: a whole number, a short
        /// decimal or the shortest decimal without a string, anything else through the general
        /// path. At most 24 bytes.
        mutating func number(_ value: Double) {
            if !shortNumber(value), !shortestDecimal(value) { text(HistoryFormat.jsonNumber(value)) }
        }

        /// `value` as ``HistoryFormat/appendJSONNumber(_:to:)`` writes it, when it is a whole
        /// number below 10^15 or a short decimal (see ``HistoryFormat/appendShortDecimal(_:to:)``);
        /// `false`, writing nothing, otherwise. At most 21 bytes.
        mutating func shortNumber(_ value: Double) -> Bool {
            if value.rounded() == value, abs(value) < 1e15, value != 0 || value.sign == .plus {
                integer(Int64(value))
                return true
            }
            let magnitude = abs(value)
            guard magnitude >= 0.001, magnitude < 1e9 else { return false }
            let thousandths = (magnitude * 1000).rounded()
            guard thousandths / 1000 == magnitude else { return false }
            let scaled = Int64(thousandths)
            guard scaled % 1000 != 0 else { return false }
            if value < 0 { byte(UInt8(ascii: "-")) }
            integer(scaled / 1000)
            byte(UInt8(ascii: "."))
            let fraction = Int(scaled % 1000)
            if fraction % 100 == 0 {
                digits(fraction / 100, width: 1)
            } else if fraction % 10 == 0 {
                digits(fraction / 10, width: 2)
            } else {
                digits(fraction, width: 3)
            }
            return true
        }

        /// `value` as its canonical text (`Double.description`: the shortest decimal that reads
        /// back as `value`, and of those the nearest to it) when it is not a whole number and
        /// lies between 0.001 and 10^15 in magnitude; `false`, writing nothing, otherwise (and
        /// in the rare cases below). At most 24 bytes.
        ///
        /// How: `value` is `m / 2^p` (m of 53 bits; p from 4 to 62 in that range, as it is not
        /// whole), and the reals that read back as it lie within half a unit in the last place
        /// around it (the ends included when m is even). With t decimals those are the
        /// integers c with `c · 2^(p+1)` between `(2m - 1) · 10^t` and `(2m + 1) · 10^t`,
        /// products exact in 128 bits for t up to 19. The fewest decimals t with such a c give
        /// the shortest text (whether t decimals have one only grows with t, so the search
        /// starts where the unit's size says one must exist and walks down), and of those c
        /// the one nearest to `m · 10^t / 2^p` is the canonical one. A power of two (its lower
        /// neighbour is nearer than its upper) and an exact tie between two nearest take the
        /// general path.
        mutating func shortestDecimal(_ value: Double) -> Bool {
            let magnitude = value.magnitude
            // False for NaN too.
            guard magnitude >= 0.001, magnitude < 1e15, magnitude.rounded(.towardZero) != magnitude,
                magnitude.significandBitPattern != 0
            else { return false }
            let significand = magnitude.significandBitPattern | (1 << 52)
            let p = 1075 &- Int(magnitude.exponentBitPattern)
            let even = significand & 1 == 0
            return HistoryFormat.powersOfTen.withUnsafeBufferPointer { powers in
                // Of the t decimals reading back as `value`: the first c and the last (none
                // when the first is past the last).
                @inline(__always) func candidates(_ t: Int) -> (first: UInt64, last: UInt64) {
                    let low = Self.shifted((2 &* significand &- 1).multipliedFullWidth(by: powers[t]), by: p &+ 1)
                    let high = Self.shifted((2 &* significand &+ 1).multipliedFullWidth(by: powers[t]), by: p &+ 1)
                    let first = even && low.exact ? low.quotient : low.quotient &+ 1
                    let last = !even && high.exact ? high.quotient &- 1 : high.quotient
                    return (first, last)
                }
                // From p·log10(2) decimals on, the unit in the last place is wider than 10^-t.
                var t = min(19, ((p &* 78_913) &>> 18) &+ 1)
                var (first, last) = candidates(t)
                guard first <= last else { return false }
                while t > 1 {
                    let fewer = candidates(t &- 1)
                    guard fewer.first <= fewer.last else { break }
                    t &-= 1
                    (first, last) = fewer
                }
                let scaled = significand.multipliedFullWidth(by: powers[t])
                let quotient = Self.shifted(scaled, by: p).quotient
                let below = scaled.low & ((1 &<< p) &- 1)
                let half: UInt64 = 1 &<< (p &- 1)
                guard below != half else { return false }
                let nearest = below > half ? quotient &+ 1 : quotient
                guard nearest >= first, nearest <= last else { return false }
                if value < 0 { byte(UInt8(ascii: "-")) }
                let (whole, fraction) = nearest.quotientAndRemainder(dividingBy: powers[t])
                integer(Int64(whole))
                byte(UInt8(ascii: "."))
                digitPairs(fraction, width: t)
                return true
            }
        }

        /// `value / 2^shift` (shift 1 to 63, the quotient below 2^64) and whether it is exact.
        @inline(__always)
        private static func shifted(
            _ value: (high: UInt64, low: UInt64),
            by shift: Int
        ) -> (quotient: UInt64, exact: Bool) {
            (value.high &<< (64 &- shift) | value.low &>> shift, value.low & ((1 &<< shift) &- 1) == 0)
        }

        /// As ``digits(_:width:)``, two digits at a time.
        @inline(__always)
        mutating func digitPairs(_ value: UInt64, width: Int) {
            let pairs = HistoryFormat.digitPairs.utf8Start
            var remaining = value
            var index = count &+ width
            while index >= count &+ 2 {
                let (rest, pair) = remaining.quotientAndRemainder(dividingBy: 100)
                index &-= 2
                base[index] = pairs[Int(pair) &* 2]
                base[index &+ 1] = pairs[Int(pair) &* 2 &+ 1]
                remaining = rest
            }
            if index > count { base[count] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining) }
            count &+= width
        }
    }

    /// 10^0 to 10^19.
    static let powersOfTen: [UInt64] = (0...19).map { exponent in
        (0..<exponent).reduce(UInt64(1)) { power, _ in power * 10 }
    }

    /// `00` to `99`, for writing two digits at a time.
    static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748\
        49505152535455565758596061626364656667686970717273747576777879808182838485868788899091929394959697\
        9899
        """

    /// Runs `body` on a writer with `capacity` bytes of room, then appends what it wrote,
    /// unless it answers `false` (it could not write its text this way).
    @inline(__always) @discardableResult
    static func write(to output: inout [UInt8], capacity: Int, _ body: (inout ByteWriter) -> Bool) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { room in
            var writer = ByteWriter(room.baseAddress!)
            guard body(&writer) else { return false }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: room[..<writer.count]))
            return true
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.sssZ`, remembering the text of the day: rows and buckets come dated
    /// close together, so most share it with the one before, and the time of day is digits.
    struct TimestampText {
        private static let dayMilliseconds: Int64 = 86_400_000
        private var day: Int64 = .min
        private var prefix: [UInt8] = []

        /// At most 24 bytes, or the general path's length for a year past 9999.
        mutating func write(_ milliseconds: Int64, to writer: inout ByteWriter) {
            let (quotient, remainder) = milliseconds.quotientAndRemainder(dividingBy: Self.dayMilliseconds)
            let day = remainder < 0 ? quotient - 1 : quotient
            if day != self.day {
                var full: [UInt8] = []
                OCPPTimestamp(millisecondsSince1970: milliseconds).appendISO8601(to: &full)
                // What follows the day is always `HH:MM:SS.sssZ`.
                prefix = Array(full[..<(full.count - 13)])
                self.day = day
            }
            writer.bytes(prefix)
            let withinDay = Int(milliseconds - day * Self.dayMilliseconds)
            let seconds = withinDay / 1000
            writer.digits(seconds / 3600, width: 2)
            writer.byte(UInt8(ascii: ":"))
            writer.digits(seconds / 60 % 60, width: 2)
            writer.byte(UInt8(ascii: ":"))
            writer.digits(seconds % 60, width: 2)
            writer.byte(UInt8(ascii: "."))
            writer.digits(withinDay % 1000, width: 3)
            writer.byte(UInt8(ascii: "Z"))
        }

        mutating func append(_ milliseconds: Int64, to output: inout [UInt8]) {
            HistoryFormat.write(to: &output, capacity: 64) {
                write(milliseconds, to: &$0)
                return true
            }
        }
    }

    /// Writes `value` when it has at most three decimals and lies between 0.001 and 10^9 in
    /// magnitude (or is a whole number below 10^15), as its canonical text does; `false`,
    /// writing nothing, otherwise.
    ///
    /// Why the text is the canonical one: the canonical text is the shortest decimal that reads
    /// back as `value`. When `thousandths / 1000` reads back as `value`, no other decimal with
    /// at most three decimals does (below 10^9 neighbouring doubles are less than 10^-6 apart,
    /// and such decimals at least 10^-3), and one with fewer digits would be one of them; so
    /// that decimal, trailing zeros dropped, is the shortest. Below 0.001 and from 2^53 on the
    /// canonical text takes an exponent, which this never writes.
    static func appendShortDecimal(_ value: Double, to output: inout [UInt8]) -> Bool {
        write(to: &output, capacity: 32) { $0.shortNumber(value) }
    }
}
