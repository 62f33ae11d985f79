/// The kinds column: runs of (kind, count), and (format version 4 on) kinds told by the
/// numbers.
///
/// Chargers print their values with a fixed count of decimals ("229.8", "230.0", "0.00"), and
/// a padded one ("230.0") is stored as the number with the kind "written with 1 decimal"
/// (``ValueCodec/kindFixedDecimals``), an unpadded one as a plain number. So a voltage's kind
/// changes whenever its last digit is a zero, about one row in ten, and each change took a
/// (kind, count) pair: a quarter of a byte a sample on a fleet's data, a fifth of the store.
/// The kind of such a row follows from its number, though: a series run whose every row is a
/// plain number or a number written with `d` decimals, exactly when its `d`-th decimal is a
/// zero, is one pair, (``kindPredicted`` + `d`, count), and its rows' kinds are computed from
/// the numbers column when read. The encoder checks every row before it chooses this, so the
/// kinds read back are always those written.
extension BlockCodec {
    /// `kindPredicted + d` (d from 1 to ``ValueCodec/maximumFixedDecimals``): rows whose kind
    /// ``predictedKind(_:decimals:)`` gives. Never a row's kind once decoded.
    static let kindPredicted: UInt8 = 64

    /// Whether `kind` is a predicted run's, not yet resolved.
    @inline(__always)
    static func isPredicted(_ kind: UInt8) -> Bool {
        kind > kindPredicted && kind <= kindPredicted + UInt8(ValueCodec.maximumFixedDecimals)
    }

    /// A number written with `decimals` decimals: padded (its last decimal a zero, or too
    /// large to tell) as ``ValueCodec/kindFixedDecimals`` + `decimals`, otherwise a plain
    /// number.
    @inline(__always)
    static func predictedKind(_ number: Double, decimals: Int) -> UInt8 {
        let scaled = (abs(number) * powersOfTen[decimals]).rounded()
        guard scaled < 9.0e15 else { return ValueCodec.kindFixedDecimals + UInt8(decimals) }
        return Int64(scaled) % 10 == 0 ? ValueCodec.kindFixedDecimals + UInt8(decimals) : ValueCodec.kindNumber
    }

    /// The kinds column of rows with `kinds` and `numbers`, in the series runs `runs`.
    /// - Parameter version: The segment's format version: predicted kinds from 4 on.
    static func encodeKinds(_ kinds: [UInt8], numbers: [Double], runs: [Range<Int>], version: UInt32) -> [UInt8] {
        var writer = ByteWriter(capacity: 8)
        var pending: (kind: UInt8, count: UInt64)? = nil
        func add(_ kind: UInt8, _ count: Int) {
            if let run = pending, run.kind == kind {
                pending = (kind, run.count + UInt64(count))
                return
            }
            if let run = pending {
                writer.write(run.kind)
                writer.writeVarint(run.count)
            }
            pending = (kind, UInt64(count))
        }
        for run in runs {
            if version >= 4, let decimals = predictableDecimals(kinds[run], numbers[run]) {
                add(kindPredicted + UInt8(decimals), run.count)
                continue
            }
            var start = run.lowerBound
            for index in run where kinds[index] != kinds[start] {
                add(kinds[start], index - start)
                start = index
            }
            add(kinds[start], run.upperBound - start)
        }
        if let run = pending {
            writer.write(run.kind)
            writer.writeVarint(run.count)
        }
        return writer.bytes
    }

    /// The decimals `d` for which every row's kind is ``predictedKind(_:decimals:)``, when
    /// some row is written with `d` decimals; `nil` otherwise.
    private static func predictableDecimals(_ kinds: ArraySlice<UInt8>, _ numbers: ArraySlice<Double>) -> Int? {
        guard
            let padded = kinds.first(where: { $0 > ValueCodec.kindFixedDecimals }),
            padded <= ValueCodec.kindFixedDecimals + UInt8(ValueCodec.maximumFixedDecimals)
        else { return nil }
        let decimals = Int(padded - ValueCodec.kindFixedDecimals)
        for (kind, number) in zip(kinds, numbers) where kind != predictedKind(number, decimals: decimals) {
            return nil
        }
        return decimals
    }

    /// Whether decoded kinds hold predicted runs, which need the numbers.
    static func hasPredictedKinds(_ kinds: [UInt8]) -> Bool {
        kinds.contains(where: isPredicted)
    }

    /// Replaces each predicted kind by the kind its number gives.
    /// - Throws: When `numbers` does not match `kinds` row for row.
    static func resolvePredictedKinds(_ kinds: inout [UInt8], numbers: [Double]) throws(ByteReader.Truncated) {
        guard numbers.count == kinds.count else { throw ByteReader.Truncated() }
        for index in kinds.indices {
            let kind = kinds[index]
            if isPredicted(kind) { kinds[index] = predictedKind(numbers[index], decimals: Int(kind - kindPredicted)) }
        }
    }
}
